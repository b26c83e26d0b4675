/**
 * The nightly run's log: every line to the console and, timestamped, to <runDir>/nightly.log (lines from before the
 * run directory is known are held and written first), redacted of the publish target's secrets.
 */
import { appendFileSync } from "node:fs";
import { appendFile } from "node:fs/promises";
import { createRedactor } from "../util/redact.ts";

export class RunLog {
  private redactor = createRedactor([]);
  private file: string | null = null;
  private readonly pending: string[] = [];

  constructor(private readonly print: (line: string) => void) {}

  readonly line = (line: string): void => {
    const safe = this.redactor(line);
    this.print(safe);
    const stamped = `${new Date().toISOString()} ${safe}\n`;
    if (this.file) appendFileSyncSafe(this.file, stamped);
    else this.pending.push(stamped);
  };

  redact(text: string): string {
    return this.redactor(text);
  }

  /** From now on, these values never reach the console or the log file. */
  hideSecrets(secrets: string[]): void {
    this.redactor = createRedactor(secrets);
  }

  /** Starts writing to `file`, beginning with the lines held so far. */
  async attach(file: string): Promise<void> {
    this.file = file;
    for (const line of this.pending.splice(0)) await appendFile(file, line);
  }
}

function appendFileSyncSafe(file: string, line: string): void {
  try {
    appendFileSync(file, line);
  } catch {
    // The log file is a copy of the console output; losing a line must not fail the run.
  }
}
