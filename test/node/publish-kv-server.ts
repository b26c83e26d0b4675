/**
 * A local HTTP server speaking the subset of the Workers KV REST API the publisher uses (PUT /bulk,
 * GET /values/:key, POST /bulk/get, GET /keys, DELETE /values/:key, POST /bulk/delete), with the documented limits
 * enforced and failures that tests can inject: a status (429 with retry-after, 500, or 200 with success: false) for
 * the next N requests, keys reported as unsuccessful, a permanent failure after N requests ("failure halfway"),
 * writes it silently corrupts or drops while reporting success, and requests it never answers (to kill the client
 * at a known point).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  pairs?: number;
  bodyBytes: number;
  status: number;
}

export interface InjectedFailure {
  status: number;
  retryAfter?: string;
  /** Applies to requests with this method (any when absent). */
  method?: string;
  times: number;
}

const MAX_PAIRS = 10_000;
const MAX_BODY = 100_000_000;
const MAX_VALUE = 25 * 1024 * 1024;

export class FakeKvApi {
  readonly store = new Map<string, Buffer>();
  readonly requests: RecordedRequest[] = [];
  /** Consumed in order: each matching request takes one `times` from the first applicable entry. */
  failures: InjectedFailure[] = [];
  /** After this many requests, every request gets 500 (a backend that went down halfway). */
  failAfter: number | undefined;
  /** Keys reported in unsuccessful_keys (and not stored) the next time they are sent. */
  unsuccessfulOnce = new Set<string>();
  /** Error bodies repeat the request's Authorization header, as a careless proxy might: the client must not pass it on. */
  echoAuthInErrors = false;
  /** A written key for which this returns true is stored with its first byte flipped, and reported successful. */
  corrupt: ((key: string) => boolean) | undefined;
  /** A written key for which this returns true is not stored at all, and reported successful. */
  drop: ((key: string) => boolean) | undefined;
  /** A request for which this returns true is never answered (the client hangs until killed or timed out). */
  stall: ((method: string, path: string, body: Buffer) => boolean) | undefined;
  /** Requests held unanswered by `stall`, and a callback run when one arrives. */
  stalled = 0;
  onStall: (() => void) | undefined;
  baseUrl = "";
  private server: Server | undefined;

  constructor(
    readonly accountId: string,
    readonly namespaceId: string,
    readonly token: string,
  ) {}

