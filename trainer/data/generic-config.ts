/**
 * The column-mapping config of `--source generic` (JSON): which columns of an interaction file (CSV or Parquet) are
 * user, item, time and rating or label, which are model features, and optional items / users tables joined by id.
 * The descriptions here are the reference: docs/data.md's schema section is generated from this schema
 * (`npm run docs:data`), so the two cannot drift.
 */
import { readFile } from "node:fs/promises";
import { z } from "zod";
import { ITEM_ID_FIELD } from "../../shared/feature-encoding.ts";
import { InputFormatError } from "../util/errors.ts";
import { assertReadable } from "./lines.ts";

const fieldName = z
  .string()
  .regex(/^[A-Za-z0-9._-]{1,100}$/, "must be 1-100 of A-Z a-z 0-9 . _ - (it becomes a model field name)")
  .refine((s) => s !== ITEM_ID_FIELD, `${ITEM_ID_FIELD} is reserved`);
const column = z.string().min(1);
const format = z.enum(["csv", "parquet"]);
const delimiter = z.string().length(1);

const tableSchema = z.strictObject({
  file: z.string().min(1).describe("The table's file (CSV or Parquet), relative to the config file."),
  format: format.optional().describe("`csv` or `parquet`; default: from the file's extension (`.parquet`), else CSV."),
  delimiter: delimiter.optional().describe("CSV delimiter of this table; default: the config's `delimiter`."),
  id: column.describe("The column holding the id that the interaction file's user (item) column refers to."),
});

const multiValuedSchema = z.strictObject({
  separator: z.string().min(1).max(8).default("|").describe("What separates the values in a cell."),
  maxValues: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(16)
    .describe(
      "The most values a row keeps (the first ones, in the cell's order); the model's bag size is the largest count seen, up to this.",
    ),
});

export const genericConfigSchema = z
  .strictObject({
    name: z.string().min(1).default("generic").describe("The dataset's name, recorded in the prepared dataset."),
    file: z
      .string()
      .min(1)
      .optional()
      .describe(
        "The interaction file (CSV or Parquet), relative to the config file; `--data FILE` replaces it. With `splitFiles`, the train interactions.",
      ),
    format: format.optional().describe("`csv` or `parquet`; default: from the file's extension (`.parquet`), else CSV."),
    delimiter: delimiter
      .default(",")
      .describe("CSV delimiter (one character) of every CSV file of this config unless a table sets its own."),
    columns: z
      .strictObject({
        user: column.describe("User id column."),
        item: column.describe("Item id column."),
        timestamp: column.describe(
          "Time of the interaction: a number (any monotone clock) or an ISO 8601 date; orders each user's history.",
        ),
        rating: column
          .optional()
          .describe("Explicit rating (give `rating` or `label`): a number from 0 to `ratingLevels`, in steps of `ratingStep`."),
        label: column
          .optional()
          .describe("Implicit feedback (give `rating` or `label`): 0/1 or true/false; history shows it as rating 1 (0) or 2 (1)."),
        split: column
          .optional()
          .describe(
            "The split of each interaction, one of `splitValues`; without it (and without `splitFiles`) users are split at random by `--splits`.",
          ),
      })
      .describe("Which column is what in the interaction file."),
    minPositiveRating: z
      .number()
      .optional()
      .describe("The label rule with a rating column: positive when rating >= this (required with `columns.rating`)."),
    ratingLevels: z.number().int().min(1).max(100).default(5).describe("The highest rating."),
    ratingStep: z
      .number()
      .positive()
      .default(1)
      .describe(
        "Ratings come in steps of this (0.5 for half stars); a rating off the grid is an error. History and labels read the same value.",
      ),
    itemFeatures: z
      .array(fieldName)
      .default([])
      .describe(
        "Item columns that become model fields (named like the column: 1-100 of A-Z a-z 0-9 . _ -, not item_id): from `items` when given, else from the interaction file (an item's first row).",
      ),
    userFeatures: z
      .array(fieldName)
      .default([])
      .describe("User columns that become model fields: from `users` when given, else from the interaction file (a user's first row)."),
    itemTitle: column.optional().describe("Item column with a readable title (knowledge prompts); from `items` when given."),
    multiValued: z
      .record(fieldName, multiValuedSchema)
      .default({})
      .describe(
        'Features whose cells hold several values, by column name (e.g. `{"genres": {"separator": "|"}}`): each becomes a bag of values, pooled by mean in the model. Each key must be in `itemFeatures` or `userFeatures`.',
      ),
    items: tableSchema
      .optional()
      .describe("An items table joined to the interactions by item id; `itemFeatures` and `itemTitle` are its columns."),
    users: tableSchema.optional().describe("A users table joined to the interactions by user id; `userFeatures` are its columns."),
    splitFiles: z
      .strictObject({
        valid: z.string().min(1).describe("Validation interactions, relative to the config file."),
        test: z.string().min(1).describe("Test interactions, relative to the config file."),
      })
      .optional()
      .describe("A given split as separate files with the interaction file's columns; `file` (or `--data`) holds the train interactions."),
    splitValues: z
      .strictObject({
        train: z.string().min(1).default("train").describe("Marks a train interaction."),
        valid: z.string().min(1).default("valid").describe("Marks a validation interaction."),
        test: z.string().min(1).default("test").describe("Marks a test interaction."),
      })
      .default({ train: "train", valid: "valid", test: "test" })
      .describe("The values of `columns.split` that mean train, valid and test."),
  })
  .superRefine((c, ctx) => {
    if ((c.columns.rating === undefined) === (c.columns.label === undefined)) {
      ctx.addIssue({ code: "custom", path: ["columns"], message: "give exactly one of rating or label" });
    }
    if (c.columns.rating !== undefined && c.minPositiveRating === undefined) {
      ctx.addIssue({ code: "custom", path: ["minPositiveRating"], message: "is required with a rating column (the label rule)" });
    }
    const steps = c.ratingLevels / c.ratingStep;
    if (Math.abs(steps - Math.round(steps)) > 1e-9 || steps > 1000)
      ctx.addIssue({ code: "custom", path: ["ratingStep"], message: "must divide ratingLevels into at most 1000 steps" });
    const all = [...c.itemFeatures, ...c.userFeatures];
    if (new Set(all).size !== all.length) ctx.addIssue({ code: "custom", path: ["itemFeatures"], message: "a column is listed twice" });
    for (const name of Object.keys(c.multiValued))
      if (!all.includes(name))
        ctx.addIssue({ code: "custom", path: ["multiValued", name], message: "is not in itemFeatures or userFeatures" });
    if (c.columns.split !== undefined && c.splitFiles !== undefined)
      ctx.addIssue({ code: "custom", path: ["splitFiles"], message: "give a split column or split files, not both" });
  });
export type GenericConfig = z.infer<typeof genericConfigSchema>;

export async function readGenericConfig(file: string): Promise<GenericConfig> {
  await assertReadable(file);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, "utf8"));
  } catch (error) {
    throw new InputFormatError(file, undefined, undefined, `not valid JSON (${(error as Error).message})`);
  }
  const result = genericConfigSchema.safeParse(value);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new InputFormatError(file, undefined, issue.path.map(String).join(".") || "(root)", issue.message);
  }
  return result.data;
}
