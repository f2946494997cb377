/**
 * Float64 references for the CPU ops, written plainly (loops over indices, no tricks) so they can be read
 * against the op contract in native/include/gpuformer/op_decls.inc. Inputs are flat row-major arrays.
 */

type Arr = ArrayLike<number>;

// ---------------------------------------------------------------------------------------- element formats

/** IEEE half → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/** bfloat16 → number. */
export function bf16ToFloat(h: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, h << 16);
  return buf.getFloat32(0);
}

/**
 * An f32 value as the bf16 matmul sees its activation (native/cpu/linear_kernels.h): rounded to bf16 (nearest
 * even), a value below the smallest normal f32 flushed to zero.
 */
export function roundToBf16(v: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setFloat32(0, v);
  if (Math.abs(buf.getFloat32(0)) < 2 ** -126) return 0;
  const u = buf.getUint32(0);
  if ((u & 0x7fffffff) > 0x7f800000) return NaN;
  return bf16ToFloat(((u + 0x7fff + ((u >>> 16) & 1)) >>> 16) & 0xffff);
}

/** The values a tensor of `dtype` holds after writing `data` (f32 data rounded to f16 / bf16 by the addon). */
export function decodeHalfBits(bits: Uint16Array, dtype: 'f16' | 'bf16'): Float64Array {
  const out = new Float64Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = dtype === 'f16' ? halfToFloat(bits[i]) : bf16ToFloat(bits[i]);
  return out;
}

/** Round half to even of a non-negative number. */
function roundHalfEven(r: number): number {
  const f = Math.floor(r);
  const rest = r - f;
  return rest > 0.5 || (rest === 0.5 && f % 2 === 1) ? f + 1 : f;
}

/** The IEEE half nearest to x (ties to even), as bits: overflow gives ±inf, NaN a quiet NaN. */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // past 65504 by half a step or more: rounds to infinity
  if (a < 2 ** -14) return sign | roundHalfEven(a * 2 ** 24); // subnormal steps of 2^-24 (1024 becomes the first normal)
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  if (2 ** (e + 1) <= a) e++;
  let mant = roundHalfEven((a / 2 ** e - 1) * 1024);
  if (mant === 1024) {
    e++;
    mant = 0;
  }
  return sign | ((e + 15) << 10) | mant;
}

/**
 * ggml's reference quantizers (quantize_row_q8_0_ref, q4_0_ref, q4_1_ref in ggml-quants.c) written plainly:
 * every f32 operation of the C code, each rounded to f32 (Math.fround), f16 scales by f16Bits. Returns the
 * blocks' bytes. Where the C code is undefined (x·id is ±inf or NaN because 1/d overflowed) the quant
 * saturates as native/cpu/quantize.h defines.
 */
export function ggmlQuantize(values: Arr, dtype: 'q8_0' | 'q4_0' | 'q4_1'): Uint8Array {
  const f = Math.fround;
  const blockBytes = dtype === 'q8_0' ? 34 : dtype === 'q4_0' ? 18 : 20;
  const blocks = values.length / 32;
  const bytes = new Uint8Array(blocks * blockBytes);
  const view = new DataView(bytes.buffer);
  /** (int8_t) v, then MIN(15, ·): truncation toward zero */
  const nibble = (v: number) => (Number.isNaN(v) || v <= 0 ? 0 : Math.min(15, Math.trunc(v)));
  /** roundf: half away from zero */
  const roundf = (v: number) => Math.sign(v) * Math.floor(Math.abs(v) + 0.5);
  for (let b = 0; b < blocks; b++) {
    const x = Array.from({ length: 32 }, (_, j) => f(values[b * 32 + j]));
    const o = b * blockBytes;
    if (dtype === 'q8_0') {
      let amax = 0;
      for (const v of x) amax = Math.max(amax, Math.abs(v));
      const d = f(amax / 127);
      const id = d !== 0 ? f(1 / d) : 0;
      view.setUint16(o, f16Bits(d), true);
      for (let j = 0; j < 32; j++) {
        const v = f(x[j] * id);
        view.setInt8(o + 2 + j, Number.isNaN(v) ? 0 : Math.max(-127, Math.min(127, roundf(v))));
      }
    } else if (dtype === 'q4_0') {
      let amax = 0;
      let max = 0;
      for (const v of x) {
        if (amax < Math.abs(v)) {
          amax = Math.abs(v);
          max = v;
        }
      }
      const d = f(max / -8);
      const id = d !== 0 ? f(1 / d) : 0;
      view.setUint16(o, f16Bits(d), true);
      for (let j = 0; j < 16; j++) {
        bytes[o + 2 + j] = nibble(f(f(x[j] * id) + 8.5)) | (nibble(f(f(x[j + 16] * id) + 8.5)) << 4);
      }
    } else {
      let min = Infinity;
      let max = -Infinity;
      for (const v of x) {
        if (v < min) min = v;
        if (v > max) max = v;
      }
      const d = f(f(max - min) / 15);
      const id = d !== 0 ? f(1 / d) : 0;
      view.setUint16(o, f16Bits(d), true);
      view.setUint16(o + 2, f16Bits(min), true);
      const q = (v: number) => nibble(f(f(f(v - min) * id) + 0.5));
      for (let j = 0; j < 16; j++) bytes[o + 4 + j] = q(x[j]) | (q(x[j + 16]) << 4);
    }
  }
  return bytes;
}

