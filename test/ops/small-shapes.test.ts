/**
 * Every CPU op on small shapes against its float64 reference, in one file cheap enough to run under
 * emulation: scripts/test-arm64.sh runs it on prebuilds/linux-arm64 under qemu-aarch64, where the full op
 * suites (sized for native speed) would take most of an hour. Natively it is a few seconds of npm test.
 * The cases and references are the op suites' own (linear-cases, portable-cases, cast-cases,
 * helpers/reference); the shapes still cover the one-row (decode) and many-row paths, ragged register tiles
 * (M and N not multiples of any tile) and K over several quantization blocks.
 */
import { DType } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, i32, TOLERANCE } from '../helpers/compare';
import { ints, nextSeed, normal, uniform } from '../helpers/random';
import * as ref from '../helpers/reference';
import { checkCast, FloatDType, SourceDType } from './cast-cases';
import {
  BiasDType, InvarianceCase, InvarianceResult, isQuantized, LinearCase, LinearResult, runCases as runLinearCases,
  runInvariance, WEIGHT_DTYPES,
} from './linear-cases';
import { runCases } from './portable-cases';
import { disposeAll, f32t, i32t, out, tensor } from './tensors';
import { CPU_TIERS, forEachTier, runInTier } from './tiers';

afterEach(disposeAll);

describe('linear', () => {
  // [M, K, N]: M = 1 is the decode path; M and N cross the register tiles' edges of every tier; quantized weights
  // meet 8-bit activations at every M, and the reference replays that (linear-cases.ts)
  const shapes: Array<[number, number, number]> = [[1, 64, 33], [1, 288, 7], [2, 96, 17], [5, 32, 33], [9, 160, 12], [17, 64, 5], [33, 96, 40]];
  const floatOnly: Array<[number, number, number]> = [[1, 7, 5], [3, 45, 9], [12, 100, 17]];
  const biases: Array<BiasDType | null> = [null, 'f32', 'f16', 'bf16'];
  const seed = nextSeed();
  const cases: LinearCase[] = WEIGHT_DTYPES.flatMap((wdtype) => (isQuantized(wdtype) ? shapes : [...shapes, ...floatOnly])
    .map(([M, K, N], i) => ({ wdtype, M, K, N, bias: biases[i % biases.length], seed: seed + 17 * i })));
  const expectPasses = (results: LinearResult[]) => results.forEach((r, i) => {
    const c = cases[i];
    expect({ ...c, ok: r.err <= TOLERANCE.f32 && (r.boundRatio ?? 0) <= 1 }).toEqual({ ...c, ok: true });
  });
  // batch invariance (linear-cases.ts): every M-row result equals its rows alone, and the same bits on every tier
  // (and bf16 around FLT_MIN, where the contract flushes)
  const invariance: InvarianceCase[] = [...WEIGHT_DTYPES.map((wdtype) => ({ wdtype })), { wdtype: 'bf16' as const, tiny: true }]
    .map((c, i) => ({ ...c, seed: seed + i, threads: 2, rows: [1, 2, 5, 9, 33] }));
  let here: InvarianceResult[] | undefined;
  const hereInvariance = () => (here ??= runInvariance(invariance));
  const expectInvariant = (results: InvarianceResult[]) => {
    results.forEach((r, i) => r.mismatches.forEach((m) => expect({ ...invariance[i], ...m }).toEqual({ ...invariance[i], M: m.M, count: 0 })));
    expect(results.map((r) => r.digest)).toEqual(hereInvariance().map((r) => r.digest));
  };

  test('every weight dtype against the float64 reference, and batch invariant', () => {
    expectPasses(runLinearCases(cases));
    expectInvariant(hereInvariance());
  });
  // Every tier must give the bits this process gave (the contract fixes each output's arithmetic), so the
  // invariance cases alone compare them. The x86-64 tiers get the full-size cases in linear.test.ts; here
  // the portable one and the Arm ones.
  describe('on every CPU kernel tier (child processes), with the same bits as this process', () => {
    forEachTier(CPU_TIERS.all.filter((t) => t.arch !== 'x64'), (tier) => {
      expectInvariant(runInTier<InvarianceResult[]>(tier, 'linear-cases.ts', 'runInvariance', invariance));
    });
  });
});

describe('attention, paged decode, softmax and the activations', () => {
  test('the shared cases (portable-cases.ts)', () => {
    for (const r of runCases(nextSeed())) expect({ name: r.name, ok: r.err <= TOLERANCE.f32 }).toEqual({ name: r.name, ok: true });
  });
});

describe('cast', () => {
  const pairs: Array<[SourceDType, FloatDType]> = [
    ['f32', 'f16'], ['f32', 'bf16'], ['f16', 'f32'], ['bf16', 'f32'], ['f16', 'bf16'], ['q8_0', 'f32'], ['q4_0', 'f16'], ['q4_1', 'bf16'],
  ];
  test.each(pairs)('%s to %s', (src, dst) => {
    expect(checkCast({ src, dst, n: 1024 + 32, seed: nextSeed() })).toBe(1056);
  });
});

