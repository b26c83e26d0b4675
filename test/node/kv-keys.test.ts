// The id part of KV keys (entityKeyPart): the one rule the publisher and the worker share for user ids in keys.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_ID_LENGTH } from "../../shared/ids.ts";
import { entityKeyPart, KV_ID_VERBATIM_BYTES, kvKeys } from "../../shared/kv-keys.ts";
import { MAX_KEY_BYTES } from "../../trainer/kv/limits.ts";
import { jsonEntry, validateBundle } from "../../trainer/publish/kv-bundle.ts";

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

describe("entityKeyPart", () => {
  it("keeps short ids as they are", () => {
    for (const id of ["u1", "user 42", "é/ü", ".", "..", "x".repeat(KV_ID_VERBATIM_BYTES)]) expect(entityKeyPart(id)).toBe(id);
    expect(kvKeys.userProfile("p1", "u1")).toBe("user/p1/u1");
  });

  it("hashes ids over the verbatim limit, and ids that start with the hash marker", () => {
    for (const id of ["x".repeat(KV_ID_VERBATIM_BYTES + 1), "€".repeat(43), "#", "#abc"]) {
      expect(utf8(id) > KV_ID_VERBATIM_BYTES || id.startsWith("#")).toBe(true);
      expect(entityKeyPart(id)).toBe(`#${sha256(id)}`);
    }
    expect(entityKeyPart("a".repeat(200))).not.toBe(entityKeyPart("a".repeat(201)));
  });

  it("gives every id the API accepts a key within KV's limit that the publisher accepts", () => {
    const longest = ["😀".repeat(MAX_ID_LENGTH / 2), "€".repeat(MAX_ID_LENGTH), "\u0800".repeat(MAX_ID_LENGTH)];
    for (const id of longest) {
      const key = kvKeys.userProfile("s".repeat(100), id); // the longest profile set name a manifest allows
      expect(utf8(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
      expect(() => validateBundle({ entries: [jsonEntry(key, { userId: id, attributes: {}, history: [] }, "data")] })).not.toThrow();
    }
  });

  it("refuses a lone surrogate, which has no UTF-8 form", () => {
    expect(() => entityKeyPart("a\ud800")).toThrow(/lone surrogate at index 1/);
  });
});
