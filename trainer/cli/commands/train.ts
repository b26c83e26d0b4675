/**
 * `kser train`: trains a backbone + extractor on a prepared dataset (or a synthetic one) and a knowledge bank,
 * checkpointing every epoch into --out (a rerun with the same --out resumes), and leaves model/, metrics.json and
 * gates.json there.
 */

import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { Option } from "commander";
import { initBackend } from "../../accel/index.ts";
import { prepareDataset } from "../../data/prepare.ts";
import { loadDataset } from "../../data/store.ts";
import { generateSyntheticDataset } from "../../data/synthetic.ts";
import type { KnowledgeBank, PreparedDataset } from "../../data/types.ts";
import { loadBank } from "../../knowledge/bank.ts";
import { backboneNames, extractorNames } from "../../models/registry.ts";
import { loadModelFolder } from "../../train/checkpoint.ts";
import { writeRunOutputs } from "../../train/run-outputs.ts";
import { parseSchedule } from "../../train/schedule.ts";
import { STRATEGIES, type Strategy } from "../../train/strategy.ts";
import { trainModel } from "../../train/train.ts";
import { UserFacingError } from "../../util/errors.ts";
import { backendOption, positive } from "../options.ts";

export function register(program: Command): void {
  program
    .command("train")
    .description("train a backbone + extractor; checkpoints per epoch into --out and resumes from them")
    .option("--data <dir>", "prepared dataset folder (kser data prepare)")
    .option("--synthetic", "train on a generated synthetic dataset instead of --data")
    .option("--bank <dir>", "knowledge bank folder (needed by knowledge extractors)")
    .addOption(new Option("--backbone <name>", "backbone").default("deepfm"))
    .addOption(new Option("--extractor <name>", "extractor").default("kser"))
    .addOption(new Option("--strategy <name>", "what trains").choices(STRATEGIES).default("all-params"))
    .option("--from <dir>", "extractor-only: the trained backbone-only run's model folder (or run folder)")
    .option("--epochs <n>", "epochs", positive(true), 10)
    .option("--batch-size <n>", "batch size", positive(true), 1024)
    .option("--lr <x>", "peak learning rate", positive(false), 1e-3)
    .option("--schedule <spec>", "constant[:warmup] | cosine[:warmup[:minLr]] | step:every:factor[:warmup]", "constant")
    .option("--embedding-dim <n>", "embedding size", positive(true), 32)
    .option("--seed <n>", "seed", (v) => Number(v), 42)
    .addOption(backendOption())
    .requiredOption("--out <dir>", "run folder: checkpoint/, model/, metrics.json, gates.json")
    .action(async (opts) => {
      const started = performance.now();
      if (!backboneNames().includes(opts.backbone))
        throw new UserFacingError(`unknown backbone ${opts.backbone} (${backboneNames().join(", ")})`);
      if (!extractorNames().includes(opts.extractor))
        throw new UserFacingError(`unknown extractor ${opts.extractor} (${extractorNames().join(", ")})`);
      if (!opts.data === !opts.synthetic) throw new UserFacingError("give exactly one of --data DIR and --synthetic");
      const strategy = opts.strategy as Strategy;
      if (strategy === "extractor-only" && !opts.from) throw new UserFacingError("--strategy extractor-only needs --from DIR");
      let schedule: ReturnType<typeof parseSchedule>;
      try {
        schedule = parseSchedule(opts.schedule);
      } catch (error) {
        throw new UserFacingError((error as Error).message);
      }
      const backend = await initBackend(opts.backend, (m) => console.log(m));
      const data: PreparedDataset = opts.data
        ? await loadDataset(opts.data)
        : prepareDataset(generateSyntheticDataset({ seed: opts.seed }), { seed: opts.seed });
      const bank: KnowledgeBank | null = opts.bank ? loadBank(opts.bank) : null;
      const from = opts.from ? (await loadModelFolder(opts.from)).model : undefined;
      console.log(
        `training ${opts.backbone} + ${opts.extractor} (${strategy}) on ${data.name}: ${data.train.count} train samples, backend ${backend.name}`,
      );
      const bar = new SingleBar({ format: "epoch {epoch} [{bar}] {value}/{total} steps", hideCursor: true });
      let barEpoch = 0;
      const result = await trainModel({
        data,
        bank,
        backbone: opts.backbone,
        extractor: opts.extractor,
        strategy,
        from,
        epochs: opts.epochs,
        batchSize: opts.batchSize,
        learningRate: opts.lr,
        schedule,
        embeddingDim: opts.embeddingDim,
        seed: opts.seed,
        backend: opts.backend,
        runDir: opts.out,
        onStep: (done, total, epoch) => {
          if (epoch !== barEpoch) {
            if (barEpoch) bar.stop();
            bar.start(total, 0, { epoch });
            barEpoch = epoch;
          }
          bar.update(done, { epoch });
        },
        log: (m) => {
          if (barEpoch) bar.stop();
          console.log(m);
        },
      });
      bar.stop();
      await writeRunOutputs(opts.out, result, data, bank, { strategy, dataset: data.name, bankId: bank?.bankId ?? null });
      const t = result.metrics.test;
      console.log(`test AUC ${t.auc.toFixed(4)}, LogLoss ${t.logloss.toFixed(4)}, GAUC ${t.gauc.toFixed(4)} (backend ${result.backend})`);
      console.log(`wrote ${opts.out}/model, metrics.json${bank ? ", gates.json" : ""}`);
      console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s (load, ${opts.epochs} epochs, evaluation, outputs)`);
    });
}
