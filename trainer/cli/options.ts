/** Option parsers shared by the commands, and the options of the commands that train or run models. */
import { InvalidArgumentError, Option } from "commander";
import type { BackendPreference } from "../accel/index.ts";

/** Parses a number > 0 (a whole one when `integer`), or tells commander what was wrong. */
export const positive = (integer: boolean) => (value: string) => {
  const n = Number(value);
  if (!(n > 0) || (integer && !Number.isInteger(n))) throw new InvalidArgumentError(`must be a positive ${integer ? "whole " : ""}number`);
  return n;
};

/** Parses a whole number >= min, or tells commander what was wrong. */
export const wholeNumber = (min: number) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new InvalidArgumentError(`must be a whole number >= ${min}`);
  return n;
};

const BACKENDS: BackendPreference[] = ["auto", "tensorflow", "webgpu", "wasm", "cpu"];

/** `--backend`: which tfjs backend to use (auto picks, see accel/backend/select.ts). */
export const backendOption = (description = "tfjs backend") =>
  new Option("--backend <name>", description).choices(BACKENDS).default("auto");
