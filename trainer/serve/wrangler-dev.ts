/**
 * Runs the worker locally under `wrangler dev` for the demo and the edge benchmark. wrangler starts workerd as a
 * child; killing only wrangler leaves workerd holding the port, so the server gets its own process group and the
 * whole group is stopped.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import { createServer } from "node:net";
import path from "node:path";

export interface WranglerDevOptions {
  /** Directory holding wrangler.toml. */
  projectRoot: string;
  /** Same folder the publisher wrote into (wrangler adds v3/ below it). */
  persistTo: string;
  port?: number;
  /** Extra `--var NAME:VALUE` bindings. */
  vars?: Record<string, string>;
  readyTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface RunningWorker {
  url: string;
  pid: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

function wranglerBin(projectRoot: string): string {
  const require = createRequire(path.join(projectRoot, "package.json"));
  return path.join(path.dirname(require.resolve("wrangler/package.json")), "bin", "wrangler.js");
}

export async function startWranglerDev(options: WranglerDevOptions): Promise<RunningWorker> {
  const port = options.port ?? (await freePort());
  const args = [wranglerBin(options.projectRoot), "dev", "--ip", "127.0.0.1", "--port", String(port), "--persist-to", options.persistTo];
  args.push("--inspector-port", String(await freePort()), "--show-interactive-dev-session=false", "--log-level", "warn");
  for (const [name, value] of Object.entries(options.vars ?? {})) args.push("--var", `${name}:${value}`);
  const child: ChildProcess = spawn(process.execPath, args, {
    cwd: options.projectRoot,
    detached: true, // its own process group, so stop() reaches workerd too
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "true", NO_COLOR: "1" },
  });
  const output: string[] = [];
  const collect = (chunk: Buffer) => {
    for (const line of chunk.toString().split("\n")) {
      if (!line.trim()) continue;
      output.push(line);
      if (output.length > 200) output.shift();
      options.log?.(line);
    }
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let exited = false;
  child.on("exit", () => {
    exited = true;
  });

  const url = `http://127.0.0.1:${port}`;
  const stop = async () => {
    if (child.pid === undefined) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      return; // already gone
    }
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {
      // the group is gone
    }
  };

  const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
  while (Date.now() < deadline) {
    if (exited) throw new Error(`wrangler dev exited before it was ready:\n${output.slice(-20).join("\n")}`);
    try {
      const res = await fetch(`${url}/v1/health`);
      if (res.status < 500) {
        await res.arrayBuffer();
        return { url, pid: child.pid ?? -1, stop };
      }
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`wrangler dev did not answer on ${url} within the timeout:\n${output.slice(-20).join("\n")}`);
}
