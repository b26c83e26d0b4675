/**
 * `kser train`: trains a backbone + extractor on a prepared dataset (or a synthetic one) and a knowledge bank,
 * checkpointing every epoch into --out (a rerun with the same --out resumes), and leaves model/, metrics.json and
 * gates.json there. The flags, or an experiment config file (--config, trainer/pipeline/config.ts), make one
 * experiment config that the pipeline runs.
 */

import { SingleBar } from "cli-progress";
import type { Command } from "commander";
import { Option } from "commander";
import { initBackend } from "../../accel/index.ts";
import { MODEL_DEFAULTS } from "../../models/config.ts";
import { type ExperimentConfig, type ExperimentConfigInput, loadExperimentConfig, parseExperimentConfig } from "../../pipeline/config.ts";
import { experimentKnowledge, loadExperimentData, trainExperiment } from "../../pipeline/pipeline.ts";
import { TRAINING_DEFAULTS } from "../../train/defaults.ts";
import { writeRunOutputs } from "../../train/run-outputs.ts";
import { STRATEGIES } from "../../train/strategy.ts";
import { UserFacingError } from "../../util/errors.ts";
import { backendOption, positive } from "../options.ts";

/** The flags an experiment config replaces: commander's option key -> the config field it sets. */
const EXPERIMENT_FLAGS: Record<string, string> = {
  data: "data.path",
  synthetic: "data.source",
  bank: "knowledge",
  backbone: "model.backbone",
  extractor: "model.extractor",
  embeddingDim: "model.embeddingDim",
  strategy: "training.strategy",
  from: "training.from",
  epochs: "training.epochs",
  batchSize: "training.batchSize",
  lr: "training.learningRate",
  schedule: "training.schedule",
  seed: "training.seed",
};

const flagName = (key: string) => `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

/** A config error in the words of the flags that set the field. */
function flagIssue(issue: { path: PropertyKey[]; message: string }): string {
  const field = issue.path.map(String).join(".");
  const key = Object.keys(EXPERIMENT_FLAGS).find((k) => EXPERIMENT_FLAGS[k] === field);
  return `${key ? flagName(key) : field}: ${issue.message}`;
}

const CONFIG_HELP = `
An experiment config (--config FILE) is JSON with four sections; a field left out takes its default:
  data       {"source": "synthetic", "seed", "users", "items"} | {"source": "prepared", "path"}
  knowledge  {"kind": "none"} | {"kind": "bank", "path"} | {"kind": "simulator", "seed", "chunks", "encoderDim", "dim", "codec"}
  model      {"backbone", "extractor", "embeddingDim"}
  training   {"epochs", "batchSize", "learningRate", "weightDecay", "patience", "knowledgeDropout",
              "schedule", "seed", "strategy", "from", "selectBy"}
