import { execFile } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fetchMovieLens } from "../../trainer/data/fetch.ts";
import { readZip } from "../../trainer/data/unzip.ts";
import { UserFacingError } from "../../trainer/util/errors.ts";
import { buildZip, makeTempDir } from "./data-helpers.ts";

const run = promisify(execFile);
const temp = makeTempDir("fetch");
// A made-up archive with ml-100k's layout: real MovieLens data is never copied into tests.
const members = {
  "ml-100k/u.data": "1\t1\t5\t881250949\n",
  "ml-100k/u.item": `1|Test (1995)|01-Jan-1995||x|${Array(19).fill("0").join("|")}\n`,
  "ml-100k/u.user": "1|24|M|technician|85711\n",
  "ml-100k/README": "made up for a test\n",
};
const archive = buildZip(members);
const sha256 = `sha256:${createHash("sha256").update(archive).digest("hex")}`;
let server: Server;
let base: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    if (req.url === "/ml-100k.zip") {
      res.writeHead(200, { "content-type": "application/zip", "content-length": archive.length });
      res.end(archive);
    } else if (req.url === "/incomplete.zip") {
      res.end(buildZip({ "ml-100k/u.data": "x" }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  temp.cleanup();
});

describe("unzip", () => {
  it("reads deflated and stored entries and checks CRCs", () => {
    for (const store of [false, true]) {
      const entries = readZip(buildZip(members, store));
      expect(entries.map((e) => e.name)).toEqual(Object.keys(members));
      expect(Buffer.from(entries[0].data).toString()).toBe(members["ml-100k/u.data"]);
    }
    const damaged = buildZip({ "a.txt": "hello hello hello" }, true);
    damaged[30 + 5] ^= 1; // a byte of the stored data
    expect(() => readZip(damaged)).toThrow(/CRC-32/);
    expect(() => readZip(buildZip({ "../evil": "x" }))).toThrow(/unsafe path/);
    expect(() => readZip(Buffer.from("not a zip"))).toThrow(/not a ZIP/);
  });
});

describe("fetchMovieLens over HTTP on 127.0.0.1", () => {
  it("downloads, verifies the checksum and unpacks into <out>/ml-100k", async () => {
    const out = join(temp.dir, "ok");
    const dir = await fetchMovieLens("ml-100k", { outDir: out, url: `${base}/ml-100k.zip`, checksum: sha256 });
    expect(dir).toBe(join(out, "ml-100k"));
    expect(readFileSync(join(dir, "u.user"), "utf8")).toBe(members["ml-100k/u.user"]);
    expect(readdirSync(out)).toEqual(["ml-100k"]);
  });

  it("refuses a checksum mismatch and writes nothing", async () => {
    const out = join(temp.dir, "mismatch");
    const wrong = `sha256:${"0".repeat(64)}`;
    await expect(fetchMovieLens("ml-100k", { outDir: out, url: `${base}/ml-100k.zip`, checksum: wrong })).rejects.toThrow(
      /checksum mismatch/,
    );
    expect(existsSync(out)).toBe(false);
    // The pinned digest of the official archive does not match this made-up one either.
    await expect(fetchMovieLens("ml-100k", { outDir: out, url: `${base}/ml-100k.zip` })).rejects.toThrow(/checksum mismatch.*md5/);
  });

  it("refuses an archive without the expected files, and HTTP errors", async () => {
    const incomplete = buildZip({ "ml-100k/u.data": "x" });
    const md5 = `md5:${createHash("md5").update(incomplete).digest("hex")}`;
    const out = join(temp.dir, "incomplete");
    await expect(fetchMovieLens("ml-100k", { outDir: out, url: `${base}/incomplete.zip`, checksum: md5 })).rejects.toThrow(
      /lacks ml-100k\/u.item/,
    );
    await expect(fetchMovieLens("ml-100k", { outDir: out, url: `${base}/missing.zip`, checksum: md5 })).rejects.toThrow(/HTTP 404/);
  });

  it("says plainly when the host cannot be reached and points to --data", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const error = await fetchMovieLens("ml-1m", { outDir: join(temp.dir, "offline"), url: `http://127.0.0.1:${port}/ml-1m.zip` }).catch(
      (e) => e,
    );
    expect(error).toBeInstanceOf(UserFacingError);
    expect(error.message).toMatch(/could not reach 127\.0\.0\.1:\d+ \(ECONNREFUSED\).*--data PATH/);
  });
});

describe("kser data CLI", () => {
  it("fetches through a mirror, then prepares what it fetched", async () => {
    const out = join(temp.dir, "cli");
    const fetched = await run("node", [
      "bin/kser.js",
      "data",
      "fetch",
      "ml-100k",
      "--out",
      out,
      "--url",
      `${base}/ml-100k.zip`,
      "--checksum",
      sha256,
    ]);
    expect(fetched.stdout).toContain(join(out, "ml-100k"));
    const prepared = await run("node", [
      "bin/kser.js",
      "data",
      "prepare",
      "--source",
      "ml-100k",
      "--data",
      join(out, "ml-100k"),
      "--out",
      join(out, "prep"),
      "--knowledge-prefix",
      "0",
    ]);
    expect(prepared.stdout).toMatch(/prepared ml-100k: 1 users, 1 items, 1 interactions/);
    expect(existsSync(join(out, "prep", "meta.json"))).toBe(true);
  });

  it("exits 2 with a one-line message on a checksum mismatch or a bad record", async () => {
    const out = join(temp.dir, "cli-bad");
    const mismatch = await run("node", [
      "bin/kser.js",
      "data",
      "fetch",
      "ml-100k",
      "--out",
      out,
      "--url",
      `${base}/ml-100k.zip`,
      "--checksum",
      `md5:${"1".repeat(32)}`,
    ]).catch((e) => e);
    expect(mismatch.code).toBe(2);
    expect(mismatch.stderr).toMatch(/^kser: .*checksum mismatch/);
    const bad = await run("node", [
      "bin/kser.js",
      "data",
      "prepare",
      "--source",
      "generic",
      "--config",
      join(out, "nope.json"),
      "--out",
      join(out, "p"),
    ]).catch((e) => e);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/nope\.json: file not found/);
  });
});
