/** Where KV lives, for the commands that write it (`kser publish`, `kser rollout`): the options and opening it. */
import { type Command, Option } from "commander";
import { openTarget, TARGET_KINDS, type TargetChoice, type TargetKind } from "../kv/open.ts";
import type { KvTarget } from "../kv/types.ts";
import { createRedactor, type Redactor, redactError } from "../util/redact.ts";

export interface KvTargetOptions {
  target: TargetKind;
  config: string;
  persistTo?: string;
  env?: string;
}

/** `--target`, and for the local target `--config`, `--persist-to`, `--env`. */
export function addKvTargetOptions(cmd: Command, targetDescription: string): Command {
  return cmd
    .addOption(new Option("--target <kind>", targetDescription).choices(TARGET_KINDS as unknown as string[]).default("local"))
    .option("--config <file>", "wrangler config with the KSER_KV binding (local target)", "wrangler.toml")
    .option("--persist-to <dir>", "the --persist-to directory `wrangler dev` uses (local target; default <config dir>/.wrangler/state)")
    .option("--env <name>", "wrangler environment (local target)");
}

/**
 * Opens the target the options name, runs `fn` with it, its secrets and a redactor for them, and closes it. An error
 * leaves with every secret redacted.
 */
export async function withKvTarget<T>(
  opts: KvTargetOptions,
  client: Pick<TargetChoice, "maxAttempts" | "requestTimeoutMs" | "log">,
  fn: (target: KvTarget, secrets: string[], redact: Redactor) => Promise<T>,
): Promise<T> {
  let redact = createRedactor([]);
  try {
    const choice = { kind: opts.target, configPath: opts.config, persistTo: opts.persistTo, environment: opts.env, ...client };
    const { target, secrets } = await openTarget(choice);
    redact = createRedactor(secrets);
    try {
      return await fn(target, secrets, redact);
    } finally {
      await target.close();
    }
  } catch (error) {
    throw redactError(error, redact);
  }
}
