/**
 * Ingest: loads the configured source, prepares CTR samples (KAR protocol) and saves them into <runDir>/data.
 * What is new is measured against the last successful run's ids.json: users, items and interactions not seen
 * then. The knowledge stage uses the new user/item lists to refresh only those entities.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import path from "node:path";
import { loadRawDataset } from "../data/load.ts";
import { prepareDataset } from "../data/prepare.ts";
import { saveDataset } from "../data/store.ts";
import type { RawDataset } from "../data/types.ts";
import { writeJsonAtomic } from "../util/atomic-write.ts";
import type { NightlyConfig } from "./config.ts";
import { readJson } from "./run-dir.ts";

export interface IngestSummary {
  users: number;
  items: number;
  interactions: number;
  newUsers: number;
  newItems: number;
  newInteractions: number;
  samples: { train: number; valid: number; test: number };
  previousRun: string | null;
}

interface IdsFile {
  users: string[];
  items: string[];
  /** Hashes of (user, item, timestamp): compact enough to keep for ML-1M-sized data. */
  interactions: string[];
}

export async function loadRaw(config: NightlyConfig): Promise<RawDataset> {
  const d = config.data;
  if (d.source === "synthetic") return loadRawDataset({ source: "synthetic", seed: d.seed, users: d.users, items: d.items });
  if (d.source === "generic") return loadRawDataset({ source: "generic", config: d.config, data: d.path });
  return loadRawDataset({ source: d.source, data: d.path });
}

const interactionKey = (i: { userId: string; itemId: string; timestamp: number }) =>
  createHash("sha1").update(`${i.userId}\u0000${i.itemId}\u0000${i.timestamp}`).digest("base64").slice(0, 12);

export async function ingest(config: NightlyConfig, raw: RawDataset, runDir: string, previousRun: string | null): Promise<IngestSummary> {
  const data = prepareDataset(raw, {
    seed: config.prepare.seed,
    historyLength: config.prepare.historyLength,
    knowledgePrefix: config.prepare.knowledgePrefix,
  });
  const ids: IdsFile = {
    users: raw.users.map((u) => u.id),
    items: raw.items.map((i) => i.id),
    interactions: raw.interactions.map(interactionKey),
  };
  const prevFile = previousRun ? path.join(previousRun, "data", "ids.json") : null;
  const prev = prevFile && existsSync(prevFile) ? await readJson<IdsFile>(prevFile) : null;
  const countNew = (now: string[], before: string[] | undefined) => {
    if (!before) return now.length;
    const seen = new Set(before);
    return now.filter((x) => !seen.has(x)).length;
  };
  await saveDataset(path.join(runDir, "data", "prepared"), data);
  await writeJsonAtomic(path.join(runDir, "data", "ids.json"), ids);
  return {
    users: ids.users.length,
    items: ids.items.length,
    interactions: ids.interactions.length,
    newUsers: countNew(ids.users, prev?.users),
    newItems: countNew(ids.items, prev?.items),
    newInteractions: countNew(ids.interactions, prev?.interactions),
    samples: { train: data.train.count, valid: data.valid.count, test: data.test.count },
    previousRun,
  };
}
