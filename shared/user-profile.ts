/** A user's profile in KV (kvKeys.userProfile): raw side features and recent history, newest last. */
import { z } from "zod";
import { idSchema } from "./ids.ts";

export const historyEntrySchema = z.object({
  itemId: idSchema,
  /** Explicit rating when known (1..5 on MovieLens, 0.5..5 in half stars on its latest releases); omitted means unknown. */
  rating: z.number().min(0).max(100).optional(),
});

export const userProfileSchema = z.object({
  userId: idSchema,
  /** Raw values of the user-side categorical fields, by field name. */
  attributes: z.record(z.string(), z.string()),
  history: z.array(historyEntrySchema),
});

export type HistoryEntry = z.infer<typeof historyEntrySchema>;
export type UserProfile = z.infer<typeof userProfileSchema>;
