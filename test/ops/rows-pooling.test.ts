/** gather_rows, pool (mean / cls / last over packed sequences) and l2_normalize. */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { ints, nextSeed, normal } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, f32t, i32t, out, tensor } from './tensors';

afterEach(disposeAll);

describe('gather_rows', () => {
  test.each([[1, 7, 1], [50, 384, 17], [300, 33, 300]])('R = %i, C = %i, N = %i (repeats allowed)', (R, C, N) => {
    const seed = nextSeed();
    const x = normal(R * C, seed), idx = ints(N, seed + 1, R);
    const o = out([N, C]);
    runSync([ops.gatherRows({ x: f32t([R, C], x), idx: i32t(idx), out: o })]);
    const want = new Float32Array(N * C);
    idx.forEach((r, n) => want.set(x.subarray(r * C, (r + 1) * C), n * C));
    expect(Array.from(f32(o))).toEqual(Array.from(want));
  });
});

describe('pool', () => {
  const lens = [1, 17, 0, 257, 3];
  test.each(['mean', 'cls', 'last'] as const)('%s over a batch mixing lengths 1, 17, 0 (empty), 257, 3', (mode) => {
    const seed = nextSeed();
    const C = 96;
    const cu = lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0]);
    const T = cu[cu.length - 1];
    const x = normal(T * C, seed);
    const o = out([lens.length, C]);
    runSync([ops.pool({ x: f32t([T, C], x), cuSeqlens: i32t(cu), mode, out: o })]);
    expectClose(f32(o), ref.pool(x, C, cu, mode), TOLERANCE.f32, `pool ${mode} seed ${seed}`);
  });
});

describe('l2_normalize', () => {
  test.each([[1, 1], [17, 384], [3, 4096]])('f32, R = %i, C = %i', (R, C) => {
    const seed = nextSeed();
    const x = normal(R * C, seed, 5);
    const o = out([R, C]);
    runSync([ops.l2Normalize({ x: f32t([R, C], x), out: o })]);
    expectClose(f32(o), ref.l2Normalize(x, R, C), TOLERANCE.f32, `l2 seed ${seed}`);
  });

  test.each(['f16', 'bf16'] as const)('%s rows (read and written in their dtype)', (dtype) => {
    const seed = nextSeed();
    const R = 5, C = 200;
    const x = tensor(dtype, [R, C], normal(R * C, seed));
    const o = out([R, C], dtype);
    runSync([ops.l2Normalize({ x, out: o })]);
    const xv = ref.decodeHalfBits(new Uint16Array(x.read()), dtype);
    const got = ref.decodeHalfBits(new Uint16Array(o.read()), dtype);
    expectClose(got, ref.l2Normalize(xv, R, C), TOLERANCE[dtype], `l2 ${dtype} seed ${seed}`);
  });

  test('an all-zero row stays zero (the norm is clamped at 1e-12)', () => {
    const x = new Float32Array(64);
    x.fill(1, 32);
    const o = out([2, 32]);
    runSync([ops.l2Normalize({ x: f32t([2, 32], x), out: o })]);
    const got = f32(o);
    expect(Array.from(got.subarray(0, 32))).toEqual(new Array(32).fill(0));
    expectClose(got.subarray(32), new Array(32).fill(1 / Math.sqrt(32)), 1e-6);
  });
});
