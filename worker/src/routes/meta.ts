/** Public read-only routes: liveness, readiness, the models behind the live rollout, and the OpenAPI document. */
import { Hono } from "hono";
import { kvKeys } from "../../../shared/kv-keys.ts";
import { parseManifest } from "../../../shared/manifest.ts";
import type { RolloutConfig } from "../../../shared/rollout.ts";
import type { AppEnv } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { errorMessage } from "../log.ts";
import { openApiDocument } from "../openapi.ts";
import { ortStatus } from "../ort-runtime.ts";
import { RequestReads } from "../request-reads.ts";
import { servicesFor } from "../services.ts";

export const metaRoutes = new Hono<AppEnv>();

/** Liveness: this isolate answers requests. Always 200; whether it can serve is readiness (/v1/ready). */
metaRoutes.get("/v1/health", (c) => c.json({ status: "ok", ort: ortStatus() }));

/**
 * Readiness: ORT has started, the rollout config is readable, and every model of the live rollout loads (manifest,
 * graphs, vocabulary), loading it into this isolate if need be. 503 with the reasons when any of that fails.
 */
metaRoutes.get("/v1/ready", async (c) => {
  const settings = settingsOf(c.env);
  const { rollout, models } = servicesFor(settings);
  const kv = c.env.KSER_KV;
  const reads = new RequestReads();
  const reasons: string[] = [];
  const ort = ortStatus();
  if (!ort.ready) reasons.push(`ORT has not started${ort.error ? `: ${ort.error}` : ""}`);
  let config: RolloutConfig | undefined;
  try {
    config = await rollout.get(kv, settings.rolloutCacheMs);
  } catch (e) {
    reasons.push(errorMessage(e));
  }
  const variants = await Promise.all(
    (config?.variants ?? []).map(async (v) => {
      try {
        await models.use(kv, v.modelId, reads, async () => undefined);
        return { variant: v.name, modelId: v.modelId, ok: true };
      } catch (e) {
        reasons.push(`variant ${v.name}: ${errorMessage(e)}`);
        return { variant: v.name, modelId: v.modelId, ok: false, problem: errorMessage(e) };
      }
    }),
  );
  const ready = reasons.length === 0;
  return c.json({ status: ready ? "ready" : "not_ready", reasons, ort, updatedAt: config?.updatedAt ?? null, variants }, ready ? 200 : 503);
});

metaRoutes.get("/v1/models", async (c) => {
  const settings = settingsOf(c.env);
  const { rollout, models } = servicesFor(settings);
  const config = await rollout.get(c.env.KSER_KV, settings.rolloutCacheMs);
  const loaded = new Set(models.loadedIds());
  const variants = await Promise.all(
    config.variants.map(async (v) => {
      const base = {
        variant: v.name,
        modelId: v.modelId,
        weight: v.weight,
        fallback: config.fallback === v.name,
        loaded: loaded.has(v.modelId),
      };
      try {
        const text = await c.env.KSER_KV.get(kvKeys.model(v.modelId), "text");
        if (text === null) return { ...base, manifest: null, problem: "manifest missing" };
        const m = parseManifest(JSON.parse(text));
        return {
          ...base,
          manifest: {
            createdAt: m.createdAt,
            backbone: m.backbone,
            extractor: m.extractor,
            strategy: m.strategy,
            embeddingDim: m.embeddingDim,
            metrics: m.metrics ?? {},
          },
        };
      } catch (e) {
        return { ...base, manifest: null, problem: errorMessage(e) };
      }
    }),
  );
  return c.json({ updatedAt: config.updatedAt, variants });
});

metaRoutes.get("/openapi.json", (c) => c.json(openApiDocument(settingsOf(c.env).maxCandidates)));
