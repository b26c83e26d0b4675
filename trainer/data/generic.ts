/**
 * Generic interaction logs (CSV with a header row, or Parquet) described by a JSON column-mapping config
 * (generic-config.ts; the reference with worked examples is docs/data.md):
 *
 *   { "file": "ratings.csv", "columns": { "user": "userId", "item": "movieId", "timestamp": "timestamp", "rating": "rating" },
 *     "minPositiveRating": 4, "ratingStep": 0.5, "itemFeatures": ["genres"], "itemTitle": "title",
 *     "multiValued": { "genres": { "separator": "|" } }, "items": { "file": "movies.csv", "id": "movieId" } }
 *
 * With a rating column the label is rating >= minPositiveRating; with a 0/1 label column the label is the column and
 * history ratings become 1 (negative) / 2 (positive). Side-feature columns become model fields named like the column,
 * from an items (users) table joined by id, or else from an item's (user's) first row. Timestamps: numbers (any
 * monotone clock) or ISO dates. A split column or split files give the split; otherwise prepare splits by user.
 */
import { dirname, resolve } from "node:path";
import { splitBag } from "../../shared/feature-encoding.ts";
import { onRatingGrid } from "../../shared/rating.ts";
import { InputFormatError } from "../util/errors.ts";
import { type GenericConfig, readGenericConfig } from "./generic-config.ts";
import { parseIdField, parseNumberField } from "./lines.ts";
import { type Row, readTable, type TableSource } from "./tables.ts";
import type { RawDataset, RawInteraction, RawItem, RawUser } from "./types.ts";

type Split = NonNullable<RawInteraction["split"]>;

export { type GenericConfig, genericConfigSchema, readGenericConfig } from "./generic-config.ts";
export { parseCsvLine } from "./tables.ts";

/** Loads a log described by `configFile`; `dataFile` (when given) replaces the config's `file`. */
export async function loadGeneric(configFile: string, dataFile?: string): Promise<RawDataset> {
  const config = await readGenericConfig(configFile);
  if (!dataFile && !config.file)
    throw new InputFormatError(configFile, undefined, "file", "no interaction file: set it here or pass --data");
  const near = (file: string) => resolve(dirname(configFile), file);
  const source = (file: string, format = config.format, delimiter = config.delimiter): TableSource => ({ file, format, delimiter });
  const builder = new Builder(config);
  if (config.items) await builder.readSideTable("item", source(near(config.items.file), config.items.format, config.items.delimiter));
  if (config.users) await builder.readSideTable("user", source(near(config.users.file), config.users.format, config.users.delimiter));
  const files: [string, Split | undefined][] = [[dataFile ?? near(config.file!), config.splitFiles ? "train" : undefined]];
  if (config.splitFiles) files.push([near(config.splitFiles.valid), "valid"], [near(config.splitFiles.test), "test"]);
  for (const [file, split] of files) {
    const src = source(file);
    await readTable(src, builder.interactionColumns(), (row, line) => builder.add(file, row, line, split));
  }
  return builder.result();
}

/** Collects rows into a RawDataset, validating each value with the row number. */
class Builder {
  private readonly interactions: RawInteraction[] = [];
  private readonly users = new Map<string, RawUser>();
  private readonly items = new Map<string, RawItem>();
  /** Ids of an items (users) table: their features come from it, not from the interaction rows. */
  private readonly tables = { item: false, user: false };
  private readonly labelMode: boolean;
  private readonly splitOf: Map<string, Split>;
  private missing = { item: 0, user: 0 };
  private readonly active = new Set<string>();
  private truncated = new Map<string, number>();

  constructor(private readonly config: GenericConfig) {
    this.labelMode = config.columns.label !== undefined;
    const v = config.splitValues;
    this.splitOf = new Map<string, Split>([
      [v.train, "train"],
      [v.valid, "valid"],
      [v.test, "test"],
    ]);
  }

  /** Columns the interaction file must have. */
  interactionColumns(): string[] {
    const { config } = this;
    const c = config.columns;
    return [
      c.user,
      c.item,
      c.timestamp,
      ...[c.rating, c.label, c.split].filter((x): x is string => x !== undefined),
      ...(config.items ? [] : [...config.itemFeatures, ...(config.itemTitle ? [config.itemTitle] : [])]),
      ...(config.users ? [] : config.userFeatures),
    ];
  }

  async readSideTable(side: "item" | "user", source: TableSource): Promise<void> {
    const { config } = this;
    const table = side === "item" ? config.items! : config.users!;
    const features = side === "item" ? config.itemFeatures : config.userFeatures;
    const title = side === "item" ? config.itemTitle : undefined;
    const columns = [table.id, ...features, ...(title ? [title] : [])];
    const lines = new Map<string, number>();
    await readTable(source, columns, (row, line) => {
      const id = parseIdField(source.file, line, table.id, idText(row(table.id)));
      const first = lines.get(id);
      if (first !== undefined)
        throw new InputFormatError(source.file, line, table.id, `id ${JSON.stringify(id)} is already on line ${first}`);
      lines.set(id, line);
      if (side === "item") this.items.set(id, this.item(id, row));
      else this.users.set(id, { id, attributes: this.features(row, features) });
    });
    this.tables[side] = true;
  }

