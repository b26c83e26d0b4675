/**
 * The reads one request has started, by key, so that the request asks KV (or loads a model) once per key however
 * many of its code paths need it. One instance per request, never shared: workerd cancels a request's pending I/O
 * when that request ends, so another request awaiting one of these promises could wait forever. Isolate-wide
 * caches hold only finished values.
 */
export class RequestReads {
  private readonly started = new Map<string, Promise<unknown>>();

  /** The promise of the read named `key`: started by `start` on first use in this request, then shared within it. */
  once<T>(key: string, start: () => Promise<T>): Promise<T> {
    let pending = this.started.get(key) as Promise<T> | undefined;
    if (!pending) {
      pending = start();
      this.started.set(key, pending);
      pending.catch(() => undefined); // a failure is reported to whoever awaits it, not as an unhandled rejection
    }
    return pending;
  }

  has(key: string): boolean {
    return this.started.has(key);
  }

  /** Forgets `key` (a failed read that the same request may try again, a loaded value that was released). */
  forget(key: string): void {
    this.started.delete(key);
  }
}

/** Waits `ms` on this request's own timer (a value-polling loop's pause). */
export const pause = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
