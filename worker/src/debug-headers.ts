/**
 * Middleware of the score route: gives the handler a stage timer (`c.var.timer`) and a KV binding that counts this
 * request's reads (`c.var.kv`), and, on a successful answer to an admin that asked with `x-kser-debug`, reports them:
 * `kv` adds x-kser-kv-reads (kv-metrics.ts, as JSON), `timing` a Server-Timing header (timing.ts); `kv,timing` both.
 */
import { createMiddleware } from "hono/factory";
import { hasAdminToken } from "./admin-auth.ts";
import type { Env } from "./env.ts";
import { countingKv } from "./kv-metrics.ts";
import { StageTimer } from "./timing.ts";

export const DEBUG_HEADER = "x-kser-debug";
export const KV_READS_HEADER = "x-kser-kv-reads";
export const SERVER_TIMING_HEADER = "server-timing";

export interface DebugVariables {
  timer: StageTimer;
  /** The KSER_KV binding, counting reads: every KV read of the request's own scoring goes through it. */
  kv: KVNamespace;
}

export const debugHeaders = createMiddleware<{ Bindings: Env; Variables: DebugVariables }>(async (c, next) => {
  const timer = new StageTimer();
  const counted = countingKv(c.env.KSER_KV);
  c.set("timer", timer);
  c.set("kv", counted.kv);
  await next();
  const wanted = c.req
    .header(DEBUG_HEADER)
    ?.split(",")
    .map((s) => s.trim());
  if (!wanted || !c.res.ok || !(await hasAdminToken(c))) return;
  if (wanted.includes("kv")) c.header(KV_READS_HEADER, JSON.stringify(counted.stats));
  if (wanted.includes("timing")) c.header(SERVER_TIMING_HEADER, timer.header());
});
