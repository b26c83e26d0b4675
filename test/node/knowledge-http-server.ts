/** A scriptable HTTP server on 127.0.0.1 for the provider tests: each request goes to the current handler. */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface SeenRequest {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: unknown;
  at: number;
}

export type Handler = (req: SeenRequest, res: ServerResponse) => void;

export interface TestServer {
  url: string;
  requests: SeenRequest[];
  handler: Handler;
  inFlight: number;
  maxInFlight: number;
  close(): Promise<void>;
}

export async function startServer(): Promise<TestServer> {
  const state = {
    url: "",
    requests: [] as SeenRequest[],
    handler: ((_req, res) => res.writeHead(500).end("no handler")) as Handler,
    inFlight: 0,
    maxInFlight: 0,
    close: async () => {},
  };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {}
      const seen = { method: req.method ?? "", url: req.url ?? "", headers: req.headers, body, at: Date.now() };
      state.requests.push(seen);
      state.inFlight++;
      state.maxInFlight = Math.max(state.maxInFlight, state.inFlight);
      res.on("close", () => state.inFlight--);
      state.handler(seen, res);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  state.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return state;
}

export function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(typeof body === "string" ? body : JSON.stringify(body));
}
