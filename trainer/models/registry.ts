/** Backbones and extractors by name. */

import { autoint } from "./backbones/autoint.ts";
import type { Backbone } from "./backbones/backbone.ts";
import { dcnv1 } from "./backbones/dcnv1.ts";
import { dcnv2 } from "./backbones/dcnv2.ts";
import { deepfm } from "./backbones/deepfm.ts";
import { dien } from "./backbones/dien.ts";
import { din } from "./backbones/din.ts";
import { fibinet } from "./backbones/fibinet.ts";
import { fignn } from "./backbones/fignn.ts";
import { xdeepfm } from "./backbones/xdeepfm.ts";
import type { Extractor } from "./extractors/extractor.ts";
import { kar } from "./extractors/kar.ts";
import { kser, kserNoAlign, kserNoFilter } from "./extractors/kser.ts";
import { noExtractor } from "./extractors/none.ts";
import { rawExtractor } from "./extractors/raw.ts";

const BACKBONES = new Map<string, Backbone>([deepfm, dcnv2, din, autoint, xdeepfm, fibinet, fignn, dcnv1, dien].map((b) => [b.name, b]));
const EXTRACTORS = new Map<string, Extractor>([noExtractor, kser, kserNoFilter, kserNoAlign, rawExtractor, kar].map((e) => [e.name, e]));

export function getBackbone(name: string): Backbone {
  const b = BACKBONES.get(name);
  if (!b) throw new Error(`unknown backbone "${name}" (known: ${[...BACKBONES.keys()].join(", ")})`);
  return b;
}

export function getExtractor(name: string): Extractor {
  const e = EXTRACTORS.get(name);
  if (!e) throw new Error(`unknown extractor "${name}" (known: ${[...EXTRACTORS.keys()].join(", ")})`);
  return e;
}

export const backboneNames = () => [...BACKBONES.keys()];
export const extractorNames = () => [...EXTRACTORS.keys()];
