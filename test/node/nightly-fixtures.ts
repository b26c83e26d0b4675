/**
 * Shared pieces of the nightly tests: a small offline config (synthetic data, simulator, local wrangler state in a
 * temp dir) sized to keep each test file short on a small machine, the CLI as a real process, and a reader for
 * the live rollout config in that local state.
 */
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { kvKeys } from "../../shared/kv-keys.ts";
import type { RolloutConfig } from "../../shared/rollout.ts";
import { openLocalTarget } from "../../trainer/kv/local.ts";
import { readRolloutConfig } from "../../trainer/rollout/store.ts";

export const projectRoot = path.resolve(import.meta.dirname, "../..");

export function smallConfig(root: string, overrides: { model?: object; gate?: object; rollout?: object } = {}) {
  return {
    name: "nightly-test",
    runsDir: path.join(root, "runs"),
    data: { source: "synthetic", seed: 7, users: 150, items: 120 },
    knowledge: { kind: "simulator", seed: 7 },
    compress: { chunks: 4, encoderDim: 64, dim: 16 },
    model: { epochs: 2, embeddingDim: 8, batchSize: 256, ...overrides.model },
    gate: { maxLatencyMs: 2000, latencyCandidates: 50, ...overrides.gate },
    publish: { target: "local", persistTo: path.join(root, "kv") },
    rollout: { rampPercent: 10, ...overrides.rollout },
  };
}

export async function tempRoot(prefix: string): Promise<string> {
  return mkdtemp(path.join(tmpdir(), `kser-nightly-${prefix}-`));
}

export async function writeConfig(root: string, name: string, config: unknown): Promise<string> {
  const file = path.join(root, name);
  await writeFile(file, JSON.stringify(config, null, 2));
  return file;
}

/**
 * Runs `kser nightly`; `killWhen` sends SIGKILL to its whole process group as soon as the output matches it, the
 * way a scheduler stops a job (children such as a local workerd go too).
 */
export function kserNightly(
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; killWhen?: RegExp } = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("node", ["bin/kser.js", "nightly", ...args], {
      cwd: projectRoot,
      env: { ...process.env, ...opts.env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    let out = "";
    const onData = (chunk: Buffer) => {
      out += chunk.toString();
      if (opts.killWhen?.test(out) && child.exitCode === null && child.pid !== undefined) process.kill(-child.pid, "SIGKILL");
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    child.on("error", reject);
    child.on("close", (code, signal) => resolve({ code, signal, out }));
  });
}

/** The live rollout config and which model manifests exist, read through a fresh local target. */
export async function readLive(
  persistTo: string,
  modelIds: string[] = [],
): Promise<{ rollout: RolloutConfig | null; manifests: Record<string, boolean> }> {
  const target = await openLocalTarget({ configPath: path.join(projectRoot, "wrangler.toml"), persistTo });
  try {
    const manifests: Record<string, boolean> = {};
    for (const id of modelIds) manifests[id] = (await target.get(kvKeys.model(id))) !== null;
    return { rollout: await readRolloutConfig(target), manifests };
  } finally {
    await target.close();
  }
}
