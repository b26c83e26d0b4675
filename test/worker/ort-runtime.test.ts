// The ORT-in-workerd recipe relies on ORT internals: this checks a real session gives known outputs in workerd.
import { describe, expect, inject, it } from "vitest";
import { createSession, ort, ortReady, ortStatus } from "../../worker/src/ort-runtime.ts";
import { DIMS, fixtureKnowledge, fixtureParams, ITEM_FEATURES, referenceItemKnow } from "./fixtures/fixture-model.ts";
import { deserializeKvBundle } from "./fixtures/kv-bundle.ts";

describe("onnxruntime-web in workerd", () => {
  it("starts the wasm backend (warm-up model round trip)", async () => {
    await ortReady();
    expect(ortStatus().ready).toBe(true);
  });

  it("runs the fixture item extractor and matches the JS reference", async () => {
    const bundle = deserializeKvBundle(inject("fixtureBundle"));
    const manifest = JSON.parse(new TextDecoder().decode(bundle.find((e) => e.key === "model/fx-know")?.value));
    const blob = bundle.find((e) => e.key === `blob/${manifest.graphs.itemExtractor.blob}`)?.value;
    expect(blob).toBeDefined();
    const session = await createSession(blob as Uint8Array);
    expect([...session.inputNames].sort()).toEqual(["item_chunk_mask", "item_chunks", "item_feats"]);
    const { K, d, E } = DIMS;
    const kn = fixtureKnowledge().items;
    const ids = ["i1", "i2", "i4"];
    const chunks = new Float32Array(ids.length * K * d);
    const mask = new Float32Array(ids.length * K);
    const feats = new Int32Array(ids.length * 2);
    ids.forEach((id, b) => {
      chunks.set(kn.get(id)?.values as Float32Array, b * K * d);
      mask.set(kn.get(id)?.mask as Float32Array, b * K);
      feats.set(ITEM_FEATURES[Number(id.slice(1))], b * 2);
    });
    const out = await session.run({
      item_chunks: new ort.Tensor("float32", chunks, [ids.length, K, d]),
      item_chunk_mask: new ort.Tensor("float32", mask, [ids.length, K]),
      item_feats: new ort.Tensor("int32", feats, [ids.length, 2]),
    });
    expect(out.item_know.dims).toEqual([ids.length, E]);
    const p = fixtureParams();
    ids.forEach((id, b) => {
      const ref = referenceItemKnow(p, kn.get(id) as never, ITEM_FEATURES[Number(id.slice(1))]);
      for (let e = 0; e < E; e++) expect((out.item_know.data as Float32Array)[b * E + e]).toBeCloseTo(ref[e], 5);
    });
    expect(Array.from(out.item_gate.data as Float32Array)).toEqual(Array.from(mask));
    await session.release();
  });
});
