/**
 * A GGUF v3 writer for F32, F16 and Q8_0 / Q4_0 / Q4_1 tensors (the layout of ggml-org/ggml docs/gguf.md): header, metadata
 * key/values, tensor infos, then the data section aligned to `general.alignment`, each tensor at an aligned
 * offset. It lets node-llama-cpp run the very weights gpuformer runs from safetensors (bench/peers/hf-to-gguf.ts
 * maps the names and layouts). Tensor data is streamed in chunks, so files of several GB are fine.
 */
import { closeSync, openSync } from 'fs';
import { writeAll } from '../models/safetensors';

export type GgufScalarType = 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32' | 'f32' | 'bool' | 'string' | 'u64' | 'i64' | 'f64';
type Scalar = number | bigint | boolean | string;

export type GgufMetaValue =
  | { type: GgufScalarType; value: Scalar }
  | { type: 'array'; itemType: GgufScalarType; values: Scalar[] };

/** The value type ids of the format. */
const VALUE_TYPE: Record<GgufScalarType | 'array', number> = {
  u8: 0, i8: 1, u16: 2, i16: 3, u32: 4, i32: 5, f32: 6, bool: 7, string: 8, array: 9, u64: 10, i64: 11, f64: 12,
};

export type GgufTensorType = 'F32' | 'F16' | 'Q8_0' | 'Q4_0' | 'Q4_1';
/** ggml's type ids, and the bytes of a block of `block` elements */
const TENSOR_TYPE: Record<GgufTensorType, { id: number; bytes: number; block: number }> = {
  F32: { id: 0, bytes: 4, block: 1 }, F16: { id: 1, bytes: 2, block: 1 },
  Q4_0: { id: 2, bytes: 18, block: 32 }, Q4_1: { id: 3, bytes: 20, block: 32 }, Q8_0: { id: 8, bytes: 34, block: 32 },
};

export interface GgufTensor {
  name: string;
  /** row-major (PyTorch) shape; the file stores ggml's ne, innermost first, i.e. this reversed */
  shape: number[];
  type: GgufTensorType;
  /** row-major bytes of `type` (GGUF blocks along the rows for the quantized types), in any number of chunks */
  chunks: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

const MAX_NAME_BYTES = 63; // ggml's GGML_MAX_NAME counts the terminating NUL

/** Appends little-endian values to a growing list of buffers. */
class ByteSink {
  readonly parts: Buffer[] = [];
  length = 0;

  private push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }

  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v: number | bigint): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  string(s: string): void { const b = Buffer.from(s, 'utf8'); this.u64(b.length); this.push(b); }
  zeros(n: number): void { if (n > 0) this.push(Buffer.alloc(n)); }

  scalar(type: GgufScalarType, v: Scalar): void {
    const fixed = (n: number, write: (b: Buffer) => void) => { const b = Buffer.alloc(n); write(b); this.push(b); };
    switch (type) {
      case 'u8': return fixed(1, (b) => b.writeUInt8(Number(v)));
      case 'i8': return fixed(1, (b) => b.writeInt8(Number(v)));
      case 'u16': return fixed(2, (b) => b.writeUInt16LE(Number(v)));
      case 'i16': return fixed(2, (b) => b.writeInt16LE(Number(v)));
      case 'u32': return fixed(4, (b) => b.writeUInt32LE(Number(v)));
      case 'i32': return fixed(4, (b) => b.writeInt32LE(Number(v)));
      case 'f32': return fixed(4, (b) => b.writeFloatLE(Number(v)));
      case 'bool': return fixed(1, (b) => b.writeUInt8(v ? 1 : 0));
      case 'u64': return fixed(8, (b) => b.writeBigUInt64LE(BigInt(v)));
      case 'i64': return fixed(8, (b) => b.writeBigInt64LE(BigInt(v)));
      case 'f64': return fixed(8, (b) => b.writeDoubleLE(Number(v)));
      case 'string': return this.string(String(v));
    }
  }

  concat(): Buffer { return Buffer.concat(this.parts, this.length); }
}

export const alignUp = (n: number, a: number) => Math.ceil(n / a) * a;

export function tensorBytes(t: Pick<GgufTensor, 'shape' | 'type'>): number {
  const { bytes, block } = TENSOR_TYPE[t.type];
  return (t.shape.reduce((a, b) => a * b, 1) / block) * bytes;
}

