/**
 * linear: out [M,N] = x [M,K] · w [N,K]ᵀ + bias [N], for every weight dtype against float64 references built
 * from raw bytes in TypeScript (linear-cases.ts explains the quantized tolerances). Also: other thread counts,
 * every CPU kernel tier the machine has (portable, AVX2, AVX-512, with and without VNNI / BF16; tiers.ts), the
 * event loop staying free during a long run(), and coded errors for bad arguments.
 */
import { native } from '../../lib/native';
import { ops, run, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import {
  casesFor, checkLinear, checkLinears, cpuTier, encodeWeights, INVARIANCE_ROWS, InvarianceCase, InvarianceResult, isQuantized,
  LinearCase, LinearResult, linearRef, LinearsCase, LinearsResult, PACKED_CASES, packedGroupRows, PackedResult, runInvariance,
  runLinearsCases, runPackedCases, WEIGHT_DTYPES,
} from './linear-cases';
import { disposeAll, expectCoded, out, tensor } from './tensors';
import { CPU_TIERS, expectSameDigestsOnEveryTier, forEachTier, runInTier } from './tiers';

afterEach(disposeAll);

describe.each(WEIGHT_DTYPES)('linear with %s weights', (wdtype) => {
  const cases = casesFor(wdtype, nextSeed());
  test.each(cases.map((c) => [`M=${c.M} K=${c.K} N=${c.N} bias=${c.bias}`, c] as const))('%s', (_name, c) => {
    const r = checkLinear(c);
    if (r.boundRatio !== undefined) expect(r.boundRatio).toBeLessThanOrEqual(1);
  });
});

describe('linear is batch invariant: a row\'s result never depends on M, threads or the CPU tier', () => {
  // Each case is computed here (the best tier) and under every tier in a child process; all must give the
  // same digest, and inside each, every M-row result must equal its rows computed alone.
  const seed = nextSeed();
  // and bf16 around FLT_MIN, where the contract flushes (each tier's flush must be the contract's), with
  // subnormal activations among them (flushed before rounding on every tier)
  const cases: InvarianceCase[] = [...WEIGHT_DTYPES.map((wdtype) => ({ wdtype })), { wdtype: 'bf16' as const, tiny: true },
    { wdtype: 'bf16' as const, subnormal: true }]
    .flatMap((c, i) => [1, 2].map((threads) => ({ ...c, seed: seed + i, threads })));
  const expectInvariant = (results: InvarianceResult[]) => {
    results.forEach((r, i) => {
      for (const m of r.mismatches) {
        expect({ ...cases[i], M: m.M, differing: m.count, first: m.first }).toEqual({ ...cases[i], M: m.M, differing: 0, first: undefined });
      }
    });
  };
  let computed: InvarianceResult[] | undefined;
  const hereResults = (): InvarianceResult[] => (computed ??= runInvariance(cases));
  test(`in this process, M in ${INVARIANCE_ROWS.join(', ')}, 1 and 2 threads, every weight dtype`, () => {
    const here = hereResults();
    expectInvariant(here);
    // 1 and 2 threads agree
    for (let i = 0; i < cases.length; i += 2) expect(here[i + 1].digest).toBe(here[i].digest);
  });
  describe('on every CPU kernel tier, with the same results as this process', () => {
    expectSameDigestsOnEveryTier(CPU_TIERS.all, 'linear-cases.ts', 'runInvariance', cases, hereResults, expectInvariant);
  });
});

describe('linears: several weights of one input give what linear gives for each, bit for bit', () => {
  // q/k/v-like (one large and two small, odd sizes), gate/up-like, and one weight; biases absent, all, or some
  const seed = nextSeed();
  const cases: LinearsCase[] = WEIGHT_DTYPES.flatMap((wdtype, d) => [
    { Ns: [96, 32, 40], biases: undefined },
    { Ns: [130, 130], biases: ['f32', 'f16'] as LinearsCase['biases'] },
    { Ns: [7, 64, 1], biases: [null, 'bf16', null] as LinearsCase['biases'] },
    { Ns: [50], biases: ['f32'] as LinearsCase['biases'] },
  ].flatMap((s, i) => [1, 7, 33].map((M) => ({ wdtype, M, K: 64, ...s, seed: seed + 10 * d + i, threads: 1 + ((i + M) % 2) }))));
  const expectEqual = (results: LinearsResult[]) => results.forEach((r, i) => {
    expect({ ...cases[i], differing: r.differing }).toEqual({ ...cases[i], differing: cases[i].Ns.map(() => 0) });
  });
  let here: LinearsResult[] | undefined;
  const hereResults = () => (here ??= runLinearsCases(cases));
  test('in this process, every weight dtype, M 1, 7 and 33, 1 and 2 threads', () => expectEqual(hereResults()));
  describe('on every CPU kernel tier, with the same results as this process', () => {
    expectSameDigestsOnEveryTier(CPU_TIERS.all, 'linear-cases.ts', 'runLinearsCases', cases, hereResults, expectEqual);
  });
  test("SmolLM2's q/k/v shapes on 3 threads", () => {
    const r = checkLinears({ wdtype: 'q4_1', M: 3, K: 576, Ns: [576, 192, 192], seed, threads: 3 });
    expect(r.differing).toEqual([0, 0, 0]);
  });
});

describe('linear across thread counts', () => {
  const initial = native.numThreads();
  afterAll(() => native.setNumThreads(initial));
  test.each([1, 3])('%i thread(s): one and many row tiles, float and quantized weights', (threads) => {
    native.setNumThreads(threads);
    expect(native.numThreads()).toBe(threads);
    const seed = nextSeed();
    const shapes: Array<[number, number, number]> = [[1, 576, 512], [3, 384, 33], [64, 576, 512], [257, 96, 7]];
    for (const wdtype of ['f32', 'bf16', 'q4_1', 'q8_0'] as const) {
      shapes.forEach(([M, K, N], i) => checkLinear({ wdtype, M, K, N, bias: i % 2 ? 'f32' : null, seed: seed + i }));
    }
  });
});

describe('weights packed for the CPU linear (Tensor.packForLinear): the same bits from linear and linears', () => {
  // The AVX-512 tier packs f32 and bf16 weights of an even row count (its tiles then load a weight pair at
  // once) and quantized ones of a row count that fills groups of 16 (a block's scales and quants load as whole
  // vectors), the AVX2 tier quantized ones in groups of 8; the others leave them as they are. Either way the outputs are the unpacked weights' bits, read()
  // and cast give the rows back, views of whole groups keep working, and writes, views that split a group and
  // ops that read raw tensors (copy) are refused.
  const expectPacked = (results: PackedResult[], tier: string) => {
    results.forEach((r, i) => {
      const c = PACKED_CASES[i];
      const group = packedGroupRows(c.wdtype, tier);
      const packs = group > 0 && c.N % group === 0;
      expect({ ...c, packed: r.packed, packedWithView: r.packedWithView }).toEqual({ ...c, packed: packs, packedWithView: false });
      expect({ ...c, linear: r.linearMismatches, linears: r.linearsMismatches }).toEqual({ ...c, linear: 0, linears: 0 });
      expect({ ...c, view: r.viewMismatches }).toEqual({ ...c, view: c.N >= 2 * (isQuantized(c.wdtype) ? 16 : 2) ? 0 : -1 });
      const refused = packs ? 'ERR_GPUFORMER_INPUT' : '';
      expect({ ...c, readsBack: r.readsBack, cast: r.castMismatches, write: r.writeError, view: r.viewError, copy: r.copyError })
        .toEqual({ ...c, readsBack: true, cast: 0, write: refused, view: refused, copy: refused });
    });
  };
  test('in this process', () => {
    expectPacked(runPackedCases(PACKED_CASES), cpuTier());
  });
  forEachTier(CPU_TIERS.all, (tier) => {
    expectPacked(runInTier<PackedResult[]>(tier, 'linear-cases.ts', 'runPackedCases', PACKED_CASES), tier.level.tier);
  });
});

describe('linear on every CPU kernel tier (child processes with GPUFORMER_CPU_ISA)', () => {
  const seed = nextSeed();
  const cases: LinearCase[] = WEIGHT_DTYPES.flatMap((wdtype) => casesFor(wdtype, seed)
    .filter((c) => c.M * c.N * c.K <= 4e6 || c.M === 1));
  forEachTier(CPU_TIERS.all, (tier) => {
    const results = runInTier<LinearResult[]>(tier, 'linear-cases.ts', 'runCases', cases);
    expect(results).toHaveLength(cases.length);
    for (const r of results) {
      expect(r.err).toBeLessThanOrEqual(TOLERANCE.f32);
      if (r.boundRatio !== undefined) expect(r.boundRatio).toBeLessThanOrEqual(1);
    }
  });
});

describe('linear through run() keeps the event loop free', () => {
  /**
   * The program is sized by this machine's own speed (one matmul timed first), so it lasts about RUN_MS
   * whether the machine is slow or fast; the assertion counts timer ticks against the duration measured
   * for this run, never against a fixed number of milliseconds.
   */
  const RUN_MS = 300;
  const TICK_MS = 5;

  test('timers keep firing while a long matmul program runs on the worker thread', async () => {
    const M = 256, K = 1536, N = 1536;
    const seed = nextSeed();
    const x = normal(M * K, seed);
    const w = encodeWeights('f32', N * K, seed + 1);
    const xt = tensor('f32', [M, K], x);
    const wt = tensor('f32', [N, K], w.bytes);
    const o = out([M, N]);
    const matmul = () => ops.linear({ x: xt, w: wt, out: o });
    const t0 = performance.now();
    await run([matmul()]); // one, to learn this machine's speed (and warm the caches)
    const one = Math.max(performance.now() - t0, 0.05);
    const repeats = Math.min(Math.max(Math.ceil(RUN_MS / one), 2), 10000);
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, TICK_MS);
    const start = performance.now();
    await run(Array.from({ length: repeats }, matmul));
    const elapsed = performance.now() - start;
    clearInterval(timer);
    // A blocked event loop gives at most one tick (the late one after it unblocks); a free one about
    // elapsed / TICK_MS. Timers run late on a loaded machine, so only one tick per 20 intervals is required.
    expect(ticks).toBeGreaterThanOrEqual(Math.max(2, Math.floor(elapsed / (20 * TICK_MS))));
    // and the result is right: check the first rows against the float64 reference
    const rows = 2;
    expectClose(f32(o).subarray(0, rows * N), linearRef(x.subarray(0, rows * K), w.values, null, rows, N, K), TOLERANCE.f32);
  });
});

