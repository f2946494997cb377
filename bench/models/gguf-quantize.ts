/**
 * The GGUF block formats' quantizers, as ggml's reference quantizers define them (docs/gguf.md for the layouts;
 * native/include/gpuformer/dtype.h reads the same bytes): 32 elements per block, little-endian f16 scales.
 *   Q8_0 {f16 d; i8 q[32]}       d = max|x| / 127, q = round(x / d)
 *   Q4_0 {f16 d; u8 qs[16]}      d = (the x of largest magnitude) / −8, q = min(15, ⌊x / d + 8.5⌋); x ≈ d (q − 8)
 *   Q4_1 {f16 d, m; u8 qs[16]}   m = min x, d = (max − min) / 15, q = min(15, ⌊(x − m) / d + 0.5⌋); x ≈ d q + m
 * Q4 quants pack element j (low nibble) and j + 16 (high nibble) into byte j. Used to write random-weight
 * quantized models for the benchmarks (bench/models/random-gguf.ts).
 */
import { f32ToF16Bits } from './f16';

export type QuantType = 'Q8_0' | 'Q4_0' | 'Q4_1';

/** Bytes of one 32-element block. */
export const QUANT_BLOCK_BYTES: Record<QuantType, number> = { Q8_0: 34, Q4_0: 18, Q4_1: 20 };

/** x (a multiple of 32 values) → its blocks, written into out from byte 0. */
export function quantizeBlocks(type: QuantType, x: Float32Array, out: Uint8Array): void {
  if (x.length % 32 !== 0) throw new Error(`quantizeBlocks: ${x.length} values is not a whole number of 32-element blocks`);
  const bb = QUANT_BLOCK_BYTES[type];
  if (out.length < (x.length / 32) * bb) throw new Error(`quantizeBlocks: ${out.length} bytes cannot hold ${x.length / 32} ${type} blocks`);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  for (let b = 0, i = 0; i < x.length; b++, i += 32) {
    const o = b * bb;
    if (type === 'Q8_0') {
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[i + j]));
      const d = amax / 127;
      const id = d ? 1 / d : 0;
      view.setUint16(o, f32ToF16Bits(d), true);
      for (let j = 0; j < 32; j++) view.setInt8(o + 2 + j, Math.round(x[i + j] * id));
    } else if (type === 'Q4_0') {
      let max = 0;
      for (let j = 0; j < 32; j++) if (Math.abs(x[i + j]) > Math.abs(max)) max = x[i + j];
      const d = max / -8;
      const id = d ? 1 / d : 0;
      view.setUint16(o, f32ToF16Bits(d), true);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.floor(x[i + j] * id + 8.5));
        const hi = Math.min(15, Math.floor(x[i + j + 16] * id + 8.5));
        out[o + 2 + j] = lo | (hi << 4);
      }
    } else {
      let min = Infinity, max = -Infinity;
      for (let j = 0; j < 32; j++) { min = Math.min(min, x[i + j]); max = Math.max(max, x[i + j]); }
      const d = (max - min) / 15;
      const id = d ? 1 / d : 0;
      view.setUint16(o, f32ToF16Bits(d), true);
      view.setUint16(o + 2, f32ToF16Bits(min), true);
      for (let j = 0; j < 16; j++) {
        const lo = Math.min(15, Math.floor((x[i + j] - min) * id + 0.5));
        const hi = Math.min(15, Math.floor((x[i + j + 16] - min) * id + 0.5));
        out[o + 4 + j] = lo | (hi << 4);
      }
    }
  }
}
