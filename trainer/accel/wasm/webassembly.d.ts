/**
 * The parts of the WebAssembly JS API the trainer's GEMM kernel uses: @types/node 20 declares none of it, and
 * lib.dom would bring in the whole browser.
 */
declare namespace WebAssembly {
  // biome-ignore lint/suspicious/noEmptyInterface: an opaque compiled module; merges with @types/emscripten's.
  interface Module {}
  var Module: { new (bytes: Uint8Array): Module };
  interface Instance {
    readonly exports: Record<string, unknown>;
  }
  var Instance: { new (module: Module, imports?: Record<string, Record<string, unknown>>): Instance };
  interface Memory {
    readonly buffer: ArrayBuffer;
    grow(pages: number): number;
  }
  var Memory: { new (descriptor: { initial: number; maximum?: number; shared?: boolean }): Memory };
  function validate(bytes: Uint8Array): boolean;
}
