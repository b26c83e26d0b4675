// The id part of KV keys (kvIdPart): the one rule the publisher and the worker share for user ids in keys.
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { MAX_ID_LENGTH } from "../../shared/ids.ts";
import { KV_ID_VERBATIM_BYTES, kvIdPart, kvKeys } from "../../shared/kv-keys.ts";
import { jsonEntry, MAX_KEY_BYTES, validateBundle } from "../../trainer/publish/kv-bundle.ts";

const utf8 = (s: string) => new TextEncoder().encode(s).length;
const sha256 = (s: string) => createHash("sha256").update(s, "utf8").digest("hex");

describe("kvIdPart", () => {
  it("keeps short ids as they are", () => {
    for (const id of ["u1", "user 42", "é/ü", ".", "..", "x".repeat(KV_ID_VERBATIM_BYTES)]) expect(kvIdPart(id)).toBe(id);
    expect(kvKeys.userProfile("u1")).toBe("user/u1");
  });

  it("hashes ids over the verbatim limit, and ids that start with the hash marker", () => {
    for (const id of ["x".repeat(KV_ID_VERBATIM_BYTES + 1), "€".repeat(43), "#", "#abc"]) {
      expect(utf8(id) > KV_ID_VERBATIM_BYTES || id.startsWith("#")).toBe(true);
      expect(kvIdPart(id)).toBe(`#${sha256(id)}`);
    }
    expect(kvIdPart("a".repeat(200))).not.toBe(kvIdPart("a".repeat(201)));
  });

  it("gives every id the API accepts a key within KV's limit that the publisher accepts", () => {
    const longest = ["😀".repeat(MAX_ID_LENGTH / 2), "€".repeat(MAX_ID_LENGTH), "\u0800".repeat(MAX_ID_LENGTH)];
    for (const id of longest) {
      const key = kvKeys.userProfile(id);
      expect(utf8(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
      expect(() => validateBundle({ entries: [jsonEntry(key, { userId: id, attributes: {}, history: [] }, "data")] })).not.toThrow();
    }
  });

  it("refuses a lone surrogate, which has no UTF-8 form", () => {
    expect(() => kvIdPart("a\ud800")).toThrow(/lone surrogate at index 1/);
  });
});
