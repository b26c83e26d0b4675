/**
 * docs/data.md's config reference is generated from the zod schema (`npm run docs:data`): this fails when the schema
 * changed and the page was not regenerated, and shows that every setting of the schema is in the table; the data
 * commands' --help points to it.
 */
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { renderConfigReference, withCurrentReference } from "../../trainer/data/config-reference.ts";
import { genericConfigSchema } from "../../trainer/data/generic-config.ts";

const page = readFileSync(path.resolve(import.meta.dirname, "../../docs/data.md"), "utf8");

describe("docs/data.md", () => {
  it("holds the config reference generated from the current schema (else: npm run docs:data)", () => {
    expect(withCurrentReference(page) === page, "docs/data.md is out of date: run npm run docs:data").toBe(true);
  });

  it("lists every top-level setting of the schema, and would notice a new one", () => {
    const table = renderConfigReference();
    for (const key of Object.keys(genericConfigSchema.shape)) expect(table, key).toContain(`| \`${key}\` |`);
    const changed = page.replace("| `ratingStep` |", "| `ratingSteps` |");
    expect(withCurrentReference(changed)).not.toBe(changed);
  });

  it("is where `kser data prepare --help` and `kser data init-config --help` send a user", () => {
    for (const command of ["prepare", "init-config"]) {
      const help = execFileSync(process.execPath, ["bin/kser.js", "data", command, "--help"], {
        cwd: path.resolve(import.meta.dirname, "../.."),
        encoding: "utf8",
      });
      expect(help, command).toContain("docs/data.md");
    }
  });
});
