/**
 * The rule for the user and item ids the API accepts: 1 to MAX_ID_LENGTH UTF-16 code units of well-formed text
 * (no lone surrogate, which has no UTF-8 form and so no KV key). How an id becomes part of a KV key: entityKeyPart.
 */
import { z } from "zod";

export const MAX_ID_LENGTH = 256;

/** The error code (in a custom issue's params.code) of an id that is not well-formed; the API answers it with 400. */
export const MALFORMED_ID_CODE = "invalid_id";

/** Index of the first lone surrogate in `id`, or -1 when it is well-formed UTF-16 (in "u" mode a pair is one code point). */
export function loneSurrogateAt(id: string): number {
  return /\p{Cs}/u.exec(id)?.index ?? -1;
}

/** A user or item id as the API and the stored profiles take it. */
export const idSchema = z
  .string()
  .min(1, "must not be empty")
  .max(MAX_ID_LENGTH, `is too long: ids are at most ${MAX_ID_LENGTH} UTF-16 code units`)
  .superRefine((id, ctx) => {
    const at = loneSurrogateAt(id);
    if (at < 0) return;
    ctx.addIssue({
      code: "custom",
      message: `has a lone surrogate (U+${id.charCodeAt(at).toString(16).toUpperCase()}) at index ${at}: ids must be well-formed Unicode`,
      params: { code: MALFORMED_ID_CODE },
    });
  });
