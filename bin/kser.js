#!/usr/bin/env node
// The `kser` CLI: registers tsx so the TypeScript sources run as they are, then hands over to the command parser.
import { register } from "tsx/esm/api";

register();
await import("../trainer/cli/main.ts");
