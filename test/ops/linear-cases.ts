/**
 * linear (x · wᵀ + bias) test cases shared by linear.test.ts and its per-tier child processes: raw weight
 * bytes built here for every weight dtype, decoded here (never by the addon) into exact float64 values, and a
 * plain float64 reference.
 *
 * Quantized weights: for every M the kernel quantizes the activations to 8 bits per 32-block first
 * (x ≈ d·q, d = max|x_block| / 127, q rounded to nearest even — native/cpu/linear_kernels.h) and uses integer
 * dot products. So a quantized case must match
 *   1. the float64 product with the *emulated* 8-bit activations (the kernel's f32 arithmetic replayed with
 *      Math.fround), at f32 accumulation tolerance TOLERANCE.f32 — this pins the integer kernel to exactly
 *      the intended math;
 *   2. and, element by element, the exact product w · x within |got − want| ≤ Σ_blocks (d_x / 2) · Σ_k∈block |w_k|
 *      (+ the f32 slack): the worst case of rounding each activation to its nearest multiple of d_x, i.e. the
 *      8-bit activations never cost more than their own rounding error. (Measured: the typical error of the
 *      8-bit path against the exact product is ~0.3–1 % of max |out| on these random data, the same as
 *      quantizing x to int8 per 32-block in float64 gives; llama.cpp accepts the same error.)
 */
import { DType, native } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, relError, TOLERANCE } from '../helpers/compare';
import { normal, rng } from '../helpers/random';
import { bf16ToFloat, halfToFloat, roundToBf16 } from '../helpers/reference';
import { checkEach, out, tensor } from './tensors';

export type WeightDType = 'f32' | 'f16' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1';
export type BiasDType = 'f32' | 'f16' | 'bf16';
export const WEIGHT_DTYPES: WeightDType[] = ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1'];
export const isQuantized = (d: DType): boolean => d === 'q8_0' || d === 'q4_0' || d === 'q4_1';

/** Raw bytes of a tensor and the exact values they encode. */
export interface Encoded {
  bytes: Uint8Array;
  values: Float64Array;
}

/** Random f16 bits: random sign, magnitude 2^(lo..hi) with a random mantissa. */
function halfBits(r: () => number, lo: number, hi: number, signed = true): number {
  const exp = 15 + lo + Math.floor(r() * (hi - lo + 1));
  const sign = signed && r() < 0.5 ? 0x8000 : 0;
  return sign | (exp << 10) | Math.floor(r() * 1024);
}

function bf16Bits(r: () => number, lo: number, hi: number): number {
  const exp = 127 + lo + Math.floor(r() * (hi - lo + 1));
  return (r() < 0.5 ? 0x8000 : 0) | (exp << 7) | Math.floor(r() * 128);
}

/** Float-type bits with magnitudes in [2^lo, 2^(hi+1)), decoded here. */
export function encodeFloat(dtype: BiasDType, n: number, seed: number, lo = -4, hi = 1): Encoded {
  const r = rng(seed);
  const values = new Float64Array(n);
  if (dtype === 'f32') {
    const f = normal(n, seed);
    values.set(f);
    return { bytes: new Uint8Array(f.buffer), values };
  }
  const bits = new Uint16Array(n);
  for (let i = 0; i < n; i++) {
    bits[i] = dtype === 'f16' ? halfBits(r, lo, hi) : bf16Bits(r, lo, hi);
    values[i] = dtype === 'f16' ? halfToFloat(bits[i]) : bf16ToFloat(bits[i]);
  }
  return { bytes: new Uint8Array(bits.buffer), values };
}

/**
 * Random GGUF blocks (every byte random, so the whole q range appears, Q8_0's −128 included; scales of
 * either sign) for a [N,K] weight, and the values they dequantize to by the block layout:
 * Q8_0 {f16 d, i8 q[32]}: d·q.  Q4_0 {f16 d, u8 qs[16]}: d·(nibble − 8).  Q4_1 {f16 d, f16 m, u8 qs[16]}:
 * d·nibble + m. Byte j of qs holds element j in its low nibble and element j + 16 in its high nibble.
 */
