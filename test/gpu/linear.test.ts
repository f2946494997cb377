/**
 * linear (x · wᵀ + bias) on the device against the CPU, for every weight dtype (f32, f16, bf16 and GGUF
 * Q8_0 / Q4_0 / Q4_1 blocks) in every activation dtype, on the shapes and bias dtypes of test/ops/linear-cases
 * (decode-sized and GEMM-sized M, K and N that do and do not suit 16-byte and tensor-core paths), plus a
 * large GEMM and weights converted slice by slice.
 *
 * Quantized weights with at most 8 rows (QUANT_GEMV_MAX_ROWS: native/cpu/linear.cc and
 * native/cuda/quant_matmul.cuh) take the integer path on both devices: activations are rounded to 8 bits per
 * 32-block first. Both round to nearest, but the device divides by the block's step under fast math while the
 * CPU multiplies by its inverse, so a value within an ulp of a rounding boundary can land on different sides;
 * each such flip moves one product by step · |w|, up to 5e-4 of the largest output on these data (simulated
 * over 20 seeds of these cases with a 2-ulp quotient error: one flip in about one case in seven). Such cases
 * agree within QUANT_AGREE, and each element must stay within the activation rounding bound of the exact
 * product, as on the CPU (linear-cases.ts). Larger M keeps the activations exact on both.
 */
import { ops } from '../../lib/ops';
import { nextSeed, uniform } from '../helpers/random';
import {
  activationRoundingBound, casesFor, Encoded, encodeFloat, encodeWeights, isQuantized, LinearCase, linearRef, makeActivations,
  quantizeActivations, WEIGHT_DTYPES,
} from '../ops/linear-cases';
import { ACTS, Act, act, describeGpu, disposeAll, expectAgree, output, raw, runBoth, Spec, VS_CPU } from './both-devices';

afterEach(disposeAll);

const QUANT_GEMV_MAX_ROWS = 8;
/** a few 8-bit rounding flips (5e-4 each at most, see above); any real indexing or scale error is O(1) */
const QUANT_AGREE = 3e-3;

/** Weight bytes and the values they hold, encoded once per case and shared by the activation dtypes. */
const encoded = new Map<LinearCase, Encoded>();
const weightsOf = (c: LinearCase): Encoded => {
  if (!encoded.has(c)) encoded.set(c, encodeWeights(c.wdtype, c.N * c.K, c.seed + 1));
  return encoded.get(c)!;
};

/**
 * Runs case c on both devices. w: the weight tensor; values: what it holds, needed only by the quantized
 * integer path's bound check.
 */
function check(a: Act, c: LinearCase, w: Spec, values: Float64Array | null): void {
  const { wdtype, M, K, N } = c;
  const what = `linear ${wdtype} M=${M} K=${K} N=${N} bias=${c.bias} seed=${c.seed}`;
  const b = c.bias ? encodeFloat(c.bias, N, c.seed + 2, -3, 2) : null;
  const specs: Record<string, Spec> = { x: act([M, K], makeActivations(M, K, c.seed)), w, out: output([M, N]) };
  if (b && c.bias) specs.bias = raw(c.bias, [N], b.bytes);
  const r = runBoth(a, specs, (t) => [ops.linear({ x: t.x, w: t.w, bias: t.bias ?? null, out: t.out })]);
  if (!isQuantized(wdtype) || M > QUANT_GEMV_MAX_ROWS) {
    expectAgree(r, 'out', a, what);
    return;
  }
  if (!values) throw new Error(`${what}: the quantized integer path needs the weight values`);
  expectAgree(r, 'out', a, `${what} (8-bit activations on both)`, QUANT_AGREE + VS_CPU[a]);
  const x = r.inputs.x;
  const exact = linearRef(x, values, b ? b.values : null, M, N, K);
  const bound = activationRoundingBound(quantizeActivations(Float32Array.from(x), K).step, values, M, N, K);
  const slack = VS_CPU[a] * exact.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const got = r.dev.out;
  for (let i = 0; i < got.length; i++) {
    if (!(Math.abs(got[i] - exact[i]) <= bound[i] + slack)) {
      throw new Error(`${what} [${a}]: element ${i} is off the exact product by ${Math.abs(got[i] - exact[i])}, more than the ` +
        `activation rounding bound ${bound[i]} + ${slack}`);
    }
  }
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