export class GgufWriter {
  private readonly metadata = new Map<string, GgufMetaValue>();
  private readonly tensors: GgufTensor[] = [];

  constructor(readonly alignment = 32) {
    if (!Number.isInteger(alignment) || alignment <= 0 || alignment % 8 !== 0) {
      throw new Error(`GgufWriter: alignment must be a positive multiple of 8, got ${alignment}`);
    }
    if (alignment !== 32) this.set('general.alignment', { type: 'u32', value: alignment });
  }

  set(key: string, value: GgufMetaValue): this {
    this.metadata.set(key, value);
    return this;
  }

  u32(key: string, v: number): this { return this.set(key, { type: 'u32', value: v }); }
  f32(key: string, v: number): this { return this.set(key, { type: 'f32', value: v }); }
  bool(key: string, v: boolean): this { return this.set(key, { type: 'bool', value: v }); }
  string(key: string, v: string): this { return this.set(key, { type: 'string', value: v }); }
  array(key: string, itemType: GgufScalarType, values: Scalar[]): this { return this.set(key, { type: 'array', itemType, values }); }

  addTensor(t: GgufTensor): this {
    if (Buffer.byteLength(t.name) > MAX_NAME_BYTES) throw new Error(`GgufWriter: tensor name ${t.name} is longer than ${MAX_NAME_BYTES} bytes`);
    if (this.tensors.some((x) => x.name === t.name)) throw new Error(`GgufWriter: tensor ${t.name} added twice`);
    if (t.shape.length < 1 || t.shape.length > 4 || !t.shape.every((d) => Number.isInteger(d) && d > 0)) {
      throw new Error(`GgufWriter: tensor ${t.name} has shape [${t.shape}]; 1 to 4 positive dimensions expected`);
    }
    if (t.shape[t.shape.length - 1] % TENSOR_TYPE[t.type].block !== 0) {
      throw new Error(`GgufWriter: tensor ${t.name} [${t.shape}] of ${t.type} needs rows of whole ${TENSOR_TYPE[t.type].block}-element blocks`);
    }
    this.tensors.push(t);
    return this;
  }

  /** Header, metadata and tensor infos, padded so that the data section starts aligned. */
  encodeHeader(): { header: Buffer; offsets: number[] } {
    const s = new ByteSink();
    s.u32(0x46554747); // "GGUF" read as a little-endian u32
    s.u32(3);
    s.u64(this.tensors.length);
    s.u64(this.metadata.size);
    for (const [key, v] of this.metadata) {
      s.string(key);
      s.u32(VALUE_TYPE[v.type]);
      if (v.type === 'array') {
        s.u32(VALUE_TYPE[v.itemType]);
        s.u64(v.values.length);
        for (const x of v.values) s.scalar(v.itemType, x);
      } else {
        s.scalar(v.type, v.value);
      }
    }
    const offsets: number[] = [];
    let offset = 0;
    for (const t of this.tensors) {
      s.string(t.name);
      s.u32(t.shape.length);
      for (const d of [...t.shape].reverse()) s.u64(d);
      s.u32(TENSOR_TYPE[t.type].id);
      s.u64(offset);
      offsets.push(offset);
      offset = alignUp(offset + tensorBytes(t), this.alignment);
    }
    s.zeros(alignUp(s.length, this.alignment) - s.length);
    return { header: s.concat(), offsets };
  }

  async write(path: string): Promise<void> {
    const { header, offsets } = this.encodeHeader();
    const fd = openSync(path, 'w');
    try {
      writeAll(fd, header);
      let pos = 0;
      for (let i = 0; i < this.tensors.length; i++) {
        const t = this.tensors[i];
        if (pos !== offsets[i]) writeAll(fd, new Uint8Array(offsets[i] - pos));
        let written = 0;
        for await (const c of t.chunks()) {
          writeAll(fd, c);
          written += c.byteLength;
        }
        if (written !== tensorBytes(t)) throw new Error(`GgufWriter: ${t.name} gave ${written} bytes, expected ${tensorBytes(t)}`);
        pos = offsets[i] + written;
      }
      // the file ends padded like every tensor, as ggml's own writer does
      writeAll(fd, new Uint8Array(alignUp(pos, this.alignment) - pos));
    } finally {
      closeSync(fd);
    }
  }
}