export function encodeQuantized(dtype: 'q8_0' | 'q4_0' | 'q4_1', n: number, seed: number): Encoded {
  const r = rng(seed);
  const blocks = n / 32;
  const blockBytes = dtype === 'q8_0' ? 34 : dtype === 'q4_0' ? 18 : 20;
  const bytes = new Uint8Array(blocks * blockBytes);
  const view = new DataView(bytes.buffer);
  const values = new Float64Array(n);
  for (let b = 0; b < blocks; b++) {
    const o = b * blockBytes;
    const dBits = halfBits(r, dtype === 'q8_0' ? -9 : -6, dtype === 'q8_0' ? -6 : -3);
    view.setUint16(o, dBits, true);
    const d = halfToFloat(dBits);
    if (dtype === 'q8_0') {
      for (let j = 0; j < 32; j++) {
        view.setInt8(o + 2 + j, Math.floor(r() * 256) - 128);
        values[b * 32 + j] = d * view.getInt8(o + 2 + j);
      }
      continue;
    }
    let m = 0;
    let qs = o + 2;
    if (dtype === 'q4_1') {
      const mBits = halfBits(r, -4, 0);
      view.setUint16(o + 2, mBits, true);
      m = halfToFloat(mBits);
      qs = o + 4;
    }
    for (let j = 0; j < 16; j++) {
      const byte = Math.floor(r() * 256);
      bytes[qs + j] = byte;
      const lo = byte & 15, hi = byte >> 4;
      values[b * 32 + j] = dtype === 'q4_0' ? d * (lo - 8) : d * lo + m;
      values[b * 32 + j + 16] = dtype === 'q4_0' ? d * (hi - 8) : d * hi + m;
    }
  }
  return { bytes, values };
}

export function encodeWeights(dtype: WeightDType, n: number, seed: number): Encoded {
  return dtype === 'f32' || dtype === 'f16' || dtype === 'bf16' ? encodeFloat(dtype, n, seed) : encodeQuantized(dtype, n, seed);
}

/** out[m][n] = Σ_k x[m][k] · w[n][k] + bias[n], in float64. */
export function linearRef(x: ArrayLike<number>, w: ArrayLike<number>, bias: ArrayLike<number> | null,
  M: number, N: number, K: number): Float64Array {
  const o = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let k = 0; k < K; k++) acc += x[m * K + k] * w[n * K + k];
      o[m * N + n] = acc + (bias ? bias[n] : 0);
    }
  }
  return o;
}

const roundHalfEven = (v: number): number => {
  const f = Math.floor(v);
  const diff = v - f;
  if (diff > 0.5) return f + 1;
  if (diff < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

/**
 * The activations as the kernel sees them after 8-bit quantization (f32 arithmetic replayed with
 * Math.fround), plus each block's step d (what bounds the rounding error).
 */
export function quantizeActivations(x: Float32Array, K: number): { values: Float64Array; step: Float64Array } {
  const values = new Float64Array(x.length);
  const step = new Float64Array(x.length / 32);
  for (let b = 0; b < x.length / 32; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = Math.fround(amax / 127);
    const id = d !== 0 ? Math.fround(1 / d) : 0;
    step[b] = d;
    for (let j = 0; j < 32; j++) values[b * 32 + j] = d * roundHalfEven(Math.fround(x[b * 32 + j] * id));
  }
  return { values, step };
}

/** |error| bound per output from rounding the activations to steps d: Σ_blocks d/2 · Σ_k∈block |w_k|. */
export function activationRoundingBound(step: Float64Array, w: Float64Array, M: number, N: number, K: number): Float64Array {
  const blocks = K / 32;
  const wabs = new Float64Array(N * blocks);  // Σ |w| per weight row and block
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) wabs[n * blocks + Math.floor(k / 32)] += Math.abs(w[n * K + k]);
  }
  const bound = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let acc = 0;
      for (let b = 0; b < blocks; b++) acc += (step[m * blocks + b] / 2) * wabs[n * blocks + b];
      bound[m * N + n] = acc;
    }
  }
  return bound;
}