  async start(): Promise<string> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error) => {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ success: false, errors: [{ code: 10000, message: String(error) }] }));
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(0, "127.0.0.1", resolve));
    const { port } = this.server.address() as AddressInfo;
    this.baseUrl = `http://127.0.0.1:${port}/client/v4`;
    return this.baseUrl;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    if (this.server) await new Promise<void>((resolve) => this.server!.close(() => resolve()));
  }

  /** Counts of requests by "METHOD /route" (values/keys collapsed). */
  count(method: string, route: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(route)).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const c of req) {
      chunks.push(c as Buffer);
      size += (c as Buffer).length;
    }
    const body = Buffer.concat(chunks);
    const url = new URL(req.url ?? "/", "http://x");
    const method = req.method ?? "GET";
    const prefix = `/client/v4/accounts/${this.accountId}/storage/kv/namespaces/${this.namespaceId}`;
    const path = url.pathname.startsWith(prefix) ? url.pathname.slice(prefix.length) : url.pathname;
    const rec: RecordedRequest = { method, path, bodyBytes: size, status: 0 };
    this.requests.push(rec);
    const send = (status: number, payload: unknown, headers: Record<string, string> = {}) => {
      rec.status = status;
      const isBytes = payload instanceof Uint8Array;
      res.writeHead(status, { "content-type": isBytes ? "application/octet-stream" : "application/json", ...headers });
      res.end(isBytes ? payload : JSON.stringify(payload));
    };
    const echo = this.echoAuthInErrors ? ` (request had authorization: ${req.headers.authorization})` : "";
    const fail = (status: number, message: string, headers: Record<string, string> = {}) =>
      send(status, { success: false, errors: [{ code: status * 10, message: message + echo }], messages: [], result: null }, headers);
    const ok = (result: unknown, extra: Record<string, unknown> = {}) =>
      send(200, { success: true, errors: [], messages: [], result, ...extra });

    if (req.headers.authorization !== `Bearer ${this.token}`) return fail(403, "Authentication error");
    if (!url.pathname.startsWith(prefix)) return fail(404, "No route for that URI");
    if (this.failAfter !== undefined && this.requests.length > this.failAfter) return fail(500, "Internal server error");
    if (this.stall?.(method, path, body)) {
      this.stalled++;
      this.onStall?.();
      return;
    }
    const injected = this.failures.find((f) => f.times > 0 && (!f.method || f.method === method));
    if (injected) {
      injected.times--;
      return fail(injected.status, "injected failure", injected.retryAfter ? { "retry-after": injected.retryAfter } : {});
    }

    if (method === "PUT" && path === "/bulk") {
      if (size > MAX_BODY) return fail(413, "request body over 100 MB");
      const items = JSON.parse(body.toString("utf8")) as { key: string; value: string; base64?: boolean }[];
      rec.pairs = items.length;
      if (!Array.isArray(items) || items.length > MAX_PAIRS) return fail(400, `at most ${MAX_PAIRS} pairs per request`);
      const unsuccessful: string[] = [];
      for (const item of items) {
        const value = item.base64 ? Buffer.from(item.value, "base64") : Buffer.from(item.value, "utf8");
        if (value.length > MAX_VALUE) return fail(413, `value for a key over 25 MiB`);
        if (this.unsuccessfulOnce.delete(item.key)) unsuccessful.push(item.key);
        else if (this.drop?.(item.key)) continue;
        else if (this.corrupt?.(item.key) && value.length > 0) {
          const bad = Buffer.from(value);
          bad[0] ^= 0xff;
          this.store.set(item.key, bad);
        } else this.store.set(item.key, value);
      }
      return ok({ successful_key_count: items.length - unsuccessful.length, unsuccessful_keys: unsuccessful });
    }
    if (method === "GET" && path.startsWith("/values/")) {
      const value = this.store.get(decodeURIComponent(path.slice("/values/".length)));
      return value === undefined ? fail(404, "key not found") : send(200, new Uint8Array(value));
    }
    if (method === "POST" && path === "/bulk/get") {
      const { keys, type } = JSON.parse(body.toString("utf8")) as { keys: string[]; type?: string };
      if (!Array.isArray(keys) || keys.length > 100) return fail(400, "at most 100 keys per bulk get");
      if (type !== undefined && type !== "text" && type !== "json") return fail(400, "type must be text or json");
      const values = Object.fromEntries(keys.map((k) => [k, this.store.get(k)?.toString("utf8") ?? null]));
      return ok({ values });
    }
    if (method === "DELETE" && path.startsWith("/values/")) {
      this.store.delete(decodeURIComponent(path.slice("/values/".length)));
      return ok(null);
    }
    if (method === "POST" && path === "/bulk/delete") {
      const keys = JSON.parse(body.toString("utf8")) as string[];
      for (const k of keys) this.store.delete(k);
      return ok({ successful_key_count: keys.length, unsuccessful_keys: [] });
    }
    if (method === "GET" && path === "/keys") {
      const prefixQ = url.searchParams.get("prefix") ?? "";
      const limit = Math.min(Number(url.searchParams.get("limit") ?? 1000), 1000);
      const start = Number(url.searchParams.get("cursor") || 0);
      const keys = [...this.store.keys()].filter((k) => k.startsWith(prefixQ)).sort();
      const page = keys.slice(start, start + limit);
      const cursor = start + limit < keys.length ? String(start + limit) : "";
      return ok(
        page.map((name) => ({ name })),
        { result_info: { count: page.length, cursor } },
      );
    }
    return fail(404, "No route for that URI");
  }
}
