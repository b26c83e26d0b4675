/**
 * The PyTorch twin (trainer/export/torch-twin.ts) of every backbone x extractor declares exactly the tfjs model's
 * parameters (names, shapes) and graph inputs (names, dtypes, shapes), and its source has one forward line per op.
 * Numerical parity needs PyTorch: `npx tsx bench/gpu/torch-twin.ts --out DIR --check` then
 * `python3 bench/gpu/torch_twin.py DIR --check`, which prints the max |diff| (docs/models.md, GPU comparison).
 */
import * as tf from "@tensorflow/tfjs-core";
import { describe, expect, it } from "vitest";
import { initBackend } from "../../trainer/accel/index.ts";
import { torchTwin } from "../../trainer/export/torch-twin.ts";
import { backboneNames, extractorNames } from "../../trainer/models/registry.ts";
import { batchFeeds, configFor, randomBatch, seededWeights } from "./models-fixtures.ts";

await initBackend("cpu");

describe("PyTorch twin", () => {
  for (const backbone of backboneNames()) {
    it(`${backbone} x every extractor: same parameters and inputs as the tfjs model`, () => {
      for (const extractor of extractorNames()) {
        const cfg = configFor(backbone, extractor);
        const twin = torchTwin(cfg);
        const tfParams = [...seededWeights(cfg)].map(([name, p]) => [name, p.shape.join("x")]).sort();
        const twinParams = [...twin.ops.params.values()].map((p) => [p.name, p.shape.join("x")]).sort();
        expect(twinParams, `${backbone} + ${extractor} parameters`).toEqual(tfParams);
        const feeds = batchFeeds(cfg, randomBatch(cfg, 3, 1));
        const tfInputs = [...feeds].map(([name, t]) => [name, t.dtype, [-1, ...t.shape.slice(1)].join("x")]).sort();
        tf.dispose([...feeds.values()]);
        const twinInputs = [...twin.ops.inputs.values()].map((i) => [i.name, i.dtype, i.shape.join("x")]).sort();
        expect(twinInputs, `${backbone} + ${extractor} inputs`).toEqual(tfInputs);
        expect(Object.keys(twin.outputs)).toEqual(cfg.knowledge ? ["logit", "user_gate", "item_gate"] : ["logit"]);
        const source = twin.ops.moduleSource("Twin", twin.outputs);
        expect(source.match(/^ {8}v\d+ = /gm)?.length).toBe(twin.ops.lines.length);
        expect(source).toContain(`return {"logit": ${twin.outputs.logit}`);
      }
    });
  }

  it("rejects a parameter redeclared with another shape", () => {
    const ops = torchTwin(configFor("deepfm", "none")).ops;
    const [first] = ops.params.values();
    expect(() => ops.param(first.name, [...first.shape, 2], { kind: "zeros" })).toThrow(/redeclared/);
  });
});
