/**
 * `kser nightly --config FILE [--run-dir DIR] [--resume]`: the whole nightly pipeline for cron (trainer/nightly/run.ts).
 * Progress bars on a TTY, plain log lines otherwise (cron mail, CI logs); the process exits with the run's code.
 */
import path from "node:path";
import cliProgress from "cli-progress";
import type { Command } from "commander";
import { loadNightlyConfig } from "../../nightly/config.ts";
import { EXIT, type ProgressBar, runNightly } from "../../nightly/run.ts";
import { UserFacingError } from "../../util/errors.ts";

function ttyBar(label: string, total: number): ProgressBar {
  const bar = new cliProgress.SingleBar(
    { format: `${label} [{bar}] {percentage}% | {value}/{total} epochs | ETA {eta_formatted}`, hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update: (value) => bar.update(Math.round(value * 100) / 100),
    stop: () => bar.stop(),
  };
}

export function register(program: Command): void {
  program
    .command("nightly")
    .description("ingest, refresh knowledge, train a candidate, evaluate against the champion, gate, export, publish, ramp, report")
    .requiredOption("--config <file>", "nightly config (JSON; see docs/nightly.md)")
    .option("--run-dir <dir>", "use this run directory (continue it when it holds an unfinished run)")
    .option("--resume", "only continue an unfinished run; exit 2 when there is none")
    .addHelpText(
      "after",
      "\nExit codes: 0 ramped/promoted, 10 gated out (nothing published), 2 bad config or input,\n" +
        "3 publish failed (live pointer untouched), 4 another run holds the lock, 1 unexpected.\n" +
        "Without --run-dir an unfinished run of the same config is continued, so a cron retry resumes a killed run.",
    )
    .action(async (opts: { config: string; runDir?: string; resume?: boolean }) => {
      let config: Awaited<ReturnType<typeof loadNightlyConfig>>;
      try {
        config = await loadNightlyConfig(opts.config);
      } catch (error) {
        if (error instanceof UserFacingError) {
          console.error(`kser nightly: ${error.message}`);
          process.exit(EXIT.BAD_INPUT);
        }
        throw error;
      }
      const tty = Boolean(process.stdout.isTTY);
      const result = await runNightly({
        config,
        runDir: opts.runDir ? path.resolve(opts.runDir) : undefined,
        resume: opts.resume,
        progress: tty ? ttyBar : undefined,
      });
      console.log(
        `kser nightly: ${result.status} (exit ${result.exitCode})${result.runDir ? ` — report: ${path.join(result.runDir, "report.html")}` : ""}`,
      );
      // Workers and wasm threads may keep the event loop alive; the code is the contract with the scheduler.
      process.exit(result.exitCode);
    });
}
