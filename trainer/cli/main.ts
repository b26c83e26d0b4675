/**
 * Entry point of the `kser` CLI. Each subcommand lives in trainer/cli/commands/ and registers itself here.
 * Errors a user can act on (bad input, missing files) are printed as one line without a stack trace. Whatever is
 * printed here goes through the redactor with the credentials found in the environment, a last guard behind the
 * clients' own redaction.
 */
import { Command } from "commander";
import { UserFacingError } from "../util/errors.ts";
import { createRedactor, secretsFromEnv } from "../util/redact.ts";

const program = new Command();
program.name("kser").description("KSER: LLM knowledge for recommenders, trained nightly, served at the edge").showHelpAfterError();

const registrations: Array<() => Promise<{ register(program: Command): void }>> = [
  // Add one line per subcommand module.
  () => import("./commands/data.ts"),
  () => import("./commands/demo.ts"),
  () => import("./commands/eval.ts"),
  () => import("./commands/export.ts"),
  () => import("./commands/knowledge.ts"),
  () => import("./commands/nightly.ts"),
  () => import("./commands/publish.ts"),
  () => import("./commands/rollout.ts"),
  () => import("./commands/train.ts"),
];
for (const load of registrations) (await load()).register(program);

/** What a file-system error caused by a path the user gave means, in words. */
const FILE_ERRORS: Record<string, string> = {
  ENOENT: "no such file or folder",
  EISDIR: "is a folder, a file was expected",
  ENOTDIR: "is not a folder",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on the device",
  EEXIST: "already exists",
};

try {
  await program.parseAsync(process.argv);
} catch (error) {
  const redact = createRedactor(secretsFromEnv());
  if (error instanceof UserFacingError) {
    console.error(`kser: ${redact(error.message)}`);
    process.exit(error.exitCode);
  }
  // A path from the command line that is missing or of the wrong kind is the user's to fix: one line, exit 2.
  const fsError = error as NodeJS.ErrnoException;
  if (typeof fsError?.code === "string" && fsError.code in FILE_ERRORS) {
    console.error(`kser: ${fsError.path ? `${fsError.path}: ${FILE_ERRORS[fsError.code]} (${fsError.code})` : fsError.message}`);
    process.exit(2);
  }
  // Printed here rather than rethrown: tfjs-backend-wasm rethrows uncaught errors from its own (minified) file,
  // which would bury the message under a one-line dump of that file.
  console.error(`kser: unexpected error: ${redact(error instanceof Error ? (error.stack ?? error.message) : String(error))}`);
  process.exit(1);
}