/** The values GGUF blocks hold (their layouts, native/include/gpuformer/dtype.h), in float64. */
export function dequantizeBlocks(bytes: Uint8Array, dtype: 'q8_0' | 'q4_0' | 'q4_1'): Float64Array {
  const blockBytes = dtype === 'q8_0' ? 34 : dtype === 'q4_0' ? 18 : 20;
  const blocks = bytes.length / blockBytes;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float64Array(blocks * 32);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockBytes;
    const d = halfToFloat(view.getUint16(o, true));
    for (let j = 0; j < 32; j++) {
      if (dtype === 'q8_0') {
        out[b * 32 + j] = d * view.getInt8(o + 2 + j);
        continue;
      }
      const at = o + (dtype === 'q4_0' ? 2 : 4) + (j % 16);
      const q = j < 16 ? bytes[at] & 0x0f : bytes[at] >> 4;
      out[b * 32 + j] = dtype === 'q4_0' ? d * (q - 8) : d * q + halfToFloat(view.getUint16(o + 2, true));
    }
  }
  return out;
}

/** Encodes rows of 32-element blocks as GGUF Q8_0 / Q4_0 / Q4_1 bytes; returns the bytes and the dequantized values. */
export function quantize(values: Arr, dtype: 'q8_0' | 'q4_0' | 'q4_1'): { bytes: Uint8Array; values: Float64Array } {
  const blocks = values.length / 32;
  const blockBytes = dtype === 'q8_0' ? 34 : dtype === 'q4_0' ? 18 : 20;
  const bytes = new Uint8Array(blocks * blockBytes);
  const view = new DataView(bytes.buffer);
  const deq = new Float64Array(values.length);
  const f16 = (x: number): number => { // round a scale to f16 bits by search-free encoding via Float32 → half
    const f = new Float32Array([x]);
    const u = new Uint32Array(f.buffer)[0];
    const sign = (u >>> 16) & 0x8000;
    const e = ((u >>> 23) & 0xff) - 127 + 15;
    if (e <= 0) return sign; // scales here are never subnormal
    let m = (u & 0x7fffff) >>> 13;
    if ((u & 0x1fff) > 0x1000 || ((u & 0x1fff) === 0x1000 && (m & 1))) m++;
    return sign | ((e << 10) + m);
  };
  for (let b = 0; b < blocks; b++) {
    const x = Array.from({ length: 32 }, (_, j) => values[b * 32 + j]);
    const o = b * blockBytes;
    if (dtype === 'q8_0') {
      const amax = Math.max(...x.map(Math.abs));
      const dBits = f16(amax / 127);
      const d = halfToFloat(dBits);
      view.setUint16(o, dBits, true);
      for (let j = 0; j < 32; j++) {
        const q = d ? Math.max(-127, Math.min(127, Math.round(x[j] / d))) : 0;
        view.setInt8(o + 2 + j, q);
        deq[b * 32 + j] = d * q;
      }
    } else if (dtype === 'q4_0') {
      const amax = Math.max(...x.map(Math.abs));
      const dBits = f16(amax / 7);
      const d = halfToFloat(dBits);
      view.setUint16(o, dBits, true);
      const q = x.map((v) => (d ? Math.max(0, Math.min(15, Math.round(v / d) + 8)) : 8));
      for (let j = 0; j < 16; j++) bytes[o + 2 + j] = q[j] | (q[j + 16] << 4);
      for (let j = 0; j < 32; j++) deq[b * 32 + j] = d * (q[j] - 8);
    } else {
      const lo = Math.min(...x), hi = Math.max(...x);
      const dBits = f16((hi - lo) / 15), mBits = f16(lo);
      const d = halfToFloat(dBits), m = halfToFloat(mBits);
      view.setUint16(o, dBits, true);
      view.setUint16(o + 2, mBits, true);
      const q = x.map((v) => (d ? Math.max(0, Math.min(15, Math.round((v - m) / d))) : 0));
      for (let j = 0; j < 16; j++) bytes[o + 4 + j] = q[j] | (q[j + 16] << 4);
      for (let j = 0; j < 32; j++) deq[b * 32 + j] = d * q[j] + m;
    }
  }
  return { bytes, values: deq };
}

