/**
 * An error whose message is meant for the person running the CLI (bad input, a missing file): printed as one line,
 * with an exit code a scheduler can act on, and without a stack trace.
 */
export class UserFacingError extends Error {
  constructor(
    message: string,
    readonly exitCode = 2,
  ) {
    super(message);
    this.name = "UserFacingError";
  }
}

/** A bad record in an input file: says which file, line and field. */
export class InputFormatError extends UserFacingError {
  constructor(
    readonly file: string,
    readonly line: number | undefined,
    readonly field: string | undefined,
    problem: string,
  ) {
    super(`${file}${line !== undefined ? `:${line}` : ""}${field ? ` (field ${field})` : ""}: ${problem}`);
    this.name = "InputFormatError";
  }
}