export interface LinearCase {
  wdtype: WeightDType;
  M: number;
  K: number;
  N: number;
  bias: BiasDType | null;
  seed: number;
  /** run linear's batch-invariant mode (every row as its own product on the CPU) */
  batchInvariant?: boolean;
}

/** Activations: normal values, with one all-zero block and one large outlier so the block scales vary. */
export function makeActivations(M: number, K: number, seed: number): Float32Array {
  const x = normal(M * K, seed);
  if (K >= 64) x.fill(0, 32, 64);
  if (M * K > 100) x[Math.floor(M * K / 2)] = 40;
  return x;
}

export interface LinearResult {
  /** relative error against the reference the case is held to (emulated 8-bit activations when quantized) */
  err: number;
  /** quantized only: largest (|got − exact| − slack) / bound; ≤ 1 passes */
  boundRatio?: number;
  /** quantized and bf16: relative error against the exact product (for the record) */
  exactErr?: number;
}

/** Runs one case through the addon (out poisoned first) and checks it; throws with the details on failure. */
export function checkLinear(c: LinearCase): LinearResult {
  const { wdtype, M, K, N } = c;
  const what = `linear${c.batchInvariant ? ' (batch-invariant)' : ''} ${wdtype} M=${M} K=${K} N=${N} bias=${c.bias} seed=${c.seed}`;
  const x = makeActivations(M, K, c.seed);
  const w = encodeWeights(wdtype, N * K, c.seed + 1);
  const b = c.bias ? encodeFloat(c.bias, N, c.seed + 2, -3, 2) : null;
  const o = out([M, N]);
  runSync([ops.linear({
    x: tensor('f32', [M, K], x),
    w: tensor(wdtype, [N, K], w.bytes),
    bias: b && c.bias ? tensor(c.bias, [N], b.bytes) : null,
    out: o,
    batchInvariant: c.batchInvariant,
  })]);
  const got = f32(o);
  const exact = linearRef(x, w.values, b ? b.values : null, M, N, K);
  if (wdtype === 'bf16') {
    // bf16 weights meet the activations rounded to bf16: that product at f32 accuracy
    const rounded = linearRef(Float64Array.from(x, roundToBf16), w.values, b ? b.values : null, M, N, K);
    expectClose(got, rounded, TOLERANCE.f32, `${what} (vs the product with bf16 activations; with exact ones the ` +
      `error is ${relError(got, exact).toExponential(3)})`);
    return { err: relError(got, rounded), exactErr: relError(got, exact) };
  }
  if (!isQuantized(wdtype)) {
    expectClose(got, exact, TOLERANCE.f32, what);
    return { err: relError(got, exact) };
  }
  // Every M quantizes the activations to 8 bits: the result must be that product at f32 accuracy, and
  // within the rounding bound of the exact one.
  const xq = quantizeActivations(x, K);
  const emulated = linearRef(xq.values, w.values, b ? b.values : null, M, N, K);
  const errEmulated = relError(got, emulated), errExact = relError(got, exact);
  expectClose(got, emulated, TOLERANCE.f32,
    `${what} (vs the product with 8-bit activations; with exact ones the error is ${errExact.toExponential(3)})`);
  const bound = activationRoundingBound(xq.step, w.values, M, N, K);
  let maxRef = 0;
  for (const v of exact) maxRef = Math.max(maxRef, Math.abs(v));
  const slack = TOLERANCE.f32 * maxRef;
  let boundRatio = 0;
  for (let i = 0; i < got.length; i++) {
    const ratio = (Math.abs(got[i] - exact[i]) - slack) / Math.max(bound[i], 1e-30);
    if (!(ratio <= 1)) {
      throw new Error(`${what}: element ${i} is off the exact product by ${Math.abs(got[i] - exact[i])}, more than the ` +
        `activation rounding bound ${bound[i]} + ${slack}`);
    }
    boundRatio = Math.max(boundRatio, ratio);
  }
  return { err: errEmulated, boundRatio, exactErr: errExact };
}

