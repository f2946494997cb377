/**
 * linear's batch-invariant mode (batchInvariant: true; issue 20): every row of out is computed by the same
 * arithmetic whatever M is. On the CPU linear() itself is batch invariant (native/cpu/linear_kernels.h;
 * linear.test.ts checks it on every tier), and the mode gives its very bits: a row's bits are the same
 * alone, among a few rows or in a prefill-sized batch, at any position, with or without the mode; and the
 * products still meet the float64 references (linear-cases.ts), the quantized ones with 8-bit activations.
 */
import { ops, runSync } from '../../lib/ops';
import { nextSeed } from '../helpers/random';
import { checkLinear, encodeWeights, makeActivations, WEIGHT_DTYPES } from './linear-cases';
import { disposeAll, out, tensor } from './tensors';

afterEach(disposeAll);

describe.each(WEIGHT_DTYPES)('batch-invariant linear with %s weights', (wdtype) => {
  test('the float64 reference, decode and prefill sizes', () => {
    const seed = nextSeed();
    const shapes: Array<[number, number, number]> = [[1, 576, 33], [5, 384, 7], [40, 96, 33]];
    shapes.forEach(([M, K, N], i) => {
      const r = checkLinear({ wdtype, M, K, N, bias: i % 2 ? 'f32' : null, seed: seed + i, batchInvariant: true });
      if (r.boundRatio !== undefined) expect(r.boundRatio).toBeLessThanOrEqual(1);
    });
  });

  test('a row has the same bits alone, among 5 rows and among 37, at other positions', () => {
    const seed = nextSeed();
    const K = 384, N = 40;
    const rows = makeActivations(37, K, seed);
    const w = tensor(wdtype, [N, K], encodeWeights(wdtype, N * K, seed + 1).bytes);
    const product = (ids: number[], batchInvariant = true): Float32Array => {
      const x = new Float32Array(ids.length * K);
      ids.forEach((r, i) => x.set(rows.subarray(r * K, (r + 1) * K), i * K));
      const o = out([ids.length, N]);
      runSync([ops.linear({ x: tensor('f32', [ids.length, K], x), w, out: o, batchInvariant })]);
      return new Float32Array(o.read());
    };
    const all = product(Array.from({ length: 37 }, (_, i) => i));
    expect(product(Array.from({ length: 37 }, (_, i) => i), false)).toEqual(all);
    const some = product([30, 3, 17, 8, 0]);
    [30, 3, 17, 8, 0].forEach((r, i) => {
      const alone = product([r]);
      expect(all.subarray(r * N, (r + 1) * N)).toEqual(alone);
      expect(some.subarray(i * N, (i + 1) * N)).toEqual(alone);
    });
  });
});
