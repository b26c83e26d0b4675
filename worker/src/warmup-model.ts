/**
 * A hand-encoded ONNX model (y = Identity(x), float32 [1]) used to start ORT's wasm backend at isolate start,
 * before any real model has been read from KV. Encoded here so the bundle needs no protobuf library.
 */
const enc = new TextEncoder();

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  out.push(n);
  return out;
}

const field = (num: number, payload: number[] | Uint8Array): number[] => [...varint((num << 3) | 2), ...varint(payload.length), ...payload];
const str = (num: number, s: string) => field(num, enc.encode(s));
const int = (num: number, v: number) => [...varint(num << 3), ...varint(v)];

function tensorValueInfo(name: string): number[] {
  const dim = field(1, int(1, 1)); // Dimension { dim_value: 1 }
  const tensorType = [...int(1, 1), ...field(2, dim)]; // elem_type FLOAT, shape [1]
  return [...str(1, name), ...field(2, field(1, tensorType))];
}

function build(): Uint8Array {
  const node = [...str(1, "x"), ...str(2, "y"), ...str(4, "Identity")];
  const graph = [...field(1, node), ...str(2, "warmup"), ...field(11, tensorValueInfo("x")), ...field(12, tensorValueInfo("y"))];
  const opset = [...str(1, ""), ...int(2, 13)];
  return new Uint8Array([...int(1, 8), ...field(7, graph), ...field(8, opset)]);
}

export const WARMUP_MODEL: Uint8Array = build();
