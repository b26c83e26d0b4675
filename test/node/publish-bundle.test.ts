/** KV bundles on disk: replaced atomically, value types kept, corruption and invalid entries caught; the redactor. */
import { randomBytes } from "node:crypto";
import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { kvKeys } from "../../shared/kv-keys.ts";
import { blobEntry, jsonEntry, readBundle, validateBundle, writeBundle } from "../../trainer/publish/kv-bundle.ts";
import { createRedactor } from "../../trainer/util/redact.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "kser-bundle-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("KV bundle directory", () => {
  it("replaces an existing bundle whole, leaves no temporary folders, and keeps string vs binary values", async () => {
    const out = join(dir, "bundle");
    await writeBundle(out, { entries: [jsonEntry(kvKeys.model("old"), { v: 1 }, "manifest")] });
    const bytes = new Uint8Array(randomBytes(1000));
    await writeBundle(out, { entries: [blobEntry(bytes), jsonEntry(kvKeys.model("new"), { v: 2 }, "manifest")] });
    expect(await readdir(dir)).toEqual(["bundle"]);
    const read = await readBundle(out);
    expect(read.entries.map((e) => e.key)).toEqual([blobEntry(bytes).key, "model/new"]);
    expect(read.entries[0].value).toBeInstanceOf(Uint8Array);
    expect(Buffer.from(read.entries[0].value as Uint8Array).equals(Buffer.from(bytes))).toBe(true);
    expect(read.entries[1].value).toBe(JSON.stringify({ v: 2 }));
  });

  it("detects a value file changed after writing", async () => {
    const out = join(dir, "bundle");
    const index = await writeBundle(out, { entries: [jsonEntry(kvKeys.userProfile("p1", "u1"), { a: 1 }, "data")] });
    await writeFile(join(out, index.entries[0].file), '{"a":2}');
    await expect(readBundle(out)).rejects.toThrow(/user\/p1\/u1.*sha256 differs/);
  });

  it("rejects duplicate keys, a blob not addressed by its sha256, oversize keys, and blob/ keys outside the blob stage", () => {
    const b = new Uint8Array([1, 2, 3]);
    expect(() => validateBundle({ entries: [blobEntry(b), blobEntry(b)] })).toThrow(/duplicate key/);
    expect(() => validateBundle({ entries: [{ key: "blob/abc", value: b, stage: "blob" }] })).toThrow(/not blob\/<sha256/);
    expect(() => validateBundle({ entries: [{ key: "k".repeat(513), value: "v", stage: "data" }] })).toThrow(/longer than 512/);
    expect(() => validateBundle({ entries: [{ key: blobEntry(b).key, value: b, stage: "data" }] })).toThrow(/blob stage/);
  });
});

describe("redactor", () => {
  it("masks registered secrets (also percent-encoded) and credential-shaped text it was never told about", () => {
    const redact = createRedactor(["s3cr3t/token+x"]);
    const text = redact(
      "a s3cr3t/token+x b s3cr3t%2Ftoken%2Bx c Authorization: Bearer abc.def-123 d X-Auth-Key: 0123abcd e CLOUDFLARE_API_TOKEN=zzz999",
    );
    for (const leaked of ["s3cr3t", "abc.def-123", "0123abcd", "zzz999"]) expect(text).not.toContain(leaked);
    expect(text).toContain("[redacted]");
    expect(redact("kn/bank/user/3 and blob/00ff")).toBe("kn/bank/user/3 and blob/00ff");
  });
});
