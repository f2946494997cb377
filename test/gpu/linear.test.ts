/**
 * linear (x · wᵀ + bias) on the device against the CPU, for every weight dtype (f32, f16, bf16 and GGUF
 * Q8_0 / Q4_0 / Q4_1 blocks) in every activation dtype, on the shapes and bias dtypes of test/ops/linear-cases
 * (decode-sized and GEMM-sized M, K and N that do and do not suit 16-byte and tensor-core paths), plus a
 * large GEMM, weights converted slice by slice, the row kernels' batch invariance and their switch.
 *
 * Quantized weights: CUDA's row kernels (M ≤ 16 by default, every M in the batch-invariant mode; gemv.cuh)
 * round the activations to 8 bits per 32-block first, the CPU does so on its own paths (linear-cases.ts), and
 * which one a product took shows in its error against the exact product (8-bit activations cost ~0.3 % of
 * the largest output, f32 ones nothing). Where both rounded, they agree within QUANT_AGREE: both round to
 * nearest with the same arithmetic, but a value within an ulp of a rounding boundary can still land on
 * different sides after the devices' different summation orders of the activations' f16 / bf16 inputs; each
 * such flip moves one product by step · |w|, up to 5e-4 of the largest output on these data. Where the device
 * rounded, each element must stay within the activation rounding bound of the exact product, as on the CPU.
 */
import { native } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { relError, TOLERANCE } from '../helpers/compare';
import { nextSeed, uniform } from '../helpers/random';
import {
  activationRoundingBound, casesFor, Encoded, encodeFloat, encodeWeights, isQuantized, LinearCase, linearRef, makeActivations,
  quantizeActivations, WEIGHT_DTYPES,
} from '../ops/linear-cases';
import {
  ACTS, Act, act, describeCuda, describeGpu, disposeAll, expectAgree, expectSame, numbers, onDevice, output, raw, runBoth, Spec,
  STAND_IN, VS_CPU,
} from './both-devices';

afterEach(disposeAll);

/** The most activation rows CUDA's linear gives the row kernels by default (native/cuda/gemv.cuh kDecodeMaxRows). */
const DECODE_ROWS = 16;
/** a few 8-bit rounding flips (5e-4 each at most, see above); any real indexing or scale error is O(1) */
const QUANT_AGREE = 3e-3;

/** Weight bytes and the values they hold, encoded once per case and shared by the activation dtypes. */
const encoded = new Map<LinearCase, Encoded>();
const weightsOf = (c: LinearCase): Encoded => {
  if (!encoded.has(c)) encoded.set(c, encodeWeights(c.wdtype, c.N * c.K, c.seed + 1));
  return encoded.get(c)!;
};

/** Every element of got within the 8-bit activation rounding bound of the exact product (plus the dtype's slack). */
function expectWithinRoundingBound(got: Float64Array, x: Float64Array, values: Float64Array, exact: Float64Array, c: LinearCase,
  a: Act, what: string): void {
  const bound = activationRoundingBound(quantizeActivations(Float32Array.from(x), c.K).step, values, c.M, c.N, c.K);
  const slack = VS_CPU[a] * exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - exact[i]) <= bound[i] + slack)) {
      throw new Error(`${what} [${a}]: element ${i} is off the exact product by ${Math.abs(got[i] - exact[i])}, more than the ` +
        `activation rounding bound ${bound[i]} + ${slack}`);
    }
  }
}

/**
 * Runs case c on both devices. w: the weight tensor; values: what it holds (quantized weights only: the rounding
 * bound needs them).
 */
function check(a: Act, c: LinearCase, w: Spec, values: Float64Array | null): void {
  const { wdtype, M, K, N } = c;
  const what = `linear${c.batchInvariant ? ' (batch-invariant)' : ''} ${wdtype} M=${M} K=${K} N=${N} bias=${c.bias} seed=${c.seed}`;
  const b = c.bias ? encodeFloat(c.bias, N, c.seed + 2, -3, 2) : null;
  const specs: Record<string, Spec> = { x: act([M, K], makeActivations(M, K, c.seed)), w, out: output([M, N]) };
  if (b && c.bias) specs.bias = raw(c.bias, [N], b.bytes);
  const r = runBoth(a, specs, (t) => [ops.linear({ x: t.x, w: t.w, bias: t.bias ?? null, out: t.out, batchInvariant: c.batchInvariant })]);
  if (!isQuantized(wdtype)) {
    expectAgree(r, 'out', a, what);
    return;
  }
  if (!values) throw new Error(`${what}: a quantized case needs the weight values`);
  const exact = linearRef(r.inputs.x, values, b ? b.values : null, M, N, K);
  const cpuRounded = relError(r.cpu.out, exact) > TOLERANCE.f32;
  const devRounded = STAND_IN ? cpuRounded : !!c.batchInvariant || M <= DECODE_ROWS;
  if (devRounded && cpuRounded) expectAgree(r, 'out', a, `${what} (8-bit activations on both)`, QUANT_AGREE + VS_CPU[a]);
  else if (!devRounded && !cpuRounded) expectAgree(r, 'out', a, what);
  else if (!devRounded) expect(relError(r.dev.out, exact)).toBeLessThanOrEqual(VS_CPU[a]);  // the CPU rounded, the device did not
  if (devRounded) expectWithinRoundingBound(r.dev.out, r.inputs.x, values, exact, c, a, what);
}

