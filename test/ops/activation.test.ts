/**
 * gelu (erf and tanh), silu, tanh, swiglu and softmax against float64 references; AVX-512's gelu, silu and
 * swiglu give AVX2's bits (the same arithmetic on sixteen lanes).
 */
import type { Command, Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal, uniform } from '../helpers/random';
import * as ref from '../helpers/reference';
import { activationDigests, inputs } from './activation-cases';
import { disposeAll, f32t, out } from './tensors';
import { CPU_TIERS, forEachTier, runInTier } from './tiers';

afterEach(disposeAll);

describe('pointwise activations', () => {
  const sizes = [1, 7, 17, 1024, 257 * 13, 70001];
  const pointwise: Array<[string, (x: Tensor, o: Tensor) => Command, (v: number) => number]> = [
    ['gelu erf', (x, o) => ops.gelu({ x, out: o }), ref.geluErf],
    ['gelu tanh', (x, o) => ops.gelu({ x, out: o, tanh: true }), ref.geluTanh],
    ['silu', (x, o) => ops.silu({ x, out: o }), ref.silu],
    ['tanh', (x, o) => ops.tanh({ x, out: o }), Math.tanh],
  ];
  describe.each(pointwise)('%s', (name, op, reference) => {
    test.each(sizes)('n = %i', (n) => {
      const seed = nextSeed();
      const x = inputs(n, seed);
      const o = out([n]);
      runSync([op(f32t([n], x), o)]);
      expectClose(f32(o), Array.from(x, reference), TOLERANCE.f32, `${name} seed ${seed}`);
    });
  });
  test('gelu erf and tanh differ where they should (the flag is honoured)', () => {
    const x = new Float32Array([-2, -1, 1.5, 3]);
    const a = out([4]), b = out([4]);
    runSync([ops.gelu({ x: f32t([4], x), out: a }), ops.gelu({ x: f32t([4], x), out: b, tanh: true })]);
    expectClose(f32(a), Array.from(x, ref.geluErf), 1e-6);
    expectClose(f32(b), Array.from(x, ref.geluTanh), 1e-6);
  });
  test.each([[1, 1], [3, 17], [17, 1376], [2, 11008]])('swiglu, R = %i, F = %i', (R, F) => {
    const seed = nextSeed();
    const g = inputs(R * F, seed), u = normal(R * F, seed + 1);
    const o = out([R, F]);
    runSync([ops.swiglu({ gate: f32t([R, F], g), up: f32t([R, F], u), out: o })]);
    expectClose(f32(o), Array.from(g, (v, i) => ref.silu(v) * u[i]), TOLERANCE.f32, `swiglu seed ${seed}`);
  });
});

describe('an element\'s activation does not depend on how many rows share the call (batch invariance)', () => {
  // F = 172 (llama2.c 260K) is not a multiple of the vector width: some rows end in a partial vector, and the
  // thread pool cuts the flat buffer at row-count-dependent places; every element must still get the same bits.
  const F = 172, R = 40;
  const bits = (t: ReturnType<typeof out>) => new Uint32Array(f32(t).buffer);
  test.each([
    ['swiglu', (x: ReturnType<typeof f32t>, u: ReturnType<typeof f32t>, o: ReturnType<typeof out>) => ops.swiglu({ gate: x, up: u, out: o })],
    ['silu', (x: ReturnType<typeof f32t>, _u: unknown, o: ReturnType<typeof out>) => ops.silu({ x, out: o })],
    ['gelu erf', (x: ReturnType<typeof f32t>, _u: unknown, o: ReturnType<typeof out>) => ops.gelu({ x, out: o })],
    ['gelu tanh', (x: ReturnType<typeof f32t>, _u: unknown, o: ReturnType<typeof out>) => ops.gelu({ x, out: o, tanh: true })],
  ] as const)('%s: the first rows of a 40-row call, computed alone, get the same bits', (_name, op) => {
    const seed = nextSeed();
    const g = inputs(R * F, seed), u = normal(R * F, seed + 1);
    const whole = out([R, F]);
    runSync([op(f32t([R, F], g), f32t([R, F], u), whole)]);
    const want = bits(whole);
    for (const r of [1, 2, 3, 5, 31]) {
      const part = out([r, F]);
      runSync([op(f32t([r, F], g.subarray(0, r * F)), f32t([r, F], u.subarray(0, r * F)), part)]);
      expect(Buffer.from(bits(part).buffer).equals(Buffer.from(want.slice(0, r * F).buffer))).toBe(true);
    }
  });
});

describe('softmax', () => {
  test.each([[1, 1], [1, 7], [17, 257], [4, 32000], [64, 64]])('R = %i, C = %i', (R, C) => {
    const seed = nextSeed();
    const x = normal(R * C, seed, 4);
    for (let r = 0; r < R; r++) x[r * C] += 50; // large values must not overflow
    const o = out([R, C]);
    runSync([ops.softmax({ x: f32t([R, C], x), out: o })]);
    const got = f32(o), want = ref.softmaxRows(x, R, C);
    for (let r = 0; r < R; r++) {
      expectClose(got.subarray(r * C, (r + 1) * C), want.subarray(r * C, (r + 1) * C), TOLERANCE.f32, `softmax row ${r} seed ${seed}`);
    }
  });
  test('masked (−inf) entries get exactly zero', () => {
    const x = uniform(40, nextSeed());
    for (let i = 0; i < 40; i += 3) x[i] = -Infinity;
    const o = out([2, 20]);
    runSync([ops.softmax({ x: f32t([2, 20], x), out: o })]);
    const got = f32(o);
    for (let i = 0; i < 40; i += 3) expect(got[i]).toBe(0);
    expectClose(got, ref.softmaxRows(x, 2, 20), TOLERANCE.f32);
  });
});

describe('the AVX-512 activations compute as the AVX2 ones, bit for bit', () => {
  const seed = nextSeed();
  // one digest per activation from the AVX2 tier; every x86 SIMD tier must give it
  let avx2: Record<string, number> | undefined;
  const simd = CPU_TIERS.plain.filter((t) => t.cap.startsWith('avx'));
  forEachTier(simd, (tier) => {
    const got = runInTier<Record<string, number>>(tier, 'activation-cases.ts', 'activationDigests', seed);
    avx2 ??= runInTier<Record<string, number>>(simd[0], 'activation-cases.ts', 'activationDigests', seed);
    expect(got).toEqual(avx2);
  });
});