/** Shapes covering M = 1, 3, 17, 64, 257 (one and many row tiles, ragged tiles of every tier),
 * K = 32 … 1536 (one and several K blocks of 256) and N = 1, 7, 33, 512. */
export const SHAPES: Array<[number, number, number]> = [
  [1, 32, 1], [1, 576, 512], [1, 1536, 33], [3, 96, 7], [3, 384, 512], [4, 576, 33], [5, 384, 7],
  [8, 1536, 33], [9, 96, 512], [17, 384, 33], [17, 1536, 7], [64, 576, 512], [64, 32, 33],
  [257, 384, 512], [257, 1536, 33], [257, 96, 1],
];

/** Extra shapes for float weights, whose K need not be a multiple of 32. */
export const FLOAT_ONLY_SHAPES: Array<[number, number, number]> = [
  [1, 7, 5], [2, 33, 9], [3, 100, 17], [20, 1, 3], [20, 100, 17], [70, 257, 40],
];

export function casesFor(wdtype: WeightDType, seed: number): LinearCase[] {
  const shapes = isQuantized(wdtype) ? SHAPES : [...SHAPES, ...FLOAT_ONLY_SHAPES];
  const biases: Array<BiasDType | null> = [null, 'f32', 'f16', 'bf16'];
  return shapes.map(([M, K, N], i) => ({ wdtype, M, K, N, bias: biases[i % biases.length], seed: seed + 17 * i }));
}


/**
 * Batch invariance (native/cpu/linear_kernels.h): row m of an M-row matmul must equal, bit for bit, what
 * that row alone (M = 1) gives, for every M, at any thread count, on every CPU tier (and the tiers agree
 * with each other: the contract fixes every output's arithmetic). Odd K and N for float weights, an odd
 * number of blocks for quantized ones, so every tile edge is crossed.
 */
export const INVARIANCE_ROWS = [1, 2, 7, 8, 9, 31, 48, 49, 64, 100, 257];

export interface InvarianceCase {
  wdtype: WeightDType;
  seed: number;
  threads: number;
  /** the row counts M to check, ascending (default INVARIANCE_ROWS) */
  rows?: number[];
  /**
   * bf16 only: activations scaled by 2^-66, weights of magnitudes 2^-127 (subnormal) … 2^-59 and the bias by
   * 2^-126, so products, lane sums and the bias sit around FLT_MIN, where the contract flushes
   */
  tiny?: boolean;
  /**
   * bf16 only: activations of magnitudes around 2^-112 with every fifth one subnormal, weights of magnitudes
   * 2^-2 … 2^1 and the bias scaled as the activations, so a subnormal activation rounded up to FLT_MIN instead
   * of flushed first (the contract) would move the sums' last bits
   */
  subnormal?: boolean;
}

export interface InvarianceResult {
  /** per M, the outputs whose bits differ from the row's M = 1 result */
  mismatches: Array<{ M: number; count: number; first?: string }>;
  /** FNV-1a of the bits of all the rows (computed one row at a time): equal on every tier */
  digest: number;
}

/**
 * Activations where bf16 rounding has a rule of its own (the contract's round_activations_bf16, vectorized on
 * the SIMD tiers): subnormals and FLT_MIN's neighbours (flushed to zeros of their sign), signed zeros, exact
 * ties to even either way, a carry into the exponent, large finite values. Every 13th activation is one.
 */
const ROUNDING_BITS = [0x00000001, 0x80000001, 0x007fffff, 0x807fffff, 0x00800000, 0x80800000, 0x00000000, 0x80000000,
  0x3f808000, 0x3f818000, 0xbf808000, 0x3f80ffff, 0x3f7fffff, 0x7149f2ca, 0xf149f2ca];
function sprinkleRoundingCases(x: Float32Array): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0, j = 0; i < bits.length; i += 13, j++) bits[i] = ROUNDING_BITS[j % ROUNDING_BITS.length];
}

