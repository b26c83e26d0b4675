/**
 * The rollout operations behind `kser rollout status|set|ramp|remove|promote|rollback`, against any KvTarget.
 * Each computes the next config from the live one (trainer/rollout/plan.ts), shows what changes and whom it moves
 * (trainer/rollout/diff.ts), and unless it is a dry run writes it with the history kept for rollback
 * (trainer/rollout/store.ts), then reads it back to confirm. A config that names a model without a published
 * manifest is refused: the worker could not serve that variant (publish writes manifests before pointers for the
 * same reason). A `set` that would reshuffle users of variants other than the champion (a new salt, or buckets
 * given explicitly in a file) is refused unless allowReshuffle; ramp and remove never reshuffle, nor does a set by
 * weights that keeps the live salt.
 */
import { kvKeys } from "../../shared/kv-keys.ts";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import type { KvTarget } from "../kv/types.ts";
import { UserFacingError } from "../util/errors.ts";
import { describeConfig, describeRolloutChange, type RolloutChange, syntheticUserIds } from "./diff.ts";
import { promoteVariant, rampVariant, removeVariant } from "./plan.ts";
import {
  applyRolloutConfig,
  readRolloutConfig,
  readRolloutHistory,
  rollbackCandidate,
  rollbackRolloutConfig,
  serializeRolloutConfig,
} from "./store.ts";

export type RolloutAction =
  | { kind: "status" }
  | { kind: "set"; config: unknown; allowReshuffle?: boolean }
  | { kind: "ramp"; variant: string; weight: number; modelId?: string }
  | { kind: "remove"; variant: string }
  | { kind: "promote"; variant: string }
  | { kind: "rollback" };

export interface RolloutRunOptions {
  dryRun?: boolean;
  /** User ids to estimate who switches; default syntheticUserIds(). */
  sampleIds?: string[];
  now?: () => string;
  print?: (line: string) => void;
}

export interface RolloutRunResult {
  before: RolloutConfig | null;
  after: RolloutConfig | null;
  change?: RolloutChange;
  written: boolean;
  historyLength: number;
}

function requireLive(live: RolloutConfig | null): RolloutConfig {
  if (!live) throw new UserFacingError("there is no live rollout config yet: create one with `kser rollout set`");
  return live;
}

/** The config `set` would write: validated, with updatedAt stamped when the input has none. */
function configForSet(raw: unknown, now: string): RolloutConfig {
  const withTime = raw && typeof raw === "object" && !Array.isArray(raw) && !("updatedAt" in raw) ? { ...raw, updatedAt: now } : raw;
  try {
    return parseRolloutConfig(withTime);
  } catch (error) {
    throw new UserFacingError((error as Error).message);
  }
}

/** The config's model ids that have no manifest on the target. */
async function unpublishedModels(target: KvTarget, config: RolloutConfig): Promise<string[]> {
  const ids = [...new Set(config.variants.map((v) => v.modelId))];
  const manifests = await Promise.all(ids.map((id) => target.get(kvKeys.model(id))));
  return ids.filter((_, i) => manifests[i] === null);
}

export async function runRollout(target: KvTarget, action: RolloutAction, options: RolloutRunOptions = {}): Promise<RolloutRunResult> {
  const print = options.print ?? (() => {});
  const now = (options.now ?? (() => new Date().toISOString()))();
  const live = await readRolloutConfig(target);
  const history = await readRolloutHistory(target);

  if (action.kind === "status") {
    print(`rollout on ${target.description}:`);
    const current = requireLive(live);
    for (const line of describeConfig(current)) print(line);
    for (const id of await unpublishedModels(target, current))
      print(`warning: model ${id} has no manifest on ${target.description}: its users get the fallback or a 503`);
    print(`history: ${history.length} previous config(s)${history.length ? `, newest from ${history.at(-1)!.updatedAt}` : ""}`);
    return { before: live, after: live, written: false, historyLength: history.length };
  }

  let next: RolloutConfig;
  if (action.kind === "set") next = configForSet(action.config, now);
  else if (action.kind === "ramp") next = rampVariant(requireLive(live), action.variant, action.weight, { modelId: action.modelId, now });
  else if (action.kind === "remove") next = removeVariant(requireLive(live), action.variant, now);
  else if (action.kind === "promote") next = promoteVariant(requireLive(live), action.variant, now);
  else {
    const candidate = await rollbackCandidate(target);
    if (!candidate) throw new UserFacingError("nothing to roll back to: the rollout history is empty");
    next = candidate;
  }

  const change = describeRolloutChange(live, next, options.sampleIds ?? syntheticUserIds());
  print(`${options.dryRun ? "dry run: would apply" : "applying"} ${action.kind} on ${target.description}`);
  for (const line of change.lines) print(line);
  const reshuffled = change.moves?.reshuffled ?? [];
  if (action.kind === "set" && reshuffled.length && !action.allowReshuffle) {
    const what = `this config reshuffles the users of ${reshuffled.join(", ")}`;
    if (options.dryRun) print(`warning: ${what}; the change would be refused without --allow-reshuffle`);
    else throw new UserFacingError(`${what}: pass --allow-reshuffle to accept that (nothing written)`);
  }
  const missing = await unpublishedModels(target, next);
  if (missing.length) {
    const what = `${missing.map((id) => `model ${id}`).join(", ")} ${missing.length > 1 ? "are" : "is"} not published on ${target.description}`;
    if (options.dryRun) print(`warning: ${what}; the change would be refused until its bundle is published`);
    else throw new UserFacingError(`${what} (no ${kvKeys.model(missing[0])}): publish the bundle first (kser publish --bundle DIR)`);
  }
  if (options.dryRun) return { before: live, after: next, change, written: false, historyLength: history.length };

  if (action.kind === "rollback") await rollbackRolloutConfig(target);
  else await applyRolloutConfig(target, next);
  const confirmed = await readRolloutConfig(target);
  if (!confirmed || serializeRolloutConfig(confirmed) !== serializeRolloutConfig(next)) {
    throw new UserFacingError(
      "the rollout config read back differs from the one written (another writer, or KV lag); run `kser rollout status`",
      3,
    );
  }
  const historyLength = (await readRolloutHistory(target)).length;
  print(`done; history holds ${historyLength} previous config(s)`);
  return { before: live, after: next, change, written: true, historyLength };
}