describeGpu.each(WEIGHT_DTYPES)('linear with %s weights', (wdtype) => {
  const cases = casesFor(wdtype, nextSeed());
  describe.each(ACTS)('%s activations', (a) => {
    test.each(cases.map((c) => [`M=${c.M} K=${c.K} N=${c.N} bias=${c.bias}`, c] as const))('%s', (_name, c) => {
      const w = weightsOf(c);
      check(a, c, raw(wdtype, [c.N, c.K], w.bytes), w.values);
    });
  });
});

/**
 * N×K float weights, quickly: each row a different window of one pool of 2^20 random values, rounded to the
 * weight dtype by the addon. (Encoding tens of millions of elements one by one in TypeScript, as
 * linear-cases.ts does, takes minutes; only the quantized path's bound check needs exact values.)
 */
function bigWeights(N: number, K: number, seed: number): Float32Array {
  const pool = uniform(1 << 20, seed);
  const w = new Float32Array(N * K);
  for (let n = 0; n < N; n++) {
    const o = (n * 7919) % (pool.length - K);  // 7919 is coprime with the window range: no two rows alike
    w.set(pool.subarray(o, o + K), n * K);
  }
  return w;
}

describeGpu('linear, larger problems', () => {
  describe.each(ACTS)('%s activations', (a) => {
    test.each([
      ['f16', 300, 2048, 1536, 'f32'], ['bf16', 128, 4096, 1024, null],
      // weights in another dtype are converted into the activation dtype in slices of 64 MiB (4096 rows of
      // K = 4096 in f32, 8192 in f16 / bf16): several GEMMs with offset outputs and biases
      ['f16', 40, 4096, 4200, 'bf16'], ['f32', 9, 4096, 8300, 'f16'],
    ] as const)('%s weights, M = %i, K = %i, N = %i, bias %s', (wdtype, M, K, N, bias) => {
      const c: LinearCase = { wdtype, M, K, N, bias, seed: nextSeed() };
      check(a, c, raw(wdtype, [N, K], bigWeights(N, K, c.seed + 1)), null);
    });
  });
});

/**
 * A product's rows computed alone and inside batches of `sizes` rows, at other positions: the same bits. The
 * activation rows are rounded to the activation dtype once, so every call sees the same numbers.
 */
function expectRowsInvariant(a: Act, wdtype: (typeof WEIGHT_DTYPES)[number], batchInvariant: boolean, sizes: number[]): void {
  const K = 320, N = 72;  // N not a multiple of 16: a partial block of weight rows
  const seed = nextSeed();
  const most = Math.max(...sizes);
  const pool = makeActivations(most, K, seed);
  const w = encodeWeights(wdtype, N * K, seed + 1);
  const product = (ids: number[]): Float64Array => {
    const x = new Float32Array(ids.length * K);
    ids.forEach((r, i) => x.set(pool.subarray(r * K, (r + 1) * K), i * K));
    const t = onDevice(a, { x: act([ids.length, K], x), w: raw(wdtype, [N, K], w.bytes), out: output([ids.length, N]) });
    runSync([ops.linear({ x: t.x, w: t.w, out: t.out, batchInvariant })]);
    return numbers(t.out);
  };
  const probe = [0, 3, most - 1];
  const others = Array.from({ length: most }, (_, i) => i).filter((r) => !probe.includes(r));
  const alone = probe.map((r) => product([r]));
  for (const size of sizes) {
    const ids = Array.from({ length: size }, (_, i) => others[i % others.length]);
    [size - 1, size >> 1, 0].forEach((at, i) => { ids[at] = probe[i]; });  // at the end, the middle and the start
    const got = product(ids);
    probe.forEach((r, i) => {
      const at = ids.indexOf(r);
      expectSame(got.subarray(at * N, (at + 1) * N), alone[i], `${wdtype} [${a}] row ${r} at ${at} of ${size} vs alone`);
    });
  }
}