// ---------------------------------------------------------------------------------------------- the ops

/** out[t] = scale·tok[ids[t]] + pos[posIds[t]] + type[typeIds[t]] */
export function embedding(ids: Arr, tok: Arr, C: number, scale: number,
  pos?: { ids: Arr; table: Arr }, type?: { ids: Arr; table: Arr }): Float64Array {
  const T = ids.length;
  const out = new Float64Array(T * C);
  for (let t = 0; t < T; t++) {
    for (let c = 0; c < C; c++) {
      let v = scale * tok[ids[t] * C + c];
      if (pos) v += pos.table[pos.ids[t] * C + c];
      if (type) v += type.table[type.ids[t] * C + c];
      out[t * C + c] = v;
    }
  }
  return out;
}

/** LayerNorm or RMSNorm of each row of x (already including any residual). */
export function norm(kind: 'layer' | 'rms', x: Arr, R: number, C: number, weight: Arr, bias: Arr | null, eps: number): Float64Array {
  const out = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let mean = 0;
    if (kind === 'layer') {
      for (let c = 0; c < C; c++) mean += x[r * C + c];
      mean /= C;
    }
    let sq = 0;
    for (let c = 0; c < C; c++) sq += (x[r * C + c] - mean) ** 2;
    const rstd = 1 / Math.sqrt(sq / C + eps);
    for (let c = 0; c < C; c++) out[r * C + c] = (x[r * C + c] - mean) * rstd * weight[c] + (bias ? bias[c] : 0);
  }
  return out;
}

/** x [T,H,D] rotated: rotate-half pairs (i, i+R/2) or interleaved pairs (2i, 2i+1), angle pos·invFreq[i]. */
export function rope(x: Arr, T: number, H: number, D: number, positions: Arr, invFreq: Arr, interleaved: boolean): Float64Array {
  const out = Float64Array.from(x);
  const half = invFreq.length;
  for (let t = 0; t < T; t++) {
    for (let h = 0; h < H; h++) {
      const base = (t * H + h) * D;
      for (let i = 0; i < half; i++) {
        const a = interleaved ? base + 2 * i : base + i;
        const b = interleaved ? a + 1 : a + half;
        const angle = positions[t] * invFreq[i];
        out[a] = x[a] * Math.cos(angle) - x[b] * Math.sin(angle);
        out[b] = x[b] * Math.cos(angle) + x[a] * Math.sin(angle);
      }
    }
  }
  return out;
}

/** erf by its Taylor series (|x| < 3) or the continued fraction of erfc, both to double precision. */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax < 3) {
    let term = ax, sum = ax;
    for (let n = 1; n < 200; n++) {
      term *= -ax * ax / n;
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // erfc(x) = exp(−x²)/√π · 1/(x + 1/2/(x + 1/(x + 3/2/(x + ...))))
  let f = ax;
  for (let n = 60; n >= 1; n--) f = ax + (n / 2) / f;
  return Math.sign(x) * (1 - Math.exp(-ax * ax) / Math.sqrt(Math.PI) / f);
}

export const geluErf = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
export const geluTanh = (x: number): number =>
  0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));
export const silu = (x: number): number => x / (1 + Math.exp(-x));

export function softmaxRows(x: Arr, R: number, C: number): Float64Array {
  const out = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let m = -Infinity;
    for (let c = 0; c < C; c++) m = Math.max(m, x[r * C + c]);
    let sum = 0;
    for (let c = 0; c < C; c++) sum += Math.exp(x[r * C + c] - m);
    for (let c = 0; c < C; c++) out[r * C + c] = Math.exp(x[r * C + c] - m) / sum;
  }
  return out;
}