describe('norms, rope, embedding and the row ops', () => {
  test.each(['layer', 'rms'] as const)('%s norm with the residual add, f16 weight', (kind) => {
    const seed = nextSeed();
    const R = 3, C = 200, eps = 1e-5;
    const x = normal(R * C, seed, 2).map((v) => v + 3), res = normal(R * C, seed + 1);
    const w = tensor('f16', [C], uniform(C, seed + 2, 0.5, 1.5)), b = tensor('f16', [C], uniform(C, seed + 3, -0.5, 0.5));
    const decode = (t: typeof w) => ref.decodeHalfBits(new Uint16Array(t.read()), 'f16');
    const rt = f32t([R, C], res), o = out([R, C]);
    runSync([kind === 'layer' ? ops.layerNorm({ x: f32t([R, C], x), residual: rt, weight: w, bias: b, eps, out: o })
      : ops.rmsNorm({ x: f32t([R, C], x), residual: rt, weight: w, eps, out: o })]);
    const sum = Float64Array.from(x, (v, i) => v + res[i]);
    expectClose(f32(o), ref.norm(kind, sum, R, C, decode(w), kind === 'layer' ? decode(b) : null, eps), TOLERANCE.f32, `${kind} norm`);
  });

  test.each([false, true])('rope, interleaved %s, partial rotary dims', (interleaved) => {
    const seed = nextSeed();
    const T = 5, H = 3, D = 48, R = 32;
    const x = normal(T * H * D, seed), positions = ints(T, seed + 1, 4096);
    const invFreq = Float32Array.from({ length: R / 2 }, (_, i) => 1 / 10000 ** ((2 * i) / R));
    const xt = f32t([T, H, D], x);
    runSync([ops.rope({ x: xt, positions: i32t(positions), invFreq: f32t([R / 2], invFreq), interleaved })]);
    expectClose(f32(xt), ref.rope(x, T, H, D, positions, invFreq, interleaved), TOLERANCE.f32, 'rope');
  });

  test.each(['f32', 'bf16', 'q4_1'] as const)('embedding from a %s table, scaled, with position rows', (dtype: DType) => {
    const seed = nextSeed();
    const V = 20, P = 10, T = 9, C = 64;
    const data = normal(V * C, seed);
    const q = isQuantized(dtype) ? ref.quantize(data, dtype as 'q4_1') : null;
    const tok = tensor(dtype, [V, C], q ? q.bytes : data);
    const tokValues = q ? q.values : dtype === 'f32' ? Float64Array.from(data) : ref.decodeHalfBits(new Uint16Array(tok.read()), 'bf16');
    const posData = normal(P * C, seed + 1);
    const ids = ints(T, seed + 2, V), posIds = ints(T, seed + 3, P);
    const o = out([T, C]);
    runSync([ops.embedding({ ids: i32t(ids), tok, posIds: i32t(posIds), pos: f32t([P, C], posData), scale: 0.5, out: o })]);
    expectClose(f32(o), ref.embedding(ids, tokValues, C, 0.5, { ids: posIds, table: posData }), 1e-6, 'embedding');
  });

  test('pool (mean, cls, last) over packed sequences, l2_normalize, gather_rows, add, argmax', () => {
    const seed = nextSeed();
    const C = 40, lens = [1, 6, 0, 3], cu = [0, 1, 7, 7, 10], T = 10;
    const x = normal(T * C, seed);
    for (const mode of ['mean', 'cls', 'last'] as const) {
      const o = out([lens.length, C]);
      runSync([ops.pool({ x: f32t([T, C], x), cuSeqlens: i32t(cu), mode, out: o })]);
      expectClose(f32(o), ref.pool(x, C, cu, mode), TOLERANCE.f32, `pool ${mode}`);
    }
    const n = out([T, C]);
    runSync([ops.l2Normalize({ x: f32t([T, C], x), out: n })]);
    expectClose(f32(n), ref.l2Normalize(x, T, C), TOLERANCE.f32, 'l2_normalize');
    const idx = [9, 0, 0, 4], g = out([idx.length, C]);
    runSync([ops.gatherRows({ x: f32t([T, C], x), idx: i32t(idx), out: g })]);
    expect(Array.from(f32(g))).toEqual(idx.flatMap((r) => Array.from(x.subarray(r * C, (r + 1) * C))));
    const y = normal(T * C, seed + 1), s = out([T * C]);
    runSync([ops.add({ a: f32t([T * C], x), b: f32t([T * C], y), out: s })]);
    expectClose(f32(s), Array.from(x, (v, i) => v + y[i]), 1e-6, 'add');
    const a = out([T], 'i32');
    runSync([ops.argmax({ logits: f32t([T, C], x), out: a })]);
    expect(Array.from(i32(a))).toEqual(Array.from({ length: T }, (_, r) => ref.argmax(x.subarray(r * C, (r + 1) * C))));
  });
});
