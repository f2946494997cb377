/**
 * Writes small GGUF files for the reader tests: every metadata value type, any ggml tensor type (the caller
 * supplies the stored bytes), version 2 or 3, custom alignment. The layout is written from the spec (ggml
 * docs/gguf.md) independently of lib/loader's reader, so the reader is checked against a second
 * implementation of it; only the table of ggml block sizes is shared.
 */
import * as fs from 'fs';
import { ggmlTypeId, ggmlType } from '../../lib/loader/gguf-ggml-types';

export type ScalarType = 'uint8' | 'int8' | 'uint16' | 'int16' | 'uint32' | 'int32' | 'float32' | 'bool' | 'string' |
  'uint64' | 'int64' | 'float64';
/** a scalar type, or an array of some element type (arrays nest) */
export type ValueType = ScalarType | { array: ValueType };
export type Value = number | bigint | boolean | string | Value[];

export interface MetaEntry {
  key: string;
  type: ValueType;
  value: Value;
}

export interface TensorEntry {
  name: string;
  /** ggml order: innermost first */
  dims: number[];
  /** ggml type name: 'F32', 'Q4_1', … */
  type: string;
  data: Buffer;
}

const TYPE_IDS: Record<ScalarType | 'array', number> = {
  uint8: 0, int8: 1, uint16: 2, int16: 3, uint32: 4, int32: 5, float32: 6, bool: 7, string: 8, array: 9,
  uint64: 10, int64: 11, float64: 12,
};

class Bytes {
  private readonly parts: Buffer[] = [];
  length = 0;

  push(b: Buffer): void {
    this.parts.push(b);
    this.length += b.length;
  }
  u32(v: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(v);
    this.push(b);
  }
  u64(v: number | bigint): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(v));
    this.push(b);
  }
  str(s: string): void {
    const b = Buffer.from(s, 'utf8');
    this.u64(b.length);
    this.push(b);
  }
  value(type: ValueType, v: Value): void {
    if (typeof type === 'object') {
      const items = v as Value[];
      this.u32(typeof type.array === 'object' ? TYPE_IDS.array : TYPE_IDS[type.array]);
      this.u64(items.length);
      for (const item of items) this.value(type.array, item);
      return;
    }
    const b = Buffer.alloc(8);
    switch (type) {
      case 'uint8': b.writeUInt8(v as number); return this.push(b.subarray(0, 1));
      case 'int8': b.writeInt8(v as number); return this.push(b.subarray(0, 1));
      case 'bool': b.writeUInt8(v ? 1 : 0); return this.push(b.subarray(0, 1));
      case 'uint16': b.writeUInt16LE(v as number); return this.push(b.subarray(0, 2));
      case 'int16': b.writeInt16LE(v as number); return this.push(b.subarray(0, 2));
      case 'uint32': b.writeUInt32LE(v as number); return this.push(b.subarray(0, 4));
      case 'int32': b.writeInt32LE(v as number); return this.push(b.subarray(0, 4));
      case 'float32': b.writeFloatLE(v as number); return this.push(b.subarray(0, 4));
      case 'uint64': b.writeBigUInt64LE(BigInt(v as number)); return this.push(b);
      case 'int64': b.writeBigInt64LE(BigInt(v as number)); return this.push(b);
      case 'float64': b.writeDoubleLE(v as number); return this.push(b);
      case 'string': return this.str(v as string);
    }
  }
  concat(): Buffer {
    return Buffer.concat(this.parts);
  }
}

export interface WrittenGguf {
  /** absolute offset of each tensor's bytes, by GGUF name */
  offsets: Map<string, number>;
  dataOffset: number;
  size: number;
}

/** Writes a GGUF file; tensors are laid out in order, each at the next aligned offset. */
export function writeGguf(file: string, opts: { version?: number; alignment?: number; metadata: MetaEntry[];
  tensors: TensorEntry[] }): WrittenGguf {
  const alignment = opts.alignment ?? 32;
  const out = new Bytes();
  out.push(Buffer.from('GGUF', 'latin1'));
  out.u32(opts.version ?? 3);
  out.u64(opts.tensors.length);
  out.u64(opts.metadata.length);
  for (const m of opts.metadata) {
    out.str(m.key);
    out.u32(typeof m.type === 'object' ? TYPE_IDS.array : TYPE_IDS[m.type]);
    out.value(m.type, m.value);
  }
  const align = (x: number) => Math.ceil(x / alignment) * alignment;
  let rel = 0;
  const rels: number[] = [];
  for (const t of opts.tensors) {
    const type = ggmlType(ggmlTypeId(t.type))!;
    const n = t.dims.reduce((a, b) => a * b, 1);
    const expected = (n / type.blockSize) * type.blockBytes;
    if (t.data.length !== expected) throw new Error(`${t.name}: ${t.data.length} bytes given, ${expected} expected`);
    out.str(t.name);
    out.u32(t.dims.length);
    for (const d of t.dims) out.u64(d);
    out.u32(type.id);
    out.u64(rel);
    rels.push(rel);
    rel = align(rel + t.data.length);
  }
  const dataOffset = align(out.length);
  out.push(Buffer.alloc(dataOffset - out.length));
  const offsets = new Map<string, number>();
  opts.tensors.forEach((t, i) => {
    out.push(Buffer.alloc(dataOffset + rels[i] - out.length));
    offsets.set(t.name, out.length);
    out.push(t.data);
  });
  const bytes = out.concat();
  fs.writeFileSync(file, bytes);
  return { offsets, dataOffset, size: bytes.length };
}

/** Stored bytes for a tensor of `type` with `n` elements: seeded pseudo-random (contents are not interpreted). */
export function tensorBytes(type: string, n: number, seed: number): Buffer {
  const t = ggmlType(ggmlTypeId(type))!;
  const out = Buffer.alloc((n / t.blockSize) * t.blockBytes);
  let s = seed >>> 0;
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s >>> 24;
  }
  return out;
}

/**
 * The llama header a tokenizer-only GGUF file needs to open (one layer, 64 wide, no tensors): the tokenizer
 * tests write it before their tokenizer keys.
 */
export const TINY_LLAMA_HEADER: MetaEntry[] = [
  { key: 'general.architecture', type: 'string', value: 'llama' },
  { key: 'llama.block_count', type: 'uint32', value: 1 },
  { key: 'llama.context_length', type: 'uint32', value: 512 },
  { key: 'llama.embedding_length', type: 'uint32', value: 64 },
  { key: 'llama.feed_forward_length', type: 'uint32', value: 128 },
  { key: 'llama.attention.head_count', type: 'uint32', value: 4 },
  { key: 'llama.attention.layer_norm_rms_epsilon', type: 'float32', value: 1e-5 },
];
