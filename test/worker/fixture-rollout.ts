/** The fixture bundle's rollout config, read from the provided bundle (so tests and KV agree by construction). */
import { inject } from "vitest";
import { parseRolloutConfig, type RolloutConfig } from "../../shared/rollout.ts";
import { deserializeKvBundle } from "./fixtures/kv-bundle.ts";

export function fixtureRolloutForTests(): RolloutConfig {
  const entry = deserializeKvBundle(inject("fixtureBundle")).find((e) => e.key === "rollout/config");
  if (!entry) throw new Error("fixture bundle has no rollout/config");
  return parseRolloutConfig(JSON.parse(new TextDecoder().decode(entry.value)));
}
