/**
 * A starter column-mapping config for `--source generic` from the header (and first rows) of an interaction file and,
 * optionally, items / users tables: `kser data init-config`. Column roles are guessed from common names (userId,
 * movieId, timestamp, rating, clicked, ...) and can be named instead; the rating scale (highest value, half steps)
 * and pipe-separated multi-valued features are read from the sampled rows. The result is checked against the
 * config schema before it is returned, so what is written always loads.
 */
import { basename, dirname, relative } from "node:path";
import { UserFacingError } from "../util/errors.ts";
import { type GenericConfig, genericConfigSchema } from "./generic-config.ts";
import { formatOf, peekTable, type TableSource } from "./tables.ts";

const SAMPLE_ROWS = 1000;
const PATTERNS = {
  user: /^(user|user_?id|uid|customer_?id|visitor_?id|member_?id)$/i,
  item: /^(item|item_?id|iid|movie_?id|product_?id|book_?id|sku|asin|article_?id)$/i,
  timestamp: /^(timestamp|ts|time|date|datetime|event_?time|created_?at|unix_?time)$/i,
  rating: /^(rating|ratings|stars|score)$/i,
  label: /^(label|click|clicked|is_?click|y|target|converted)$/i,
  split: /^(split|fold|partition)$/i,
  title: /^(title|name|item_?name|product_?name)$/i,
};
const MULTI_SEPARATORS = ["|"];

export interface InitConfigOptions {
  /** The interaction file. */
  data: string;
  /** Where the config will be written: file paths in it are relative to its folder. */
  out: string;
  items?: string;
  users?: string;
  delimiter?: string;
  /** Columns named by the user instead of guessed. */
  columns?: Partial<Record<"user" | "item" | "timestamp" | "rating" | "label" | "split", string>>;
}

export interface InitConfigResult {
  config: GenericConfig;
  /** What was guessed and what was left out, for the person running it. */
  notes: string[];
}

function pick(columns: string[], pattern: RegExp, taken: Set<string>): string | undefined {
  return columns.find((c) => !taken.has(c) && pattern.test(c));
}

function numbers(sample: Record<string, unknown>[], column: string): number[] {
  return sample.map((r) => Number(r[column])).filter((n) => Number.isFinite(n));
}

/** Columns whose sampled cells hold a separator: multi-valued. */
function multiValuedColumns(sample: Record<string, unknown>[], columns: string[]): Record<string, { separator: string }> {
  const out: Record<string, { separator: string }> = {};
  for (const c of columns)
    for (const separator of MULTI_SEPARATORS)
      if (sample.some((r) => typeof r[c] === "string" && (r[c] as string).includes(separator))) out[c] = { separator };
  return out;
}

/** The interaction file's column for each role: as named, else guessed by name; an error names what is missing. */
function guessRoles(options: InitConfigOptions, columns: string[]) {
  const named = options.columns ?? {};
  for (const [role, col] of Object.entries(named))
    if (col !== undefined && !columns.includes(col))
      throw new UserFacingError(`${options.data}: --${role} ${col} is not a column (${columns.join(", ")})`);
  const taken = new Set(Object.values(named).filter((c): c is string => c !== undefined));
  const role = (name: keyof typeof PATTERNS & keyof NonNullable<InitConfigOptions["columns"]>) => {
    const col = named[name] ?? pick(columns, PATTERNS[name], taken);
    if (col) taken.add(col);
    return col;
  };
  const user = role("user");
  const item = role("item");
  const timestamp = role("timestamp");
  const rating = named.label ? undefined : role("rating");
  const label = rating ? undefined : role("label");
  const split = role("split");
  const missing = Object.entries({ user, item, timestamp }).filter(([, c]) => !c);
  if (missing.length > 0 || (!rating && !label))
    throw new UserFacingError(
      `${options.data}: cannot tell which column is ${[...missing.map(([r]) => r), ...(!rating && !label ? ["rating or label"] : [])].join(", ")} ` +
        `(columns: ${columns.join(", ")}); name them with ${[...missing.map(([r]) => `--${r} COL`), ...(!rating && !label ? ["--rating COL or --label COL"] : [])].join(" ")}`,
    );
  return { user: user!, item: item!, timestamp: timestamp!, rating, label, split, taken };
}

