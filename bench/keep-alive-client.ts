/**
 * The HTTP client bench:edge times requests with: node:http over one kept-alive connection. Node's global fetch
 * (undici) adds time of its own to every request, which would be charged to the worker; a service calling the worker
 * in production also keeps its connection open. bench:edge reports the health round trip with both clients, so the
 * difference is measured on each run.
 */
import http from "node:http";

export interface TimedResponse {
  /** Client time from sending the request to the last byte of the body. */
  ms: number;
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

export interface KeepAliveClient {
  request(method: "GET" | "POST", path: string, body?: unknown, headers?: Record<string, string>): Promise<TimedResponse>;
  close(): void;
}

export function keepAliveClient(baseUrl: string): KeepAliveClient {
  const base = new URL(baseUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  return {
    request(method, path, body, headers = {}) {
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const allHeaders: Record<string, string> = payload
        ? { "content-type": "application/json", "content-length": String(payload.length), ...headers }
        : headers;
      return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = http.request({ host: base.hostname, port: base.port, path, method, agent, headers: allHeaders }, (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (chunk: Buffer) => chunks.push(chunk));
          res.on("error", reject);
          res.on("end", () =>
            resolve({
              ms: performance.now() - t0,
              status: res.statusCode ?? 0,
              headers: res.headers,
              text: Buffer.concat(chunks).toString("utf8"),
            }),
          );
        });
        req.on("error", reject);
        req.end(payload);
      });
    },
    close() {
      agent.destroy();
    },
  };
}
