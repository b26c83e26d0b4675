/**
 * Dependency rules (`npm run lint:deps`, part of `npm run lint`): which folder may import which. Type-only imports
 * count. Tests are not cruised; bench/ may reach accelerator internals where it measures a kernel itself.
 */
module.exports = {
  forbidden: [
    {
      name: "accel-behind-one-door",
      comment: "Outside trainer/accel/, the trainer imports the accelerators through trainer/accel/index.ts only (docs/accelerators.md).",
      severity: "error",
      from: { path: "^trainer/", pathNot: "^trainer/accel/" },
      to: { path: "^trainer/accel/", pathNot: "^trainer/accel/index\\.ts$" },
    },
    {
      name: "worker-not-trainer",
      comment: "The worker runs on Cloudflare Workers: it shares code with the trainer through shared/ only.",
      severity: "error",
      from: { path: "^worker/" },
      to: { path: "^(trainer|bench|scripts)/" },
    },
    {
      name: "shared-no-node-builtins",
      comment: "shared/ runs in Node and in workerd alike: no Node builtins.",
      severity: "error",
      from: { path: "^shared/" },
      to: { dependencyTypes: ["core"] },
    },
    {
      name: "shared-no-workers-apis",
      comment: "shared/ runs in Node and in workerd alike: no Workers APIs (cloudflare:*, @cloudflare/*).",
      severity: "error",
      from: { path: "^shared/" },
      to: { path: "^(cloudflare:|@cloudflare/)" },
    },
    {
      name: "shared-imports-shared",
      comment: "shared/ is what the trainer and the worker both import: it imports neither.",
      severity: "error",
      from: { path: "^shared/" },
      to: { path: "^(trainer|worker|bench|scripts)/" },
    },
    {
      name: "no-folder-cycles",
      comment: "Folders import each other in one direction: a cycle means a shared piece sits in the wrong folder.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|test|runs|\\.wrangler)/" },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".mjs", ".js", ".json"] },
  },
};
