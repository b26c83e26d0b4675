/**
 * Emscripten's Node glue (both tfjs-wasm builds) adds process handlers that rethrow every uncaught exception and
 * unhandled rejection. Node then prints the throwing line of the glue first, ~57 KB of minified code, before the
 * real error, and exits with 7 instead of 1. Node's own handling is the same without them (tfjs never calls
 * emscripten's exit(), the one case they treat specially), so the backend start removes whatever handlers it added.
 */
const EVENTS = ["uncaughtException", "unhandledRejection"] as const;
// The plain EventEmitter view: Node's typings of process.listeners take one event name per overload.
const emitter: NodeJS.EventEmitter = process;

export async function withoutAddedProcessHandlers<T>(start: () => Promise<T>): Promise<T> {
  const before = new Map(EVENTS.map((event) => [event, new Set(emitter.listeners(event))]));
  try {
    return await start();
  } finally {
    for (const event of EVENTS) {
      for (const listener of emitter.listeners(event)) {
        if (!before.get(event)?.has(listener)) emitter.removeListener(event, listener as (...args: unknown[]) => void);
      }
    }
  }
}
