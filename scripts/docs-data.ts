/** `npm run docs:data`: rewrites the generated config reference in docs/data.md from the zod schema. */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { withCurrentReference } from "../trainer/data/config-reference.ts";

const file = path.resolve(import.meta.dirname, "../docs/data.md");
const before = readFileSync(file, "utf8");
const after = withCurrentReference(before);
if (after === before) console.log(`${file}: the config reference is up to date`);
else {
  writeFileSync(file, after);
  console.log(`${file}: config reference rewritten`);
}
