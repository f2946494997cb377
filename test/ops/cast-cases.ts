/**
 * cast test cases shared by cast.test.ts and its per-tier child processes. Inputs are raw bits built here
 * (every f16 / bf16 bit pattern, f32 specials and rounding ties, random GGUF blocks); the expected outputs
 * are computed here in float64: decoding is exact, and rounding to f16 / bf16 is round-to-nearest-even with
 * overflow to ±infinity, written out from the formats' definitions. Casts are exact operations, so every
 * element must match exactly (NaN must stay NaN; the sign of zero must survive).
 */
import { DType } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { normal, rng } from '../helpers/random';
import { bf16ToFloat, halfToFloat } from '../helpers/reference';
import { encodeQuantized } from './linear-cases';
import { checkEach, out, tensor } from './tensors';

export type FloatDType = 'f32' | 'f16' | 'bf16';
export type SourceDType = FloatDType | 'q8_0' | 'q4_0' | 'q4_1';

const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const diff = v - f;
  return diff > 0.5 ? f + 1 : diff < 0.5 ? f : f % 2 === 0 ? f : f + 1;
};

/** a rounded to a binary format with `mantBits` fraction bits, smallest normal exponent `minExp` and largest
 * finite value `maxFinite`, to nearest even; ±infinity beyond. */
function roundToFormat(a: number, mantBits: number, minExp: number, maxFinite: number): number {
  if (Number.isNaN(a) || !Number.isFinite(a) || a === 0) return a;
  const sign = a < 0 ? -1 : 1;
  const abs = Math.abs(a);
  let e = Math.floor(Math.log2(abs));
  while (2 ** e > abs) e--;
  while (2 ** (e + 1) <= abs) e++;
  const q = 2 ** (Math.max(e, minExp) - mantBits);  // the spacing of representable values around abs
  const r = roundHalfEven(abs / q) * q;
  if (r > maxFinite) return sign * Infinity;
  return r === 0 ? sign * 0 : sign * r;
}

export const roundTo = (dtype: FloatDType, v: number): number => {
  if (dtype === 'f16') return roundToFormat(v, 10, -14, 65504);
  if (dtype === 'bf16') return roundToFormat(v, 7, -126, (2 - 2 ** -7) * 2 ** 127);
  return Math.fround(v);
};

/** The values stored in a float tensor's bytes. */
function decode(dtype: FloatDType, bytes: ArrayBuffer): Float64Array {
  if (dtype === 'f32') return Float64Array.from(new Float32Array(bytes));
  const bits = new Uint16Array(bytes);
  return Float64Array.from(bits, (b) => (dtype === 'f16' ? halfToFloat(b) : bf16ToFloat(b)));
}

/** f32 values that probe the conversions: specials, f16 / bf16 rounding ties and range edges, f32 subnormals. */
const F32_SPECIALS = [
  0, -0, Infinity, -Infinity, NaN, 1, -1, 65504, 65519.99, 65520, -65520, 1e5, 2 ** -24, 2 ** -25, 1.5 * 2 ** -25,
  3 * 2 ** -26, 2 ** -14, 2 ** -14 - 2 ** -24, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8,
  -(1 + 2 ** -8), 3.4e38, -3.4e38, 1e-40, -1e-45, 1.1754942e-38, 0.1, 1 / 3,
];

/** Raw input bytes of n elements and the exact values they hold. */
export function makeSource(dtype: SourceDType, n: number, seed: number): { bytes: Uint8Array; values: Float64Array } {
  if (dtype === 'q8_0' || dtype === 'q4_0' || dtype === 'q4_1') return encodeQuantized(dtype, n, seed);
  if (dtype === 'f32') {
    const f = normal(n, seed, 100);
    const r = rng(seed + 1);
    for (let i = 0; i < n; i++) f[i] *= 2 ** Math.floor(r() * 40 - 20);  // magnitudes far apart
    for (let i = 0; i < Math.min(n, F32_SPECIALS.length); i++) f[(i * 7919) % n] = F32_SPECIALS[i];
    return { bytes: new Uint8Array(f.buffer), values: Float64Array.from(f) };
  }
  // every 16-bit pattern in turn (from a seeded start), so long arrays cover all of them, NaNs and subnormals too
  const bits = new Uint16Array(n);
  const start = Math.floor(rng(seed)() * 65536);
  for (let i = 0; i < n; i++) bits[i] = (start + i * 40503) & 0xffff;  // 40503 is odd: a full cycle mod 2^16
  return { bytes: new Uint8Array(bits.buffer), values: decode(dtype, bits.buffer) };
}

export interface CastCase {
  src: SourceDType;
  dst: FloatDType;
  n: number;
  seed: number;
}

/** Runs one cast (output poisoned first) and throws naming the first element that differs. Returns n. */
export function checkCast(c: CastCase): number {
  const src = makeSource(c.src, c.n, c.seed);
  const o = out([c.n], c.dst as DType);
  runSync([ops.cast({ x: tensor(c.src as DType, [c.n], src.bytes), out: o })]);
  const got = decode(c.dst, o.read());
  for (let i = 0; i < c.n; i++) {
    const want = roundTo(c.dst, src.values[i]);
    const same = Number.isNaN(want) ? Number.isNaN(got[i]) : Object.is(got[i], want);
    if (!same) {
      throw new Error(`cast ${c.src} → ${c.dst} n=${c.n} seed=${c.seed}: element ${i} (${src.values[i]}) became ` +
        `${got[i]}, want ${want}`);
    }
  }
  return c.n;
}

/** The baseline child's entry point. */
export function runCastCases(cases: CastCase[]): number[] {
  return checkEach(cases, checkCast);
}
