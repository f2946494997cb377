/** add and copy on the CPU against plain references. */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32 } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import { disposeAll, f32t, out, tensor } from './tensors';

afterEach(disposeAll);

describe('add', () => {
  test.each([[1], [17], [257 * 3], [100003]])('n = %i', (n) => {
    const seed = nextSeed();
    const a = normal(n, seed), b = normal(n, seed + 1);
    const o = out([n]);
    runSync([ops.add({ a: f32t([n], a), b: f32t([n], b), out: o })]);
    expectClose(f32(o), Array.from(a, (v, i) => v + b[i]), 1e-6, `add seed ${seed}`);
  });

  test('out may alias an input', () => {
    const a = normal(1000, nextSeed()), b = normal(1000, nextSeed());
    const ta = f32t([10, 100], a);
    runSync([ops.add({ a: ta, b: f32t([10, 100], b), out: ta })]);
    expectClose(f32(ta), Array.from(a, (v, i) => v + b[i]), 1e-6);
  });
});

describe('copy', () => {
  test.each([['f32'], ['f16'], ['bf16'], ['i32']] as const)('%s, contiguous, any numel', (dtype) => {
    const n = 3 * 1031;
    const src = dtype === 'i32' ? Int32Array.from({ length: n }, (_, i) => i * 7 - 1000) : normal(n, nextSeed());
    const x = tensor(dtype, [3, 1031], src);
    const o = out([n], dtype);
    runSync([ops.copy({ x, out: o })]);
    expect(Buffer.from(o.read()).equals(Buffer.from(x.read()))).toBe(true);
  });
});
