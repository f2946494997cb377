/**
 * safetensors for the bench's model generator and GGUF converter: a writer (an u64 little-endian header
 * length, the JSON header {name: {dtype, shape, data_offsets}}, then the data; big tensors written in chunks,
 * so a 1B-parameter model never sits in memory whole), and tensor bytes read through gpuformer's reader.
 */
import { closeSync, existsSync, openSync, readSync, writeSync } from 'fs';
import { join } from 'path';
import { readShardedSafetensors, readSafetensorsTensors } from '../../lib/loader/safetensors';
import type { TensorSource } from '../../lib/core/source';
import { bf16BitsToF32, f16BitsToF32, f32ToF16Bits } from './f16';

export type SafetensorsDType = 'F32' | 'F16' | 'BF16' | 'I64' | 'I32';

export const ELEMENT_BYTES: Record<SafetensorsDType, number> = { F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4 };

/**
 * Every tensor of a model directory (model.safetensors, or the shards model.safetensors.index.json names),
 * read by gpuformer's own strict reader.
 */
export async function readModelTensors(dir: string): Promise<Map<string, TensorSource>> {
  const index = join(dir, 'model.safetensors.index.json');
  return existsSync(index) ? readShardedSafetensors(index) : readSafetensorsTensors(join(dir, 'model.safetensors'));
}

/** The raw bytes of one tensor. */
export function readTensorBytes(t: TensorSource): Uint8Array {
  const buf = Buffer.alloc(t.nbytes);
  const fd = openSync(t.file, 'r');
  try {
    let done = 0;
    while (done < buf.length) done += readSync(fd, buf, done, buf.length - done, t.offset + done);
  } finally {
    closeSync(fd);
  }
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.length);
}

/** gpuformer's dtype names for the safetensors float types */
export const FLOAT_DTYPE = { f32: 'F32', f16: 'F16', bf16: 'BF16' } as const;

/** Converts raw float tensor bytes between F32, F16 and BF16 (same type: returned as is). */
export function convertFloatBytes(bytes: Uint8Array, from: SafetensorsDType, to: 'F32' | 'F16'): Uint8Array {
  if (from === to) return bytes;
  const n = bytes.length / ELEMENT_BYTES[from];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = from === 'F32' ? (i: number) => dv.getFloat32(i * 4, true)
    : from === 'F16' ? (i: number) => f16BitsToF32(dv.getUint16(i * 2, true))
      : from === 'BF16' ? (i: number) => bf16BitsToF32(dv.getUint16(i * 2, true))
        : null;
  if (!read) throw new Error(`convertFloatBytes: ${from} is not a float type`);
  if (to === 'F32') {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = read(i);
    return new Uint8Array(out.buffer);
  }
  const out = new Uint16Array(n);
  for (let i = 0; i < n; i++) out[i] = f32ToF16Bits(read(i));
  return new Uint8Array(out.buffer);
}

export interface TensorToWrite {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  /** the tensor's bytes, row-major, in any number of chunks */
  chunks: () => Iterable<Uint8Array>;
}

/** Writes a safetensors file (header padded with spaces to 8 bytes, as the reference writer does). */
export function writeSafetensors(path: string, tensors: TensorToWrite[], metadata: Record<string, string> = { format: 'pt' }): void {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    const bytes = t.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[t.dtype];
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const fd = openSync(path, 'w');
  try {
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
    writeSync(fd, len);
    writeSync(fd, Buffer.from(json, 'utf8'));
    for (const t of tensors) {
      const expected = t.shape.reduce((a, b) => a * b, 1) * ELEMENT_BYTES[t.dtype];
      let written = 0;
      for (const c of t.chunks()) {
        writeAll(fd, c);
        written += c.byteLength;
      }
      if (written !== expected) throw new Error(`writeSafetensors: ${t.name} gave ${written} bytes, expected ${expected}`);
    }
  } finally {
    closeSync(fd);
  }
}

export function writeAll(fd: number, chunk: Uint8Array): void {
  let done = 0;
  while (done < chunk.byteLength) done += writeSync(fd, chunk, done, chunk.byteLength - done);
}
