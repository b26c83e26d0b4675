/**
 * `kser publish --bundle DIR --target local|cloudflare`: uploads a KV bundle stage by stage (blobs, data,
 * manifests, then pointers), verifying as it goes. For local, the state lands where
 * `wrangler dev --persist-to <dir>` (or plain `wrangler dev` next to --config) will read it.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { readBundle } from "../../publish/kv-bundle.ts";
import { publishBundle } from "../../publish/publish.ts";
import { openTarget, TARGET_KINDS, type TargetKind } from "../../publish/targets/open.ts";
import { createRedactor, redactError } from "../../util/redact.ts";

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("must be a whole number >= 1");
  return n;
}

export function register(program: Command): void {
  program
    .command("publish")
    .description("publish a KV bundle to local wrangler state or a Cloudflare KV namespace")
    .requiredOption("--bundle <dir>", "KV bundle directory (index.json plus values/)")
    .addOption(new Option("--target <kind>", "where to publish").choices(TARGET_KINDS as unknown as string[]).default("local"))
    .option("--config <file>", "wrangler config with the KSER_KV binding (local target)", "wrangler.toml")
    .option("--persist-to <dir>", "the --persist-to directory `wrangler dev` uses (local target; default <config dir>/.wrangler/state)")
    .option("--env <name>", "wrangler environment (local target)")
    .option("--no-verify", "skip reading values back")
    .option("--data-sample <n>", "data entries read back when verifying", positiveInt, 64)
    .addHelpText(
      "after",
      "\nCloudflare target: set CLOUDFLARE_ACCOUNT_ID, KSER_KV_NAMESPACE_ID and CLOUDFLARE_API_TOKEN (Workers KV Storage Write).",
    )
    .action(
      async (opts: {
        bundle: string;
        target: TargetKind;
        config: string;
        persistTo?: string;
        env?: string;
        verify: boolean;
        dataSample: number;
      }) => {
        const log = (line: string) => console.log(line);
        let redact = createRedactor([]);
        const bundle = await readBundle(opts.bundle);
        const { target, secrets } = await openTarget({
          kind: opts.target,
          configPath: opts.config,
          persistTo: opts.persistTo,
          environment: opts.env,
          log,
        }).catch((error) => {
          throw redactError(error, redact);
        });
        redact = createRedactor(secrets);
        try {
          await publishBundle(bundle, target, { verify: opts.verify, dataSample: opts.dataSample, log, secrets });
        } catch (error) {
          throw redactError(error, redact);
        } finally {
          await target.close();
        }
      },
    );
}
