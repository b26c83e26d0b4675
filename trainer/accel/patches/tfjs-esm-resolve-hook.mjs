// Node module-resolution hook (registered by trainer/accel/patches/gradients.ts): tfjs-core's ESM files import
// siblings without an extension ("./gradients" next to a "gradients/" folder), which Node's ESM resolver rejects.
// Inside tfjs-core/dist only, an extensionless relative import resolves to the ".js" file next to it.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";

export async function resolve(specifier, context, nextResolve) {
  const parent = context.parentURL ?? "";
  if (specifier.startsWith(".") && !/\.[cm]?js$/.test(specifier) && parent.includes("/@tensorflow/tfjs-core/dist/")) {
    const candidate = new URL(`${specifier}.js`, parent);
    if (existsSync(fileURLToPath(candidate))) return { url: candidate.href, shortCircuit: true, format: "module" };
  }
  return nextResolve(specifier, context);
}
