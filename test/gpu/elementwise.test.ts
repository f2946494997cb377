/**
 * add, copy, cast, gather_rows, pool and l2_normalize on the device against the CPU. Casts and copies are
 * exact operations: every element must match (NaN stays NaN, the sign of zero survives), inputs covering every
 * f16 / bf16 bit pattern, f32 specials and random GGUF blocks (test/ops/cast-cases.ts).
 */
import { DType } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { ints, nextSeed, normal } from '../helpers/random';
import { FloatDType, makeSource, SourceDType } from '../ops/cast-cases';
import { encodeWeights } from '../ops/linear-cases';
import {
  ACTS, act, cuSeqlens, describeGpu, disposeAll, expectAgree, expectSame, i32s, onDevice, output, raw, runBoth, VS_CPU,
} from './both-devices';

afterEach(disposeAll);

describeGpu('add', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([1, 17, 257 * 3, 100003])('n = %i', (n) => {
      const seed = nextSeed();
      const r = runBoth(a, { a: act([n], normal(n, seed)), b: act([n], normal(n, seed + 1)), out: output([n]) },
        (t) => [ops.add({ a: t.a, b: t.b, out: t.out })]);
      expectAgree(r, 'out', a, `add seed ${seed}`);
    });

    test('out may alias an input', () => {
      const seed = nextSeed();
      const r = runBoth(a, { a: act([10, 100], normal(1000, seed)), b: act([10, 100], normal(1000, seed + 1)) },
        (t) => [ops.add({ a: t.a, b: t.b, out: t.a })]);
      expectAgree(r, 'a', a, `add in place seed ${seed}`);
    });
  });
});

describeGpu('copy', () => {
  test.each(['f32', 'f16', 'bf16', 'i32', 'q4_1'] as const)('%s: the bytes, whatever the shapes', (dtype) => {
    const seed = nextSeed();
    const n = 3 * 1024;
    const bytes = dtype === 'i32' ? new Uint8Array(ints(n, seed, 1 << 30).buffer) : encodeWeights(dtype, n, seed).bytes;
    const t = onDevice('f32', { x: raw(dtype, [3, 1024], bytes), out: output([n], dtype) });
    runSync([ops.copy({ x: t.x, out: t.out })]);
    expect(Buffer.from(t.out.read()).equals(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))).toBe(true);
  });
});

describeGpu('cast', () => {
  const FLOATS: FloatDType[] = ['f32', 'f16', 'bf16'];
  const cases: Array<[SourceDType, FloatDType, number]> = [];
  for (const src of FLOATS) for (const dst of FLOATS) for (const n of [1, 7, 33, 1000, 65536 + 4099]) cases.push([src, dst, n]);
  for (const src of ['q8_0', 'q4_0', 'q4_1'] as const) for (const dst of FLOATS) for (const n of [32, 96, 65536 + 32 * 7]) cases.push([src, dst, n]);

  test.each(cases)('%s → %s, n = %i: every element as the CPU casts it', (src, dst, n) => {
    const seed = nextSeed();
    const r = runBoth('f32', { x: raw(src as DType, [n], makeSource(src, n, seed).bytes), out: output([n], dst) },
      (t) => [ops.cast({ x: t.x, out: t.out })]);
    expectSame(r.dev.out, r.cpu.out, `cast ${src} → ${dst} seed ${seed}`);
  });
});

describeGpu('gather_rows', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([[1, 7, 1], [50, 384, 17], [300, 33, 300]])('R = %i, C = %i, N = %i (repeats allowed)', (R, C, N) => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([R, C], normal(R * C, seed)), idx: i32s(ints(N, seed + 1, R)), out: output([N, C]) },
        (t) => [ops.gatherRows({ x: t.x, idx: t.idx, out: t.out })]);
      expectSame(r.dev.out, r.cpu.out, `gather_rows seed ${seed}`);
    });
  });
});

describeGpu('pool', () => {
  const lens = [1, 17, 0, 257, 3];
  const cu = cuSeqlens(lens);
  const T = cu[cu.length - 1], C = 96;
  describe.each(ACTS)('%s rows, f32 out', (a) => {
    test.each(['mean', 'cls', 'last'] as const)('%s over lengths 1, 17, 0 (empty), 257, 3', (mode) => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([T, C], normal(T * C, seed)), cu: i32s(cu), out: output([lens.length, C], 'f32') },
        (t) => [ops.pool({ x: t.x, cuSeqlens: t.cu, mode, out: t.out })]);
      // the inputs are the same numbers on both, and the output is f32: only the order of the sums differs
      if (mode === 'mean') expectAgree(r, 'out', a, `pool ${mode} seed ${seed}`, VS_CPU.f32);
      else expectSame(r.dev.out, r.cpu.out, `pool ${mode} seed ${seed}`);
    });
  });
});

describeGpu('l2_normalize', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([[1, 1], [17, 384], [3, 4096]])('R = %i, C = %i', (R, C) => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([R, C], normal(R * C, seed, 5)), out: output([R, C]) },
        (t) => [ops.l2Normalize({ x: t.x, out: t.out })]);
      expectAgree(r, 'out', a, `l2_normalize seed ${seed}`);
    });

    test('an all-zero row stays zero', () => {
      const x = new Float32Array(64).fill(1, 32);
      const r = runBoth(a, { x: act([2, 32], x), out: output([2, 32]) }, (t) => [ops.l2Normalize({ x: t.x, out: t.out })]);
      expectSame(r.dev.out.subarray(0, 32), new Float64Array(32), 'zero row');
      expectAgree(r, 'out', a, 'l2_normalize with a zero row');
    });
  });
});
