/**
 * How many hardware threads share each CPU core, read from Linux's sysfs. Hardware-thread siblings share a core's
 * vector units, so a second GEMM thread on a sibling adds little; on separate cores it adds a core's worth.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

export const LINUX_CPU_ROOT = "/sys/devices/system/cpu";

/**
 * Logical CPUs per physical core (1 without SMT, 2 with two-way SMT), from each `cpuN/topology`'s package and core
 * id under `root`; null where that is not readable (not Linux, a restricted /sys).
 */
export function hardwareThreadsPerCore(root: string = LINUX_CPU_ROOT): number | null {
  let names: string[];
  try {
    names = readdirSync(root).filter((name) => /^cpu\d+$/.test(name));
  } catch {
    return null;
  }
  const cores = new Set<string>();
  let logical = 0;
  for (const name of names) {
    const topology = path.join(root, name, "topology");
    try {
      const pkg = readFileSync(path.join(topology, "physical_package_id"), "utf8").trim();
      const core = readFileSync(path.join(topology, "core_id"), "utf8").trim();
      cores.add(`${pkg}/${core}`);
      logical++;
    } catch {
      // An offline CPU has no topology directory: it is not counted on either side.
    }
  }
  if (logical === 0) return null;
  return Math.max(1, Math.round(logical / cores.size));
}
