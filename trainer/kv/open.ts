/** Opens the target a CLI invocation names (--target local|cloudflare), and says which values must be redacted. */
import { cloudflareOptionsFromEnv, createCloudflareTarget } from "./cloudflare.ts";
import { openLocalTarget } from "./local.ts";
import type { KvTarget } from "./types.ts";

export const TARGET_KINDS = ["local", "cloudflare"] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];

export interface TargetChoice {
  kind: TargetKind;
  /** local: the wrangler config `wrangler dev` runs with. */
  configPath?: string;
  /** local: the directory given to `wrangler dev --persist-to`. */
  persistTo?: string;
  /** local: a wrangler environment. */
  environment?: string;
  /** Attempts per KV call (cloudflare: per HTTP request; local: per binding call); default from the environment, then the target's own. */
  maxAttempts?: number;
  /** cloudflare: per-attempt timeout in ms; default from KSER_KV_TIMEOUT_MS, then KV_CLIENT_DEFAULTS. */
  requestTimeoutMs?: number;
  log?: (line: string) => void;
  env?: NodeJS.ProcessEnv;
}

export async function openTarget(choice: TargetChoice): Promise<{ target: KvTarget; secrets: string[] }> {
  if (choice.kind === "local") {
    const target = await openLocalTarget({
      configPath: choice.configPath ?? "wrangler.toml",
      persistTo: choice.persistTo,
      environment: choice.environment,
      attempts: choice.maxAttempts,
    });
    return { target, secrets: [] };
  }
  const options = cloudflareOptionsFromEnv(choice.env ?? process.env);
  const overrides = {
    maxAttempts: choice.maxAttempts ?? options.maxAttempts,
    requestTimeoutMs: choice.requestTimeoutMs ?? options.requestTimeoutMs,
  };
  return { target: createCloudflareTarget({ ...options, ...overrides, log: choice.log }), secrets: [options.apiToken] };
}

/** Opens a target, runs `fn`, and always closes it (stopping the local workerd), e.g. for the demo:
 * `await withTarget({ kind: "local", configPath: "wrangler.toml", persistTo: X }, (t) => publishBundle(bundle, t))`. */
export async function withTarget<T>(choice: TargetChoice, fn: (target: KvTarget, secrets: string[]) => Promise<T>): Promise<T> {
  const { target, secrets } = await openTarget(choice);
  try {
    return await fn(target, secrets);
  } finally {
    await target.close();
  }
}
