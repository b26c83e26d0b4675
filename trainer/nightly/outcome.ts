/** How a nightly run ends: the exit codes a scheduler acts on, the result, and the error a stage stops with. */

/** Exit codes a scheduler can act on (docs/nightly.md). */
export const EXIT = {
  /** Candidate published and ramped (or promoted). */
  OK: 0,
  UNEXPECTED: 1,
  /** Bad config or input (data, champion missing from the model registry, ...). */
  BAD_INPUT: 2,
  /** Publishing or the rollout write failed; the live pointer still names the previous, complete version. */
  PUBLISH_FAILED: 3,
  /** Another nightly run holds the lock. */
  LOCKED: 4,
  /** The candidate failed the gate; nothing of it was published. */
  GATED_OUT: 10,
} as const;

export interface NightlyResult {
  exitCode: number;
  status: "promoted" | "ramped" | "gated-out" | "failed" | "publish-failed" | "bad-input" | "locked";
  message: string;
  runDir: string | null;
}

export class StageError extends Error {
  constructor(
    readonly exitCode: number,
    readonly status: NightlyResult["status"],
    message: string,
  ) {
    super(message);
  }
}

/** Any failure while writing to KV: exit 3 (the pointer is written last, so the live version is still complete). */
export async function publishOrFail<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw new StageError(EXIT.PUBLISH_FAILED, "publish-failed", `publish failed: ${(error as Error).message}`);
  }
}