describe('linear input errors', () => {
  const x = () => tensor('f32', [3, 64], normal(3 * 64, 1));
  test('w with other input features', () => {
    expectCoded(() => runSync([ops.linear({ x: x(), w: tensor('f32', [5, 32], normal(160, 2)), out: out([3, 5]) })]),
      'ERR_GPUFORMER_INPUT', /input features/);
  });
  test('out of the wrong shape', () => {
    expectCoded(() => runSync([ops.linear({ x: x(), w: tensor('f32', [5, 64], normal(320, 2)), out: out([3, 6]) })]),
      'ERR_GPUFORMER_INPUT', /out/);
  });
  test('half-precision activations on the cpu', () => {
    expectCoded(() => runSync([ops.linear({
      x: tensor('f16', [3, 64], normal(192, 1)), w: tensor('f32', [5, 64], normal(320, 2)), out: out([3, 5], 'f16'),
    })]), 'ERR_GPUFORMER_INPUT', /f32 on the cpu/);
  });
  test('a quantized bias', () => {
    const w = tensor('f32', [32, 64], normal(32 * 64, 2));
    const bias = tensor('q8_0', [32], encodeWeights('q8_0', 32, 3).bytes);
    expectCoded(() => runSync([ops.linear({ x: x(), w, bias, out: out([3, 32]) })]), 'ERR_GPUFORMER_INPUT', /bias/);
  });
  test('bias of the wrong length', () => {
    const w = tensor('f32', [5, 64], normal(320, 2));
    expectCoded(() => runSync([ops.linear({ x: x(), w, bias: tensor('f32', [4], normal(4, 3)), out: out([3, 5]) })]),
      'ERR_GPUFORMER_INPUT', /bias/);
  });
  test('linears: weights of two dtypes, counts that do not match, a weight with other input features', () => {
    const w = (dtype: 'f32' | 'q8_0', n: number, k = 64) => tensor(dtype, [n, k], dtype === 'f32' ? normal(n * k, 4) : encodeWeights(dtype, n * k, 5).bytes);
    expectCoded(() => runSync([ops.linears({ x: x(), w: [w('f32', 32), w('q8_0', 32)], out: [out([3, 32]), out([3, 32])] })]),
      'ERR_GPUFORMER_INPUT', /linears \(weight 1\): every weight must have one dtype/);
    expectCoded(() => runSync([ops.linears({ x: x(), w: [w('f32', 32), w('f32', 8)], out: [out([3, 32])] })]),
      'ERR_GPUFORMER_INPUT', /linears: 'out' has 1 tensors for 2 weights/);
    expectCoded(() => runSync([ops.linears({ x: x(), w: [w('f32', 32)], bias: [null, null], out: [out([3, 32])] })]),
      'ERR_GPUFORMER_INPUT', /linears: 'bias' has 2 entries for 1 weights/);
    expectCoded(() => runSync([ops.linears({ x: x(), w: [w('f32', 32), w('f32', 8, 32)], out: [out([3, 32]), out([3, 8])] })]),
      'ERR_GPUFORMER_INPUT', /linears \(weight 1\): 'x' has 64 input features but 'w' expects 32/);
    expectCoded(() => runSync([ops.linears({ x: x(), w: [], out: [] })]), 'ERR_GPUFORMER_INPUT', /at least one weight/);
  });
});
