// wrangler (and the vitest pool) turn a .wasm import into a precompiled module; see the [[rules]] in wrangler.toml.
declare module "*.wasm" {
  const module: WebAssembly.Module;
  export default module;
}
