/**
 * Hardware threads per core from a sysfs tree (trainer/accel/backend/cpu-topology.ts), on real files written here, and
 * the default GEMM thread count built on it (trainer/accel/backend/wasm.ts).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { hardwareThreadsPerCore } from "../../../trainer/accel/backend/cpu-topology.ts";
import { gemmThreads } from "../../../trainer/accel/backend/wasm.ts";

const roots: string[] = [];
afterEach(() => {
  for (const root of roots.splice(0)) rmSync(root, { recursive: true, force: true });
  delete process.env.KSER_WASM_THREADS;
});

/** A cpu root with one `cpuN/topology` per [package, core] (null: an offline CPU, no topology directory). */
function cpuTree(cpus: Array<[number, number] | null>): string {
  const root = mkdtempSync(path.join(tmpdir(), "kser-cpus-"));
  roots.push(root);
  cpus.forEach((ids, n) => {
    mkdirSync(path.join(root, `cpu${n}`));
    if (!ids) return;
    const topology = path.join(root, `cpu${n}`, "topology");
    mkdirSync(topology);
    writeFileSync(path.join(topology, "physical_package_id"), `${ids[0]}\n`);
    writeFileSync(path.join(topology, "core_id"), `${ids[1]}\n`);
  });
  // Entries that are not CPUs sit beside them in sysfs.
  mkdirSync(path.join(root, "cpufreq"));
  writeFileSync(path.join(root, "online"), "0-3\n");
  return root;
}

describe("hardware threads per core", () => {
  it("counts logical CPUs per distinct package and core", () => {
    expect(
      hardwareThreadsPerCore(
        cpuTree([
          [0, 0],
          [0, 1],
        ]),
      ),
    ).toBe(1);
    expect(
      hardwareThreadsPerCore(
        cpuTree([
          [0, 0],
          [0, 1],
          [0, 0],
          [0, 1],
        ]),
      ),
    ).toBe(2);
    // Core ids repeat across packages: two packages of one core each are two cores.
    expect(
      hardwareThreadsPerCore(
        cpuTree([
          [0, 0],
          [1, 0],
        ]),
      ),
    ).toBe(1);
    // An offline CPU (no topology) is left out.
    expect(hardwareThreadsPerCore(cpuTree([[0, 0], [0, 0], null]))).toBe(2);
  });

  it("is null where the topology cannot be read", () => {
    expect(hardwareThreadsPerCore(path.join(tmpdir(), "kser-no-such-cpu-root"))).toBeNull();
    expect(hardwareThreadsPerCore(cpuTree([null, null]))).toBeNull();
  });

  it("sets the default GEMM threads to the usable CPUs per core (2 when unknown), 1 to 4; KSER_WASM_THREADS wins", () => {
    const cpus = availableParallelism();
    const expected = (perCore: number) => Math.max(1, Math.min(Math.floor(cpus / perCore), 4));
    expect(gemmThreads(1)).toBe(expected(1));
    expect(gemmThreads(2)).toBe(expected(2));
    expect(gemmThreads(null)).toBe(expected(2));
    expect(gemmThreads(1000)).toBe(1);
    process.env.KSER_WASM_THREADS = "3";
    expect(gemmThreads(1)).toBe(3);
    process.env.KSER_WASM_THREADS = "two";
    expect(() => gemmThreads(1)).toThrow(/KSER_WASM_THREADS must be a whole number >= 1, got "two"/);
  });
});
