/** `kser demo`: the offline end-to-end run (see trainer/demo/run-demo.ts). */
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { runDemo } from "../../demo/run-demo.ts";

const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

export function register(program: Command): void {
  program
    .command("demo")
    .description(
      "generate data and knowledge, train DeepFM and DeepFM+KSER, export, publish to local KV, serve with wrangler dev, score over HTTP",
    )
    .option("--out <dir>", "run directory", path.join(projectRoot, "runs", "demo"))
    .option("--seed <n>", "random seed", (v) => Number.parseInt(v, 10), 7)
    .option("--epochs <n>", "training epochs per model", (v) => Number.parseInt(v, 10), 4)
    .option("--backend <name>", "tfjs backend: auto|tensorflow|webgpu|wasm|cpu", "auto")
    .option("--no-serve", "stop after publishing (do not start the worker)")
    .action(async (opts: { out: string; seed: number; epochs: number; backend: "auto"; serve: boolean }) => {
      await runDemo({
        projectRoot,
        outDir: path.resolve(opts.out),
        seed: opts.seed,
        epochs: opts.epochs,
        backend: opts.backend,
        serve: opts.serve,
      });
    });
}