describeGpu.each(WEIGHT_DTYPES)('batch-invariant linear with %s weights', (wdtype) => {
  describe.each(ACTS)('%s activations', (a) => {
    test('a row has the same bits alone and among 7, 33 or 100 rows (several chunks of 16)', () => {
      expectRowsInvariant(a, wdtype, true, [7, 33, 100]);
    });
    test('the CPU\'s product at prefill sizes', () => {
      const seed = nextSeed();
      for (const [M, K, N] of [[40, 384, 33], [100, 1536, 7]] as const) {
        const c: LinearCase = { wdtype, M, K, N, bias: 'f32', seed, batchInvariant: true };
        const w = weightsOf(c);
        check(a, c, raw(wdtype, [N, K], w.bytes), w.values);
      }
    });
  });
});

// CUDA's default linear hands M ≤ 16 to the row kernels (f32 weights with f32 activations excepted: cuBLASLt)
const DECODE_PAIRS = WEIGHT_DTYPES.flatMap((w) => (['f32', 'f16', 'bf16'] as const).filter((a) => !(w === 'f32' && a === 'f32'))
  .map((a) => [w, a] as const));
describeCuda.each(DECODE_PAIRS)('default linear with %s weights and %s activations, decode sizes', (wdtype, a) => {
  test('a row has the same bits alone and among 5 or 16 rows', () => expectRowsInvariant(a, wdtype, false, [5, 16]));
});

describeCuda('setCudaDecodeKernels(false): M ≤ 16 on cuBLASLt / dequantize + GEMM instead of the row kernels', () => {
  afterEach(() => native.setCudaDecodeKernels(true));
  test.each(['f16', 'bf16', 'q4_0', 'q8_0'] as const)('%s weights: the CPU\'s product either way', (wdtype) => {
    expect(native.cudaDecodeKernels()).toBe(true);
    native.setCudaDecodeKernels(false);
    expect(native.cudaDecodeKernels()).toBe(false);
    const a: Act = wdtype === 'bf16' ? 'bf16' : 'f16';
    const c: LinearCase = { wdtype, M: 4, K: 576, N: 33, bias: null, seed: nextSeed() };
    const w = weightsOf(c);
    const r = runBoth(a, { x: act([c.M, c.K], makeActivations(c.M, c.K, c.seed)), w: raw(wdtype, [c.N, c.K], w.bytes), out: output([c.M, c.N]) },
      (t) => [ops.linear({ x: t.x, w: t.w, out: t.out })]);
    // the GEMM paths keep the activations exact: the exact product within the dtype's tolerance
    const exact = linearRef(r.inputs.x, w.values, null, c.M, c.N, c.K);
    expect(relError(r.dev.out, exact)).toBeLessThanOrEqual(VS_CPU[a]);
  });
});

describeGpu('linears on the device: what linear gives for each weight (and f32 weights within tolerance of the CPU)', () => {
  // q/k/v-like weights with biases; M = 3 (row kernels) and 40 (cuBLASLt / GEMM), both modes
  const seed = nextSeed();
  const Ns = [96, 32, 32], K = 64;
  describe.each(ACTS)('%s activations', (a) => {
    // (the CPU stand-in runs the f32 cases only)
    test.each(STAND_IN ? ['f32'] as const : ['f32', 'q4_1', 'q8_0'] as const)('%s weights, M 3 and 40, default and batch-invariant', (wdtype) => {
      for (const M of [3, 40]) {
        for (const batchInvariant of [false, true]) {
          const specs: Record<string, Spec> = { x: act([M, K], makeActivations(M, K, seed + M)) };
          Ns.forEach((N, i) => {
            specs[`w${i}`] = raw(wdtype, [N, K], encodeWeights(wdtype, N * K, seed + 1 + i).bytes);
            specs[`b${i}`] = act([N], uniform(N, seed + 10 + i, -1, 1));
            specs[`together${i}`] = output([M, N]);
            specs[`alone${i}`] = output([M, N]);
          });
          const b = runBoth(a, specs, (t) => [
            ops.linears({ x: t.x, w: Ns.map((_, i) => t[`w${i}`]), bias: Ns.map((_, i) => t[`b${i}`]), out: Ns.map((_, i) => t[`together${i}`]), batchInvariant }),
            ...Ns.map((_, i) => ops.linear({ x: t.x, w: t[`w${i}`], bias: t[`b${i}`], out: t[`alone${i}`], batchInvariant })),
          ]);
          const what = `linears ${wdtype} M=${M} batchInvariant=${batchInvariant}`;
          Ns.forEach((_, i) => {
            expectSame(b.dev[`together${i}`], b.dev[`alone${i}`], `${what}: weight ${i} on ${a}`);
            // (quantized weights against the CPU: the suite above, with the rounding bound of the paths each took)
            if (wdtype === 'f32') expectAgree(b, `together${i}`, a, what);
          });
        }
      }
    });
  });
});
