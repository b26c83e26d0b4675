/** The score API's request and response bodies (POST /v1/score). */
import { z } from "zod";
import { idSchema } from "./ids.ts";
import { historyEntrySchema } from "./user-profile.ts";

export const DEFAULT_MAX_CANDIDATES = 1000;
export const MAX_HISTORY = 200;

const schemas = new Map<number, ReturnType<typeof buildScoreRequestSchema>>();

/** The request schema for a candidate limit; built once per limit (a zod schema is not free to build per request). */
export function scoreRequestSchema(maxCandidates: number) {
  let schema = schemas.get(maxCandidates);
  if (!schema) {
    schema = buildScoreRequestSchema(maxCandidates);
    schemas.set(maxCandidates, schema);
  }
  return schema;
}

function buildScoreRequestSchema(maxCandidates: number) {
  return z.object({
    userId: idSchema,
    /** Recent history, newest last; when omitted the user's stored profile history is used. */
    history: z.array(historyEntrySchema).max(MAX_HISTORY).optional(),
    /** Raw user-side attributes, overriding the stored profile's. */
    attributes: z.record(z.string(), z.string()).optional(),
    candidates: z
      .array(idSchema)
      .min(1, "candidates must hold at least one item id")
      .max(maxCandidates, `at most ${maxCandidates} candidates per request`),
  });
}

export type ScoreRequest = z.infer<ReturnType<typeof scoreRequestSchema>>;

export interface ScoredItem {
  itemId: string;
  score: number;
}

export interface ScoreResponse {
  /** Scores aligned with request.candidates (probability of a positive interaction). */
  scores: number[];
  /** The same candidates sorted by score, best first. */
  ranked: ScoredItem[];
  variant: string;
  modelId: string;
  /** Which knowledge the request used: how many candidates had precomputed vectors, fell back, or had none. */
  knowledge: { user: "present" | "missing" | "none"; itemsPrecomputed: number; itemsFallback: number; itemsMissing: number };
}

export interface ErrorResponse {
  error: { code: string; message: string };
}

export const VARIANT_HEADER = "x-kser-variant";
export const MODEL_HEADER = "x-kser-model";
/** QA override: force a variant; honoured only with a valid admin bearer token. */
export const OVERRIDE_HEADER = "x-kser-force-variant";