/** Every fifth activation a subnormal of either sign, from the smallest to the largest (0x007fffff). */
function sprinkleSubnormals(x: Float32Array): void {
  const bits = new Uint32Array(x.buffer, x.byteOffset, x.length);
  for (let i = 0, j = 0; i < bits.length; i += 5, j++) bits[i] = ((j * 0x9e3779b1) >>> 9) % 0x7fffff + 1 + (j % 2 ? 0x80000000 : 0);
}

export function checkInvariance(c: InvarianceCase): InvarianceResult {
  const quantized = isQuantized(c.wdtype);
  const rows = c.rows ?? INVARIANCE_ROWS;
  const K = quantized ? 32 * 11 : 301, N = 77, maxM = rows[rows.length - 1];
  const initialThreads = native.numThreads();
  native.setNumThreads(c.threads);
  try {
    if ((c.tiny || c.subnormal) && c.wdtype !== 'bf16') throw new Error(`tiny and subnormal invariance cases are for bf16 weights, not ${c.wdtype}`);
    const x = makeActivations(maxM, K, c.seed).map((v) => (c.tiny ? v * 2 ** -66 : c.subnormal ? v * 2 ** -112 : v));
    if (c.subnormal) sprinkleSubnormals(x);
    else if (c.wdtype === 'bf16' && !c.tiny) sprinkleRoundingCases(x);
    const weights = c.tiny ? encodeFloat('bf16', N * K, c.seed + 1, -127, -60)
      : c.subnormal ? encodeFloat('bf16', N * K, c.seed + 1, -2, 1) : encodeWeights(c.wdtype, N * K, c.seed + 1);
    const w = tensor(c.wdtype, [N, K], weights.bytes);
    const biasValues = new Float32Array(encodeFloat('f32', N, c.seed + 2).bytes.buffer)
      .map((v) => (c.tiny ? v * 2 ** -126 : c.subnormal ? v * 2 ** -112 : v));
    const bias = tensor('f32', [N], biasValues);
    const run = (m0: number, M: number): Uint32Array => {
      const o = out([M, N]);
      runSync([ops.linear({ x: tensor('f32', [M, K], x.subarray(m0 * K, (m0 + M) * K)), w, bias, out: o })]);
      return new Uint32Array(o.read());
    };
    const single: Uint32Array[] = [];
    let digest = 0x811c9dc5;
    for (let m = 0; m < maxM; m++) {
      single.push(run(m, 1));
      for (const v of single[m]) digest = Math.imul(digest ^ v, 0x01000193) >>> 0;
    }
    const mismatches = rows.map((M) => {
      const got = run(0, M);
      let count = 0;
      let first: string | undefined;
      for (let i = 0; i < got.length; i++) {
        const want = single[Math.floor(i / N)][i % N];
        if (got[i] !== want) {
          count++;
          first ??= `row ${Math.floor(i / N)} column ${i % N}: bits ${got[i].toString(16)} vs ${want.toString(16)} alone`;
        }
      }
      return { M, count, first };
    });
    return { mismatches, digest };
  } finally {
    native.setNumThreads(initialThreads);
  }
}

/** Invariance cases one after another, tensors freed after each (also the tier children's entry point). */
export function runInvariance(cases: InvarianceCase[]): InvarianceResult[] {
  return checkEach(cases, checkInvariance);
}

/** Runs cases one after another (the tier children's entry point); tensors are freed after each. */
export function runCases(cases: LinearCase[]): LinearResult[] {
  return checkEach(cases, checkLinear);
}

/** linears (several weights of one x) against one linear per weight, each output poisoned first. */
export interface LinearsCase {
  wdtype: WeightDType;
  M: number;
  K: number;
  /** each weight's output features */
  Ns: number[];
  /** bias dtype per weight (null: none); absent: no bias field at all */
  biases?: Array<BiasDType | null>;
  seed: number;
  threads?: number;
}

export interface LinearsResult {
  /** outputs of linears that differ from the same weight's linear (bit for bit), per weight */
  differing: number[];
  /** one number for all the outputs (tiers must agree on it) */
  digest: number;
}

