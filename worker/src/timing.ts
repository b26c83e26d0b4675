/**
 * Stage timings of one request, for the `x-kser-debug: timing` header (admin only): a Server-Timing header with
 * one `name;dur=ms` entry per stage. Date.now() has whole-millisecond resolution and, in production workers, only
 * advances across I/O; locally (wrangler dev, tests) it advances, so this is a local profiling aid: average many
 * requests.
 */
export class StageTimer {
  private last = Date.now();
  readonly stages: [string, number][] = [];

  /** Ends the current stage under this name and starts the next one. */
  mark(name: string): void {
    const now = Date.now();
    this.stages.push([name, now - this.last]);
    this.last = now;
  }

  header(): string {
    return this.stages.map(([name, ms]) => `${name};dur=${ms}`).join(", ");
  }
}
