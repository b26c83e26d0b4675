/**
 * `kser publish --bundle DIR --target local|cloudflare`: uploads a KV bundle stage by stage (blobs, data,
 * manifests, then pointers), reading every key back as it goes (docs/publish.md). For local, the state lands where
 * `wrangler dev --persist-to <dir>` (or plain `wrangler dev` next to --config) will read it.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { ENV, KV_CLIENT_DEFAULTS } from "../../kv/cloudflare.ts";
import { LOCAL_ATTEMPTS } from "../../kv/local.ts";
import { openTarget, TARGET_KINDS, type TargetKind } from "../../kv/open.ts";
import { readBundle } from "../../publish/kv-bundle.ts";
import { DEFAULT_VERIFY_CONCURRENCY, publishBundle } from "../../publish/publish.ts";
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
    .option("--no-verify", "read nothing back and rewrite every blob (only for a namespace made for this run)")
    .option("--verify-attempts <n>", "read-back rounds for keys still missing or different (default: local 1, cloudflare 4)", positiveInt)
    .option("--verify-concurrency <n>", "read-back requests in flight", positiveInt, DEFAULT_VERIFY_CONCURRENCY)
    .option(
      "--kv-attempts <n>",
      `attempts per KV request, the first included (default: ${ENV.maxAttempts}, else cloudflare ${KV_CLIENT_DEFAULTS.maxAttempts}, local ${LOCAL_ATTEMPTS})`,
      positiveInt,
    )
    .option(
      "--kv-timeout-ms <n>",
      `cloudflare: per-attempt timeout (default: ${ENV.requestTimeoutMs}, else ${KV_CLIENT_DEFAULTS.requestTimeoutMs})`,
      positiveInt,
    )
    .addHelpText(
      "after",
      `\nCloudflare target: set ${ENV.accountId}, ${ENV.namespaceId} and ${ENV.apiToken} (Workers KV Storage Write);` +
        ` ${ENV.baseUrl} points the client at another API base. Exit 3: the KV API failed or a read-back differed;` +
        " the live rollout/config was not changed. See docs/publish.md.",
    )
    .action(
      async (opts: {
        bundle: string;
        target: TargetKind;
        config: string;
        persistTo?: string;
        env?: string;
        verify: boolean;
        verifyAttempts?: number;
        verifyConcurrency: number;
        kvAttempts?: number;
        kvTimeoutMs?: number;
      }) => {
        const log = (line: string) => console.log(line);
        let redact = createRedactor([]);
        const bundle = await readBundle(opts.bundle);
        const { target, secrets } = await openTarget({
          kind: opts.target,
          configPath: opts.config,
          persistTo: opts.persistTo,
          environment: opts.env,
          maxAttempts: opts.kvAttempts,
          requestTimeoutMs: opts.kvTimeoutMs,
          log,
        }).catch((error) => {
          throw redactError(error, redact);
        });
        redact = createRedactor(secrets);
        try {
          await publishBundle(bundle, target, {
            verify: opts.verify,
            verifyAttempts: opts.verifyAttempts,
            verifyConcurrency: opts.verifyConcurrency,
            log,
            secrets,
          });
        } catch (error) {
          throw redactError(error, redact);
        } finally {
          await target.close();
        }
      },
    );
}
