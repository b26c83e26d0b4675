/**
 * Import of KAR's released knowledge files (*.klg): JSON objects {id: {prompt, ans}}, one file per field. The
 * answers become knowledge texts (chunked later by the prompt factors of the dataset's domain).
 */
import { InputFormatError } from "../util/errors.ts";
import { readInputText } from "../util/input-file.ts";
import { type Domain, promptsFor } from "./prompts.ts";
import type { EntityKnowledge, KnowledgeTexts } from "./types.ts";

/** One .klg file as id -> knowledge text. */
export function readKlg(path: string): Map<string, EntityKnowledge> {
  const text = readInputText(path, "knowledge file");
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new InputFormatError(path, undefined, undefined, `not valid JSON (${(error as Error).message})`);
  }
  if (json === null || typeof json !== "object" || Array.isArray(json)) {
    throw new InputFormatError(path, undefined, undefined, "expected a JSON object {id: {prompt, ans}}");
  }
  const out = new Map<string, EntityKnowledge>();
  for (const [id, entry] of Object.entries(json as Record<string, unknown>)) {
    const ans = (entry as { ans?: unknown } | null)?.ans;
    if (typeof ans !== "string") throw new InputFormatError(path, undefined, `${id}.ans`, "missing or not a string");
    out.set(id, { text: ans.trim() });
  }
  return out;
}

/** The factors a domain's prompts ask about, per field: chunk headings for answers to those prompts. */
export function factorsOf(domain: Domain): KnowledgeTexts["factors"] {
  const prompts = promptsFor(domain);
  return { user: prompts.user.factors, item: prompts.item.factors };
}

/** Both fields' .klg files as knowledge texts; `factors` (a domain's, factorsOf) head chunks; default none. */
export function importKlg(
  paths: { user?: string; item?: string },
  factors: KnowledgeTexts["factors"] = { user: [], item: [] },
): KnowledgeTexts {
  return {
    source: "klg",
    factors,
    user: paths.user ? readKlg(paths.user) : new Map(),
    item: paths.item ? readKlg(paths.item) : new Map(),
  };
}