export function checkLinears(c: LinearsCase): LinearsResult {
  const threads = native.numThreads();
  if (c.threads) native.setNumThreads(c.threads);
  try {
    const x = tensor('f32', [c.M, c.K], makeActivations(c.M, c.K, c.seed));
    const ws = c.Ns.map((N, i) => tensor(c.wdtype, [N, c.K], encodeWeights(c.wdtype, N * c.K, c.seed + 1 + i).bytes));
    const biases = c.biases?.map((d, i) => (d ? tensor(d, [c.Ns[i]], encodeFloat(d, c.Ns[i], c.seed + 50 + i, -3, 2).bytes) : null));
    const poisoned = () => c.Ns.map((N) => {
      const o = out([c.M, N]);
      o.write(new Float32Array(c.M * N).fill(NaN));
      return o;
    });
    const together = poisoned(), alone = poisoned();
    runSync([ops.linears({ x, w: ws, ...(biases ? { bias: biases } : {}), out: together })]);
    runSync(ws.map((w, i) => ops.linear({ x, w, bias: biases?.[i] ?? null, out: alone[i] })));
    const differing = c.Ns.map((_, i) => {
      const a = new Uint32Array(together[i].read()), b = new Uint32Array(alone[i].read());
      let n = 0;
      for (let j = 0; j < a.length; j++) if (a[j] !== b[j]) n++;
      return n;
    });
    let digest = 0;
    for (const o of together) for (const v of new Uint32Array(o.read())) digest = (Math.imul(digest, 31) + v) >>> 0;
    return { differing, digest };
  } finally {
    native.setNumThreads(threads);
  }
}

/** linears cases one after another (also the tier children's entry point). */
export function runLinearsCases(cases: LinearsCase[]): LinearsResult[] {
  return checkEach(cases, checkLinears);
}

/**
 * Weights packed for the CPU's linear (Tensor.packForLinear, native/cpu/gemm.h): where the tier packs them (the
 * AVX-512 tier: f32 and bf16 rows in pairs, quantized rows in groups of 16; AVX2: quantized rows in groups of
 * 8), linear and linears must give the bits the unpacked weights give; where it does not, packForLinear leaves
 * them as they were.
 */
export interface PackedCase {
  wdtype: 'f32' | 'bf16' | 'q8_0' | 'q4_0' | 'q4_1';
  M: number;
  K: number;
  N: number;
  seed: number;
}

/** The rows of one packed group on a kernel tier ('avx512', 'avx2', ...), 0 where it does not pack the dtype. */
export function packedGroupRows(wdtype: PackedCase['wdtype'], tier: string): number {
  if (tier === 'avx512') return isQuantized(wdtype) ? 16 : 2;
  if (tier === 'avx2') return isQuantized(wdtype) ? 8 : 0;
  return 0;
}

/** The kernel tier of this process (GPUFORMER_CPU_ISA may cap it). */
export const cpuTier = (): string =>
  (native.devices().devices.find((d) => d.id === 'cpu') as unknown as { isa: { tier: string } }).isa.tier;

export interface PackedResult {
  /** what packForLinear answered (N not a multiple of the group never packs) */
  packed: boolean;
  /** what it answered for the same weights while a view of them was alive (never packs) */
  packedWithView: boolean;
  /** outputs whose bits differ from the unpacked weights', by linear and by linears (packed and unpacked parts together) */
  linearMismatches: number;
  linearsMismatches: number;
  /** the same through a view of the rows after the first group (whole groups: it keeps the layout), -1 without one */
  viewMismatches: number;
  /** read() gives the weights as they were written, and cast to f32 their values */
  readsBack: boolean;
  castMismatches: number;
  /** the error codes of write(), of a view that splits a group and of an op that does not read packed weights (copy) */
  writeError: string;
  viewError: string;
  copyError: string;
}

const errorCode = (fn: () => unknown): string => {
  try {
    fn();
    return '';
  } catch (e) {
    return (e as { code?: string }).code ?? 'no code';
  }
};