  add(file: string, row: Row, line: number, givenSplit: Split | undefined): void {
    const { config } = this;
    const c = config.columns;
    const userId = parseIdField(file, line, c.user, idText(row(c.user)));
    const itemId = parseIdField(file, line, c.item, idText(row(c.item)));
    const timestamp = parseTimestamp(file, line, c.timestamp, row(c.timestamp));
    const rating = this.labelMode ? parseLabel(file, line, c.label!, row(c.label!)) + 1 : this.rating(file, line, row(c.rating!));
    const split = c.split !== undefined ? this.split(file, line, row(c.split)) : givenSplit;
    this.interactions.push({ userId, itemId, rating, timestamp, ...(split !== undefined ? { split } : {}) });
    this.active.add(userId);
    if (!this.users.has(userId)) {
      if (this.tables.user) this.missing.user++;
      this.users.set(userId, { id: userId, attributes: this.tables.user ? {} : this.features(row, config.userFeatures) });
    }
    if (!this.items.has(itemId)) {
      if (this.tables.item) this.missing.item++;
      this.items.set(itemId, this.tables.item ? { id: itemId, title: itemId, genres: [], attributes: {} } : this.item(itemId, row));
    }
  }

  private rating(file: string, line: number, value: unknown): number {
    const { config } = this;
    const rating = parseNumberField(file, line, config.columns.rating!, value, { min: 0, max: config.ratingLevels });
    if (!onRatingGrid(rating, config.ratingStep))
      throw new InputFormatError(file, line, config.columns.rating, `${rating} is not a multiple of ratingStep ${config.ratingStep}`);
    return rating;
  }

  private split(file: string, line: number, value: unknown): Split {
    const text = idText(value)?.trim() ?? "";
    const split = this.splitOf.get(text);
    if (split === undefined) {
      const expected = [...this.splitOf.keys()].map((k) => JSON.stringify(k)).join(", ");
      throw new InputFormatError(file, line, this.config.columns.split, `${JSON.stringify(text)} is not one of ${expected}`);
    }
    return split;
  }

  private item(id: string, row: Row): RawItem {
    const { config } = this;
    const title = config.itemTitle ? idText(row(config.itemTitle))?.trim() : undefined;
    const attributes = this.features(row, config.itemFeatures);
    const first = config.itemFeatures.find((f) => attributes[f] !== undefined);
    const rule = first ? config.multiValued[first] : undefined;
    const genres = first ? (rule ? splitBag(attributes[first], rule.separator) : [attributes[first]]) : [];
    return { id, title: title || id, genres, attributes };
  }

  private features(row: Row, columns: string[]): Record<string, string> {
    const out: Record<string, string> = {};
    for (const col of columns) {
      const v = idText(row(col))?.trim();
      if (!v) continue; // an empty cell is a missing value (OOV), not an error
      out[col] = v;
      const rule = this.config.multiValued[col];
      if (rule && splitBag(v, rule.separator).length > rule.maxValues) this.truncated.set(col, (this.truncated.get(col) ?? 0) + 1);
    }
    return out;
  }

  result(): RawDataset {
    const { config } = this;
    const notes: string[] = [];
    for (const side of ["item", "user"] as const) {
      if (this.missing[side] > 0)
        notes.push(`${this.missing[side]} ${side}s of the interactions are not in the ${side}s table: their features are unknown (OOV)`);
    }
    for (const [col, n] of this.truncated)
      notes.push(
        `${n} rows have more than ${config.multiValued[col].maxValues} values in ${col}: the first ${config.multiValued[col].maxValues} are kept`,
      );
    return {
      name: config.name,
      domain: "generic",
      // A users table may list users without interactions: they would only take places in the split.
      users: [...this.users.values()].filter((u) => this.active.has(u.id)),
      items: [...this.items.values()],
      interactions: this.interactions,
      userFieldNames: config.userFeatures,
      itemFieldNames: config.itemFeatures,
      minPositiveRating: this.labelMode ? 2 : config.minPositiveRating!,
      ratingLevels: this.labelMode ? 2 : config.ratingLevels,
      ...(!this.labelMode && config.ratingStep !== 1 ? { ratingStep: config.ratingStep } : {}),
      ...(Object.keys(config.multiValued).length > 0 ? { multiValued: config.multiValued } : {}),
      ...(notes.length > 0 ? { notes } : {}),
    };
  }
}

function parseLabel(file: string, line: number, column: string, v: unknown): 0 | 1 {
  if (v === true || v === 1 || v === 1n || v === "1" || v === "true") return 1;
  if (v === false || v === 0 || v === 0n || v === "0" || v === "false") return 0;
  throw new InputFormatError(file, line, column, `must be 0 or 1, got ${JSON.stringify(String(v))}`);
}

function idText(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "bigint") return String(value);
  return undefined;
}

function parseTimestamp(file: string, line: number, field: string, value: unknown): number {
  if (value instanceof Date) return value.getTime() / 1000;
  if (typeof value === "string" && value.trim() !== "" && !Number.isFinite(Number(value))) {
    const ms = Date.parse(value);
    if (!Number.isFinite(ms))
      throw new InputFormatError(file, line, field, `is neither a number nor an ISO date: ${JSON.stringify(value).slice(0, 60)}`);
    return ms / 1000;
  }
  return parseNumberField(file, line, field, value);
}
