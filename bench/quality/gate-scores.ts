/**
 * What the ESFNet gates select: against the true chunk kinds where the knowledge is simulated (per kind, and per
 * chunk informative-vs-rest), and per named slot where the knowledge is real (DBbook's profile aspects).
 */
import { CHUNK_KINDS, type ChunkKind, type KnowledgeBankField } from "../../trainer/data/types.ts";
import type { FieldGates } from "../../trainer/train/gates.ts";
import { auc } from "../../trainer/train/metrics.ts";
import { pearson, spearman, spread } from "./stats.ts";
import type { GateCorrelation, GateScore, RunResult, SlotGates } from "./types.ts";

/**
 * True quality of a chunk kind, for the gate correlation: informative facts are the signal (1); a redundant chunk
 * restates a fact of the same entity (true, but adds nothing: 2/3); homogeneous filler is true-ish but the same for
 * everyone (1/3); a hallucinated chunk is false (0).
 */
export const KIND_QUALITY: Record<ChunkKind, number> = { informative: 1, redundant: 2 / 3, homogeneous: 1 / 3, hallucinated: 0 };

/** Scores one field's gates against the true kinds. */
export function scoreGates(field: KnowledgeBankField, gates: FieldGates): GateScore {
  const g: number[] = [];
  const informative: number[] = [];
  const quality: number[] = [];
  const kindSum = new Float64Array(CHUNK_KINDS.length);
  const kindCount = new Float64Array(CHUNK_KINDS.length);
  gates.entities.forEach((entity, e) => {
    for (let k = 0; k < gates.chunks; k++) {
      const kind = field.kinds?.[e * gates.chunks + k];
      if (!(entity.mask[k] > 0) || kind === undefined || kind >= CHUNK_KINDS.length) continue;
      g.push(entity.gates[k]);
      informative.push(kind === 0 ? 1 : 0);
      quality.push(KIND_QUALITY[CHUNK_KINDS[kind]]);
      kindSum[kind] += entity.gates[k];
      kindCount[kind]++;
    }
  });
  const present = CHUNK_KINDS.map((_, k) => k).filter((k) => kindCount[k] > 0);
  const means = present.map((k) => kindSum[k] / kindCount[k]);
  return {
    meanByKind: Object.fromEntries(
      CHUNK_KINDS.map((kind, k) => [kind, { mean: kindCount[k] > 0 ? kindSum[k] / kindCount[k] : Number.NaN, count: kindCount[k] }]),
    ),
    spearman: spearman(
      means,
      present.map((k) => KIND_QUALITY[CHUNK_KINDS[k]]),
    ),
    pointBiserial: pearson(g, informative),
    aucInformative: auc(informative, g),
    chunkSpearman: spearman(g, quality),
    chunks: g.length,
  };
}

/** Per gated config (default bank): the kind scores over runs x fields. */
export function gateCorrelation(runs: RunResult[]): GateCorrelation {
  const byConfig: GateCorrelation["byConfig"] = {};
  const gated = runs.filter((r) => r.gates && r.noise === "default");
  for (const config of [...new Set(gated.map((r) => r.config))]) {
    const list = gated.filter((r) => r.config === config);
    const scores = list.flatMap((r) => [r.gates!.user, r.gates!.item]);
    const meanByKind = { user: {} as Record<string, number>, item: {} as Record<string, number> };
    const pooledSpearman = { user: Number.NaN, item: Number.NaN };
    for (const side of ["user", "item"] as const) {
      const kinds = CHUNK_KINDS.filter((k) => list.every((r) => r.gates![side].meanByKind[k].count > 0));
      for (const k of kinds) meanByKind[side][k] = spread(list.map((r) => r.gates![side].meanByKind[k].mean)).mean;
      pooledSpearman[side] = spearman(
        kinds.map((k) => meanByKind[side][k]),
        kinds.map((k) => KIND_QUALITY[k]),
      );
    }
    byConfig[config] = {
      spearman: spread(scores.map((s) => s.spearman)),
      pointBiserial: spread(scores.map((s) => s.pointBiserial)),
      aucInformative: spread(scores.map((s) => s.aucInformative)),
      meanByKind,
      pooledSpearman,
    };
  }
  return { quality: KIND_QUALITY, byConfig };
}

/** Mean gate of the present chunks per slot (null: no entity has that slot). */
export function slotMeans(gates: FieldGates): (number | null)[] {
  const sums = new Float64Array(gates.chunks);
  const counts = new Float64Array(gates.chunks);
  for (const e of gates.entities)
    for (let k = 0; k < gates.chunks; k++)
      if (e.mask[k] > 0) {
        sums[k] += e.gates[k];
        counts[k]++;
      }
  return Array.from(sums, (s, k) => (counts[k] > 0 ? s / counts[k] : null));
}

/** Per gated config (default bank): mean gate per named slot, averaged over runs; slots no run has are left out. */
export function slotGates(runs: RunResult[], names: Record<"user" | "item", string[]> | undefined): SlotGates {
  const out: SlotGates = {};
  if (!names) return out;
  const gated = runs.filter((r) => r.gateSlots && r.noise === "default");
  for (const config of [...new Set(gated.map((r) => r.config))]) {
    const list = gated.filter((r) => r.config === config);
    out[config] = { user: {}, item: {} };
    for (const side of ["user", "item"] as const)
      names[side].forEach((name, k) => {
        const values = list.map((r) => r.gateSlots![side][k]).filter((v): v is number => v !== null);
        if (values.length > 0) out[config][side][name] = spread(values).mean;
      });
  }
  return out;
}
