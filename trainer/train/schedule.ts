/**
 * Learning-rate schedules as pure functions of the global step, so a resumed run gets exactly the rates an
 * uninterrupted one would. Linear warmup from lr/warmupSteps to lr, then constant, cosine decay to minLr over the
 * remaining steps, or step decay (times `factor` every `every` steps after warmup).
 */
export type LrSchedule =
  | { kind: "constant"; warmupSteps?: number }
  | { kind: "cosine"; warmupSteps?: number; minLr?: number }
  | { kind: "step"; warmupSteps?: number; every: number; factor: number };

export const SCHEDULE_KINDS = ["constant", "cosine", "step"] as const;

/** Rate for step (0-based) of totalSteps, peaking at baseLr. */
export function learningRateAt(schedule: LrSchedule, baseLr: number, step: number, totalSteps: number): number {
  const warmup = Math.max(0, Math.floor(schedule.warmupSteps ?? 0));
  if (step < warmup) return (baseLr * (step + 1)) / warmup;
  const after = step - warmup;
  switch (schedule.kind) {
    case "constant":
      return baseLr;
    case "cosine": {
      const minLr = schedule.minLr ?? 0;
      const span = Math.max(1, totalSteps - warmup);
      const progress = Math.min(1, after / span);
      return minLr + 0.5 * (baseLr - minLr) * (1 + Math.cos(Math.PI * progress));
    }
    case "step":
      if (!(schedule.every >= 1) || !(schedule.factor > 0)) throw new Error("step decay needs every >= 1 and factor > 0");
      return baseLr * schedule.factor ** Math.floor(after / schedule.every);
  }
}

/** Parses the CLI form: "constant", "cosine[:warmup[:minLr]]", "step:every:factor[:warmup]". */
export function parseSchedule(text: string): LrSchedule {
  const [kind, ...rest] = text.split(":");
  const nums = rest.map(Number);
  if (nums.some((n) => !Number.isFinite(n) || n < 0)) throw new Error(`bad schedule "${text}"`);
  if (kind === "constant") return { kind, warmupSteps: nums[0] ?? 0 };
  if (kind === "cosine") return { kind, warmupSteps: nums[0] ?? 0, minLr: nums[1] ?? 0 };
  if (kind === "step" && nums.length >= 2) return { kind, every: nums[0], factor: nums[1], warmupSteps: nums[2] ?? 0 };
  throw new Error(`bad schedule "${text}": use constant[:warmup], cosine[:warmup[:minLr]] or step:every:factor[:warmup]`);
}
