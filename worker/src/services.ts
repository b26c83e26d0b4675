/** The per-isolate state shared by all requests: loaded models, decoded shards, user profiles, the rollout config. */
import type { Settings } from "./env.ts";
import { ShardStore } from "./knowledge-store.ts";
import { resetRepeatedLogs } from "./log.ts";
import { ModelStore } from "./model-store.ts";
import { ProfileStore } from "./profile-store.ts";
import { RolloutSource } from "./rollout.ts";

export interface Services {
  models: ModelStore;
  shards: ShardStore;
  rollout: RolloutSource;
  profiles: ProfileStore;
}

let services: Services | undefined;

/** Created on first use because the shard budget comes from env, which only requests carry. */
export function servicesFor(settings: Settings): Services {
  services ??= {
    models: new ModelStore(),
    shards: new ShardStore(settings.shardCacheBytes),
    rollout: new RolloutSource(),
    profiles: new ProfileStore(),
  };
  return services;
}

/** Empties every cache of this isolate, so that the next requests read KV afresh (and log the next fault at once). */
export function flushServices(): { models: number } {
  resetRepeatedLogs();
  if (!services) return { models: 0 };
  services.shards.clear();
  services.rollout.clear();
  services.profiles.clear();
  return { models: services.models.flush() };
}