export interface AttentionRef {
  Hq: number;
  Hkv: number;
  D: number;
  scale: number;
  causal: boolean;
  windowLeft: number;
  slopes: Arr | null;
}

/**
 * Attention of one sequence: nq queries (q [nq,Hq,D]) at positions qPos0 + i over nk keys (k, v [nk,Hkv,D])
 * at positions 0..nk-1. score = scale·q·k − slope·(qpos − kpos); visible keys: kpos ≤ qpos when causal,
 * kpos ≥ qpos − windowLeft when windowed. Returns [nq,Hq,D].
 */
export function attentionSeq(p: AttentionRef, q: Arr, nq: number, qPos0: number, k: Arr, v: Arr, nk: number): Float64Array {
  const { Hq, Hkv, D } = p;
  const G = Hq / Hkv;
  const out = new Float64Array(nq * Hq * D);
  const scores = new Float64Array(nk);
  for (let i = 0; i < nq; i++) {
    const qpos = qPos0 + i;
    for (let h = 0; h < Hq; h++) {
      const g = Math.floor(h / G);
      let m = -Infinity;
      for (let j = 0; j < nk; j++) {
        const visible = (!p.causal || j <= qpos) && (p.windowLeft < 0 || j >= qpos - p.windowLeft);
        if (!visible) { scores[j] = -Infinity; continue; }
        let dot = 0;
        for (let d = 0; d < D; d++) dot += q[(i * Hq + h) * D + d] * k[(j * Hkv + g) * D + d];
        scores[j] = p.scale * dot - (p.slopes ? p.slopes[h] * (qpos - j) : 0);
        m = Math.max(m, scores[j]);
      }
      let sum = 0;
      for (let j = 0; j < nk; j++) sum += scores[j] === -Infinity ? 0 : Math.exp(scores[j] - m);
      for (let j = 0; j < nk; j++) {
        if (scores[j] === -Infinity) continue;
        const w = Math.exp(scores[j] - m) / sum;
        for (let d = 0; d < D; d++) out[(i * Hq + h) * D + d] += w * v[(j * Hkv + g) * D + d];
      }
    }
  }
  return out;
}

/** Packed varlen attention: sequence b owns tokens cu[b]..cu[b+1] of q/k/v. */
export function attentionPacked(p: AttentionRef, q: Arr, k: Arr, v: Arr, cu: Arr): Float64Array {
  const T = cu[cu.length - 1];
  const out = new Float64Array(T * p.Hq * p.D);
  for (let b = 0; b + 1 < cu.length; b++) {
    const s = cu[b], n = cu[b + 1] - cu[b];
    const sl = (a: Arr, H: number) => Array.prototype.slice.call(a, s * H * p.D, (s + n) * H * p.D) as number[];
    out.set(attentionSeq(p, sl(q, p.Hq), n, 0, sl(k, p.Hkv), sl(v, p.Hkv), n), s * p.Hq * p.D);
  }
  return out;
}

/** Mean / first / last row of each packed sequence (zeros for an empty one). */
export function pool(x: Arr, C: number, cu: Arr, mode: 'mean' | 'cls' | 'last'): Float64Array {
  const B = cu.length - 1;
  const out = new Float64Array(B * C);
  for (let b = 0; b < B; b++) {
    const s = cu[b], n = cu[b + 1] - cu[b];
    if (n === 0) continue;
    for (let c = 0; c < C; c++) {
      if (mode === 'cls') out[b * C + c] = x[s * C + c];
      else if (mode === 'last') out[b * C + c] = x[(s + n - 1) * C + c];
      else {
        let sum = 0;
        for (let t = s; t < s + n; t++) sum += x[t * C + c];
        out[b * C + c] = sum / n;
      }
    }
  }
  return out;
}

export function l2Normalize(x: Arr, R: number, C: number): Float64Array {
  const out = new Float64Array(R * C);
  for (let r = 0; r < R; r++) {
    let sq = 0;
    for (let c = 0; c < C; c++) sq += x[r * C + c] ** 2;
    const n = Math.max(Math.sqrt(sq), 1e-12);
    for (let c = 0; c < C; c++) out[r * C + c] = x[r * C + c] / n;
  }
  return out;
}

/** First index of the largest value. */
export function argmax(x: Arr): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}
