/** The plain backbone: no knowledge at all. */
import type { Extractor } from "./extractor.ts";

export const noExtractor: Extractor = {
  name: "none",
  usesKnowledge: false,
  user() {
    throw new Error('extractor "none" has no user graph');
  },
  item() {
    throw new Error('extractor "none" has no item graph');
  },
};