export function checkPacked(c: PackedCase): PackedResult {
  const x = tensor('f32', [c.M, c.K], makeActivations(c.M, c.K, c.seed));
  const weights = c.wdtype === 'f32' ? normal(c.N * c.K, c.seed + 1) : encodeWeights(c.wdtype, c.N * c.K, c.seed + 1).bytes;
  const plain = tensor(c.wdtype, [c.N, c.K], weights);
  const packing = tensor(c.wdtype, [c.N, c.K], weights);
  const bias = tensor('f32', [c.N], normal(c.N, c.seed + 2));
  const packed = packing.packForLinear();
  const shared = tensor(c.wdtype, [c.N, c.K], weights);
  const view = shared.view(0, [c.N, c.K]);
  const packedWithView = shared.packForLinear();
  view.dispose();
  const differing = (a: Float32Array | ArrayBuffer, b: Float32Array | ArrayBuffer) => {
    const u = new Uint32Array(a instanceof ArrayBuffer ? a : a.buffer), v = new Uint32Array(b instanceof ArrayBuffer ? b : b.buffer);
    let n = 0;
    for (let i = 0; i < u.length; i++) if (u[i] !== v[i]) n++;
    return n;
  };
  const [want, got, gotA, gotB] = [out([c.M, c.N]), out([c.M, c.N]), out([c.M, c.N]), out([c.M, c.N])];
  runSync([
    ops.linear({ x, w: plain, bias, out: want }),
    ops.linear({ x, w: packing, bias, out: got }),
    ops.linears({ x, w: [packing, plain], bias: [bias, bias], out: [gotA, gotB] }),
  ]);
  const w = want.read();
  // the rows after the first group (of the largest group any tier packs), as a fused weight's later part is viewed
  const group = isQuantized(c.wdtype) ? 16 : 2;
  let viewMismatches = -1;
  if (c.N >= 2 * group) {
    const rest = c.N - group;
    const [wantRest, gotRest] = [out([c.M, rest]), out([c.M, rest])];
    runSync([
      ops.linear({ x, w: plain.view(group * c.K, [rest, c.K]), out: wantRest }),
      ops.linear({ x, w: packing.view(group * c.K, [rest, c.K]), out: gotRest }),
    ]);
    viewMismatches = differing(gotRest.read(), wantRest.read());
  }
  const [castPlain, castPacked] = [out([c.N, c.K]), out([c.N, c.K])];
  runSync([ops.cast({ x: plain, out: castPlain }), ops.cast({ x: packing, out: castPacked })]);
  return {
    packed,
    packedWithView,
    linearMismatches: differing(got.read(), w),
    linearsMismatches: differing(gotA.read(), w) + differing(gotB.read(), w),
    viewMismatches,
    readsBack: differing(packing.read(), plain.read()) === 0,
    castMismatches: differing(castPacked.read(), castPlain.read()),
    writeError: errorCode(() => packing.write(new Uint8Array(plain.read()))),
    viewError: errorCode(() => packing.view(c.K, [c.N - 2, c.K])),
    copyError: errorCode(() => runSync([ops.copy({ x: packing, out: tensor(c.wdtype, [c.N, c.K], weights) })])),
  };
}

export const PACKED_CASES: PackedCase[] = [
  ...(['f32', 'bf16'] as const).flatMap((wdtype, i) => [
    [1, 301, 40], [3, 96, 24], [17, 257, 40], [70, 384, 64], [9, 64, 7],
  ].map(([M, K, N], j) => ({ wdtype, M, K, N, seed: 9100 + 10 * i + j }))),
  // quantized: groups of 16 rows (8 on AVX2); N = 24 fills only groups of 8, N = 20 neither
  ...(['q8_0', 'q4_0', 'q4_1'] as const).flatMap((wdtype, i) => [
    [1, 64, 16], [3, 96, 48], [17, 256, 32], [70, 384, 64], [9, 64, 24], [2, 128, 20],
  ].map(([M, K, N], j) => ({ wdtype, M, K, N, seed: 9200 + 10 * i + j }))),
];

/** Packed-weight cases one after another (also the tier children's entry point). */
export function runPackedCases(cases: PackedCase[]): PackedResult[] {
  return checkEach(cases, checkPacked);
}