/** The items and users tables: their files and id columns (and the title) into the draft; their feature columns. */
async function addSideTables(options: InitConfigOptions, ids: { item: string; user: string }, draft: Record<string, unknown>) {
  const delimiter = options.delimiter ?? ",";
  const features = { items: [] as string[], users: [] as string[] };
  const multiValued: Record<string, { separator: string }> = {};
  for (const [side, file] of [
    ["items", options.items],
    ["users", options.users],
  ] as const) {
    if (!file) continue;
    const table = await peekTable({ file, delimiter }, SAMPLE_ROWS);
    const id =
      table.columns.find((c) => c === (side === "items" ? ids.item : ids.user)) ??
      pick(table.columns, PATTERNS[side === "items" ? "item" : "user"], new Set());
    if (!id) throw new UserFacingError(`${file}: no id column found (columns: ${table.columns.join(", ")})`);
    const title = side === "items" ? pick(table.columns, PATTERNS.title, new Set([id])) : undefined;
    const columns = table.columns.filter((c) => c !== id && c !== title);
    features[side].push(...columns);
    Object.assign(multiValued, multiValuedColumns(table.sample, columns));
    draft[side] = { file: relative(dirname(options.out), file) || basename(file), id };
    if (title) draft.itemTitle = title;
  }
  return { features, multiValued };
}

export async function initGenericConfig(options: InitConfigOptions): Promise<InitConfigResult> {
  const delimiter = options.delimiter ?? ",";
  const source: TableSource = { file: options.data, delimiter };
  const notes: string[] = [];
  const { columns, sample } = await peekTable(source, SAMPLE_ROWS);
  const { user, item, timestamp, rating, label, split, taken } = guessRoles(options, columns);
  const draft: Record<string, unknown> = {
    name: basename(options.data).replace(/\.[^.]+$/, ""),
    file: relative(dirname(options.out), options.data) || basename(options.data),
    ...(formatOf(source) === "parquet" ? { format: "parquet" } : {}),
    ...(delimiter !== "," ? { delimiter } : {}),
    columns: { user, item, timestamp, ...(rating ? { rating } : { label }), ...(split ? { split } : {}) },
  };
  if (rating) Object.assign(draft, ratingScale(numbers(sample, rating), notes));
  const { features, multiValued } = await addSideTables(options, { item, user }, draft);
  const rest = columns.filter((c) => !taken.has(c));
  if (rest.length > 0) notes.push(`columns not used: ${rest.join(", ")} (add item columns to itemFeatures, user columns to userFeatures)`);
  if (features.items.length) draft.itemFeatures = features.items;
  if (features.users.length) draft.userFeatures = features.users;
  if (Object.keys(multiValued).length) {
    draft.multiValued = multiValued;
    notes.push(
      `multi-valued (${Object.entries(multiValued)
        .map(([c, r]) => `${c} split at "${r.separator}"`)
        .join(", ")})`,
    );
  }
  const parsed = genericConfigSchema.safeParse(draft);
  if (!parsed.success)
    throw new UserFacingError(
      `the guessed config is not valid: ${parsed.error.issues[0].path.join(".")}: ${parsed.error.issues[0].message}`,
    );
  return { config: draft as GenericConfig, notes };
}

/** Highest rating, step (0.5 when halves occur) and a label threshold at 80% of the scale, from sampled ratings. */
function ratingScale(values: number[], notes: string[]): Record<string, number> {
  const highest = Math.max(1, Math.ceil(Math.max(0, ...values)));
  const halves = values.some((v) => !Number.isInteger(v));
  const step = halves ? 0.5 : 1;
  const minPositiveRating = Math.max(step, Math.round(0.8 * highest));
  notes.push(
    `ratings up to ${highest}${halves ? " in half steps" : ""}; positive when rating >= ${minPositiveRating} (minPositiveRating: change it to your label rule)`,
  );
  return { ratingLevels: highest, ...(halves ? { ratingStep: step } : {}), minPositiveRating };
}
