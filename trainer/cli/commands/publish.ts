/**
 * `kser publish --bundle DIR --target local|cloudflare`: uploads a KV bundle stage by stage (blobs, data,
 * manifests, then pointers), reading every key back as it goes (docs/publish.md). For local, the state lands where
 * `wrangler dev --persist-to <dir>` (or plain `wrangler dev` next to --config) will read it.
 */
import type { Command } from "commander";
import { ENV, KV_CLIENT_DEFAULTS } from "../../kv/cloudflare.ts";
import { LOCAL_ATTEMPTS } from "../../kv/local.ts";
import { readBundle } from "../../publish/kv-bundle.ts";
import { DEFAULT_VERIFY_CONCURRENCY, publishBundle } from "../../publish/publish.ts";
import { addKvTargetOptions, type KvTargetOptions, withKvTarget } from "../kv-target.ts";
import { wholeNumber } from "../options.ts";

const positiveInt = wholeNumber(1);

export function register(program: Command): void {
  const publish = program
    .command("publish")
    .description("publish a KV bundle to local wrangler state or a Cloudflare KV namespace")
    .requiredOption("--bundle <dir>", "KV bundle directory (index.json plus values/)");
  addKvTargetOptions(publish, "where to publish")
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
      async (
        opts: KvTargetOptions & {
          bundle: string;
          verify: boolean;
          verifyAttempts?: number;
          verifyConcurrency: number;
          kvAttempts?: number;
          kvTimeoutMs?: number;
        },
      ) => {
        const log = (line: string) => console.log(line);
        const bundle = await readBundle(opts.bundle);
        await withKvTarget(opts, { maxAttempts: opts.kvAttempts, requestTimeoutMs: opts.kvTimeoutMs, log }, (target, secrets) =>
          publishBundle(bundle, target, {
            verify: opts.verify,
            verifyAttempts: opts.verifyAttempts,
            verifyConcurrency: opts.verifyConcurrency,
            log,
            secrets,
          }),
        );
      },
    );
}
