/**
 * `kser eval`: scores one or more trained models on the same holdout split of a prepared dataset (AUC, LogLoss,
 * GAUC, and for knowledge models the mean ESFNet gate per chunk kind), so runs trained on other nights or with other
 * extractors compare on equal terms. A model trained on another vocabulary is re-encoded, unseen values as OOV.
 */
import { writeFile } from "node:fs/promises";
import { type Command, Option } from "commander";
import { type BackendPreference, initBackend } from "../../accel/index.ts";
import { loadDataset } from "../../data/store.ts";
import { evaluateOnHoldout } from "../../eval/holdout.ts";
import { loadBank, type StoredBank } from "../../knowledge/bank.ts";
import { loadModelFolder } from "../../train/checkpoint.ts";
import { UserFacingError } from "../../util/errors.ts";
import { knowledgeFor } from "../model-inputs.ts";
import { backendOption } from "../options.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

interface EvalOptions {
  model: string[];
  data: string;
  bank?: string;
  allowOtherBank?: boolean;
  split: "test" | "valid";
  out?: string;
  backend: string;
}

export function register(program: Command): void {
  program
    .command("eval")
    .description("score trained models on one holdout split: AUC, LogLoss, GAUC and mean gates per chunk kind")
    .requiredOption("--model <dir>", "a kser train run folder (or its model/ folder); repeat to compare models", collect, [])
    .requiredOption("--data <dir>", "prepared dataset whose split is scored (kser data prepare)")
    .option("--bank <dir>", "knowledge bank for knowledge models (the one they were trained with)")
    .option("--allow-other-bank", "score with a bank other than the one a model was trained with")
    .addOption(new Option("--split <name>", "which split").choices(["test", "valid"]).default("test"))
    .option("--out <file>", "also write the results as JSON")
    .addOption(backendOption())
    .action(async (opts: EvalOptions) => {
      if (opts.model.length === 0) throw new UserFacingError("give at least one --model DIR");
      const models = await Promise.all(opts.model.map((dir) => loadModelFolder(dir)));
      let loaded: StoredBank | undefined;
      const loadOnce = (dir: string) => (loaded ??= loadBank(dir));
      const banks = models.map(({ model, dir }) =>
        knowledgeFor(model, opts.bank, (line) => console.log(line), {
          load: loadOnce,
          allowOtherBank: opts.allowOtherBank,
          modelName: dir,
        }),
      );
      const data = await loadDataset(opts.data);
      if (data[opts.split].count === 0) throw new UserFacingError(`${opts.data}: the ${opts.split} split has no samples`);
      await initBackend(opts.backend as BackendPreference, (line) => console.log(line));
      const results = [];
      for (const [i, { model, dir }] of models.entries()) {
        const { metrics, gates } = await evaluateOnHoldout(model, data, banks[i], opts.split);
        const { backbone, extractor } = model.config;
        results.push({ model: dir, backbone, extractor, ...metrics, gatesByKind: gates?.byKind ?? null });
        console.log(
          `${dir}: ${backbone} + ${extractor}: AUC ${metrics.auc.toFixed(4)}, LogLoss ${metrics.logloss.toFixed(4)}, ` +
            `GAUC ${metrics.gauc.toFixed(4)} on ${metrics.samples} ${opts.split} samples`,
        );
        if (gates) {
          for (const side of ["user", "item"] as const) {
            const kinds = Object.entries(gates.byKind[side]).map(([kind, g]) => `${kind} ${g.mean.toFixed(3)}`);
            if (kinds.length) console.log(`  mean ${side} gate by chunk kind: ${kinds.join(", ")}`);
          }
        }
      }
      const summary = { data: opts.data, split: opts.split, results };
      if (opts.out) await writeFile(opts.out, `${JSON.stringify(summary, null, 2)}\n`);
      console.log(JSON.stringify(summary));
    });
}