Relative paths are resolved against the file's folder. Example:
  {"data": {"source": "synthetic"}, "knowledge": {"kind": "simulator"}, "training": {"epochs": 4}}`;

/** The experiment config the flags describe (the same schema and defaults as a --config file). */
function configFromFlags(opts: Record<string, unknown>): ExperimentConfig {
  if (!opts.data === !opts.synthetic) throw new UserFacingError("give exactly one of --data DIR, --synthetic and --config FILE");
  const input: ExperimentConfigInput = {
    data: opts.data ? { source: "prepared", path: opts.data as string } : { source: "synthetic", seed: opts.seed as number },
    knowledge: opts.bank ? { kind: "bank", path: opts.bank as string } : { kind: "none" },
    model: { backbone: opts.backbone as string, extractor: opts.extractor as string, embeddingDim: opts.embeddingDim as number },
    training: {
      epochs: opts.epochs as number,
      batchSize: opts.batchSize as number,
      learningRate: opts.lr as number,
      schedule: opts.schedule as string,
      seed: opts.seed as number,
      strategy: opts.strategy as ExperimentConfig["training"]["strategy"],
      from: opts.from as string | undefined,
    },
  };
  return parseExperimentConfig(input, undefined, (issues) => issues.map(flagIssue).join("; "));
}

async function experimentConfig(cmd: Command, opts: Record<string, unknown>): Promise<ExperimentConfig> {
  if (!opts.config) return configFromFlags(opts);
  const given = Object.keys(EXPERIMENT_FLAGS).filter((k) => cmd.getOptionValueSource(k) === "cli");
  if (given.length)
    throw new UserFacingError(
      `--config ${opts.config} holds the whole experiment: set ${given.map((k) => EXPERIMENT_FLAGS[k]).join(", ")} in the file, not ${given.map(flagName).join(", ")}`,
    );
  return loadExperimentConfig(opts.config as string);
}

function progressHooks() {
  const bar = new SingleBar({ format: "epoch {epoch} [{bar}] {value}/{total} steps", hideCursor: true });
  let barEpoch = 0;
  return {
    onStep: (done: number, total: number, epoch: number) => {
      if (epoch !== barEpoch) {
        if (barEpoch) bar.stop();
        bar.start(total, 0, { epoch });
        barEpoch = epoch;
      }
      bar.update(done, { epoch });
    },
    log: (m: string) => {
      if (barEpoch) bar.stop();
      console.log(m);
    },
    stop: () => bar.stop(),
  };
}

export function register(program: Command): void {
  const d = TRAINING_DEFAULTS;
  program
    .command("train")
    .description("train a backbone + extractor; checkpoints per epoch into --out and resumes from them")
    .option("--config <file>", "experiment config (JSON: data, knowledge, model, training; see below) instead of the flags")
    .option("--data <dir>", "prepared dataset folder (kser data prepare)")
    .option("--synthetic", "train on a generated synthetic dataset instead of --data")
    .option("--bank <dir>", "knowledge bank folder (needed by knowledge extractors)")
    .addOption(new Option("--backbone <name>", "backbone").default(MODEL_DEFAULTS.backbone))
    .addOption(new Option("--extractor <name>", "extractor").default(MODEL_DEFAULTS.extractor))
    .addOption(new Option("--strategy <name>", "what trains").choices(STRATEGIES).default(d.strategy))
    .option("--from <dir>", "extractor-only: the trained backbone-only run's model folder (or run folder)")
    .option("--epochs <n>", "epochs", positive(true), d.epochs)
    .option("--batch-size <n>", "batch size", positive(true), d.batchSize)
    .option("--lr <x>", "peak learning rate", positive(false), d.learningRate)
    .option("--schedule <spec>", "constant[:warmup] | cosine[:warmup[:minLr]] | step:every:factor[:warmup]", "constant")
    .option("--embedding-dim <n>", "embedding size", positive(true), MODEL_DEFAULTS.embeddingDim)
    .option("--seed <n>", "seed", (v) => Number(v), d.seed)
    .addOption(backendOption())
    .requiredOption("--out <dir>", "run folder: checkpoint/, model/, metrics.json, gates.json")
    .addHelpText("after", CONFIG_HELP)
    .action(async (opts, cmd: Command) => {
      const started = performance.now();
      const config = await experimentConfig(cmd, opts);
      const backend = await initBackend(opts.backend, (m) => console.log(m));
      const inputs = await loadExperimentData(config.data);
      const { data } = inputs;
      const { bank } = await experimentKnowledge(config.knowledge, inputs);
      const { backbone, extractor } = config.model;
      const { strategy, epochs } = config.training;
      console.log(
        `training ${backbone} + ${extractor} (${strategy}) on ${data.name}: ${data.train.count} train samples, backend ${backend.name}`,
      );
      const progress = progressHooks();
      const result = await trainExperiment(config, data, bank, {
        backend: opts.backend,
        runDir: opts.out,
        onStep: progress.onStep,
        log: progress.log,
      });
      progress.stop();
      await writeRunOutputs(opts.out, result, data, bank, { strategy, dataset: data.name, bankId: bank?.bankId ?? null });
      const t = result.metrics.test;
      console.log(`test AUC ${t.auc.toFixed(4)}, LogLoss ${t.logloss.toFixed(4)}, GAUC ${t.gauc.toFixed(4)} (backend ${result.backend})`);
      console.log(`wrote ${opts.out}/model, metrics.json${bank ? ", gates.json" : ""}`);
      console.log(`total time ${((performance.now() - started) / 1000).toFixed(1)} s (load, ${epochs} epochs, evaluation, outputs)`);
    });
}
