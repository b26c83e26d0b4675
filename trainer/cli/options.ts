/** Option parsers and options shared by the commands that train or run models (`kser train`, `eval`, `export`). */
import { InvalidArgumentError, Option } from "commander";
import type { BackendPreference } from "../accel/index.ts";

/** Parses a number > 0 (a whole one when `integer`), or tells commander what was wrong. */
export const positive = (integer: boolean) => (value: string) => {
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`must be a positive ${integer ? "whole " : ""}number`);
  return n;
};

const BACKENDS: BackendPreference[] = ["auto", "tensorflow", "webgpu", "wasm", "cpu"];

/** `--backend`: which tfjs backend to use (auto picks, see accel/backend/select.ts). */
export const backendOption = (description = "tfjs backend") =>
  new Option("--backend <name>", description).choices(BACKENDS).default("auto");
