/** Public read-only routes: health, the models behind the live rollout, and the OpenAPI document. */
import { Hono } from "hono";
import { kvKeys } from "../../../shared/kv-keys.ts";
import { parseManifest } from "../../../shared/manifest.ts";
import type { AppEnv } from "../admin-auth.ts";
import { settingsOf } from "../env.ts";
import { errorMessage } from "../log.ts";
import { openApiDocument } from "../openapi.ts";
import { ortStatus } from "../ort-runtime.ts";
import { servicesFor } from "../services.ts";

export const metaRoutes = new Hono<AppEnv>();

metaRoutes.get("/v1/health", async (c) => {
  const settings = settingsOf(c.env);
  const { rollout, models } = servicesFor(settings);
  const ort = ortStatus();
  let rolloutStatus: { ok: boolean; variants?: number; error?: string };
  try {
    const config = await rollout.get(c.env.KSER_KV, settings.rolloutCacheMs);
    rolloutStatus = { ok: true, variants: config.variants.length };
  } catch (e) {
    rolloutStatus = { ok: false, error: errorMessage(e) };
  }
  const ok = ort.ready && rolloutStatus.ok;
  return c.json({ status: ok ? "ok" : "degraded", ort, rollout: rolloutStatus, loadedModels: models.loadedIds() }, ok ? 200 : 503);
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
