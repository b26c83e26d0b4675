/**
 * `kser rollout status|set|ramp|remove|promote|rollback`: edits the live rollout config (which model each user
 * gets) in local wrangler state or Cloudflare KV. Every change prints variants, weights and buckets before/after,
 * the exact share of users moving into and out of each variant, and how many sampled users would switch;
 * --dry-run stops there.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { Argument, type Command } from "commander";
import { type RolloutAction, runRollout } from "../../rollout/actions.ts";
import { buildConfig, parseVariantSpec, percentToWeight } from "../../rollout/plan.ts";
import { readRolloutConfig } from "../../rollout/store.ts";
import { UserFacingError } from "../../util/errors.ts";
import { readJsonConfig } from "../../util/input-file.ts";
import { addKvTargetOptions, type KvTargetOptions, withKvTarget } from "../kv-target.ts";

interface CommonOptions extends KvTargetOptions {
  dryRun?: boolean;
  sampleIds?: string;
}

function withCommon(cmd: Command, dryRun = true): Command {
  addKvTargetOptions(cmd, "where the rollout config lives");
  if (dryRun) {
    cmd
      .option("--dry-run", "print the change (and who would switch) without writing")
      .option("--sample-ids <file>", "user ids, one per line, to estimate who switches (default: ids 1..20000)");
  }
  return cmd;
}

async function readIds(file: string): Promise<string[]> {
  const ids = (await readFile(file, "utf8"))
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new UserFacingError(`${file}: no user ids`);
  return ids;
}

/** Opens the target, runs the action with output on stdout, closes the target; messages are redacted. */
async function execute(
  opts: CommonOptions,
  action: RolloutAction | ((live: Awaited<ReturnType<typeof readRolloutConfig>>) => RolloutAction),
) {
  const sampleIds = opts.sampleIds ? await readIds(opts.sampleIds) : undefined;
  await withKvTarget(opts, { log: (l) => console.error(l) }, async (target, _secrets, redact) => {
    const resolved = typeof action === "function" ? action(await readRolloutConfig(target)) : action;
    await runRollout(target, resolved, { dryRun: opts.dryRun, sampleIds, print: (l) => console.log(redact(l)) });
  });
}

type SetOptions = CommonOptions & { file?: string; variant: string[]; salt?: string; fallback?: string; allowReshuffle?: boolean };

/** `kser rollout set`: the live config replaced from --file or from --variant specs. */
function registerSet(rollout: Command): void {
  withCommon(
    rollout
      .command("set")
      .description("replace the live config (from --file, or from --variant specs)")
      .option("--file <json>", "a complete rollout config (kser-rollout/2 with buckets, or kser-rollout/1 weights in its fixed layout)")
      .option("--variant <name:modelId[:percent]>", "a variant; repeat; the first (champion) gets what the others leave", collect, [])
      .option("--salt <salt>", "bucketing salt (default: keep the live one; a new salt re-randomises everyone)")
      .option("--fallback <name>", "variant served when the assigned one cannot be")
      .option("--allow-reshuffle", "accept moving users of variants other than the champion (a new salt, or --file buckets)"),
  ).action(async (opts: SetOptions) => {
    if (opts.file && opts.variant.length) throw new UserFacingError("give either --file or --variant, not both");
    if (opts.file)
      return execute(opts, { kind: "set", config: await readJsonConfig(opts.file, "rollout config"), allowReshuffle: opts.allowReshuffle });
    if (!opts.variant.length) throw new UserFacingError("give --file or at least one --variant name:modelId[:percent]");
    const variants = opts.variant.map(parseVariantSpec);
    return execute(opts, (live) => ({
      kind: "set",
      config: buildConfig({
        salt: opts.salt ?? live?.salt ?? `exp-${randomBytes(4).toString("hex")}`,
        variants,
        fallback: opts.fallback,
        now: new Date().toISOString(),
        live,
      }),
      allowReshuffle: opts.allowReshuffle,
    }));
  });
}

export function register(program: Command): void {
  const rollout = program
    .command("rollout")
    .description("roll extractor/model versions out to users: status, set, ramp, remove, promote, rollback")
    .addHelpText(
      "after",
      "\nThe config records which of the 10,000 user buckets each variant owns. A ramp or remove moves users only\n" +
        "between that variant and the champion (the first variant): every other variant keeps all its users, and a\n" +
        "ramp up keeps everyone already in the ramped variant. A set by --variant keeps each variant's buckets as far\n" +
        "as its new weight allows. Every write keeps the previous config in rollout/history (last 20) for\n" +
        "`kser rollout rollback`, which restores it exactly.",
    );

  withCommon(rollout.command("status").description("show the live config, bucket ranges and history size"), false).action(
    (opts: CommonOptions) => execute(opts, { kind: "status" }),
  );

  registerSet(rollout);

  withCommon(
    rollout
      .command("ramp")
      .description("set a candidate's share of users (adding it with --model); the champion gives or takes the difference")
      .addArgument(new Argument("<variant>", "candidate variant name"))
      .addArgument(new Argument("<percent>", "its new share, 0-100"))
      .option("--model <modelId>", "model of a new candidate"),
  ).action((variant: string, percent: string, opts: CommonOptions & { model?: string }) =>
    execute(opts, { kind: "ramp", variant, weight: percentToWeight(Number(percent)), modelId: opts.model }),
  );

  for (const [kind, description, argument] of [
    ["remove", "drop a candidate; its users go to the champion, every other variant keeps its users", "candidate variant name"],
    ["promote", "make a candidate the only variant (100%); the others are removed, the history keeps them", "variant to promote"],
  ] as const) {
    withCommon(rollout.command(kind).description(description).addArgument(new Argument("<variant>", argument))).action(
      (variant: string, opts: CommonOptions) => execute(opts, { kind, variant }),
    );
  }

  withCommon(rollout.command("rollback").description("restore the previous config exactly (from rollout/history)")).action(
    (opts: CommonOptions) => execute(opts, { kind: "rollback" }),
  );
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}
