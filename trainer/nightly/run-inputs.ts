/**
 * What the stages of one nightly run read, built lazily: a resumed run loads what finished stages wrote (prepared
 * data, bank) instead of recomputing it, and opens the publish target only when a stage needs it.
 */
import path from "node:path";
import { loadDataset } from "../data/store.ts";
import type { PreparedDataset, RawDataset } from "../data/types.ts";
import { loadBank, type StoredBank } from "../knowledge/bank.ts";
import type { KvTarget } from "../kv/types.ts";
import type { NightlyConfig } from "./config.ts";
import { loadRaw } from "./ingest.ts";
import { bankDir } from "./knowledge.ts";
import type { RunLog } from "./run-log.ts";
import { openNightlyTarget } from "./target.ts";

export class RunInputs {
  private rawData: RawDataset | null = null;
  private prepared: PreparedDataset | null = null;
  private storedBank: StoredBank | null = null;
  private opened: { target: KvTarget; secrets: string[] } | null = null;

  constructor(
    private readonly config: NightlyConfig,
    private readonly dir: string,
    private readonly env: NodeJS.ProcessEnv,
    private readonly log: RunLog,
  ) {}

  async raw(): Promise<RawDataset> {
    this.rawData ??= await loadRaw(this.config);
    return this.rawData;
  }

  async data(): Promise<PreparedDataset> {
    this.prepared ??= await loadDataset(path.join(this.dir, "data", "prepared"));
    return this.prepared;
  }

  bank(): StoredBank {
    this.storedBank ??= loadBank(bankDir(this.dir));
    return this.storedBank;
  }

  async target(): Promise<KvTarget> {
    if (!this.opened) {
      this.opened = await openNightlyTarget(this.config, this.env, (l) => this.log.line(`[publish] ${l}`));
      this.log.hideSecrets(this.opened.secrets);
    }
    return this.opened.target;
  }

  /**
   * The local target holds a workerd process: released before long stages so a run killed during training leaves
   * no server behind.
   */
  async releaseTarget(): Promise<void> {
    const open = this.opened;
    this.opened = null;
    await open?.target.close().catch(() => {});
  }
}
