/**
 * gelu (erf and tanh), silu, tanh, swiglu and softmax on the device against the CPU, on normal values plus the far
 * tails where exp saturates and exact zeros, at lengths that do and do not fill the 16-byte vector path.
 */
import { ops } from '../../lib/ops';
import { expectClose } from '../helpers/compare';
import { nextSeed, normal, uniform } from '../helpers/random';
import { ACTS, act, describeGpu, disposeAll, expectAgree, expectSame, output, runBoth, VS_CPU } from './both-devices';

afterEach(disposeAll);

/** Normal values, led by the far tails (where exp saturates) and exact zeros. */
const EXTREMES = [0, -0, 20, -20, 88, -88, 100, -100, 1e-7, -1e-7];
function inputs(n: number, seed: number): Float32Array {
  const x = normal(n, seed, 3);
  x.set(EXTREMES.slice(0, n));
  return x;
}

describeGpu('pointwise activations', () => {
  describe.each(ACTS)('%s', (a) => {
    const sizes = [1, 7, 17, 1024, 257 * 13, 70001];
    test.each(sizes)('gelu erf and tanh, silu, tanh: n = %i', (n) => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([n], inputs(n, seed)), erf: output([n]), tanh: output([n]), silu: output([n]), th: output([n]) }, (t) => [
        ops.gelu({ x: t.x, out: t.erf }), ops.gelu({ x: t.x, out: t.tanh, tanh: true }), ops.silu({ x: t.x, out: t.silu }), ops.tanh({ x: t.x, out: t.th }),
      ]);
      for (const name of ['erf', 'tanh', 'silu', 'th']) expectAgree(r, name, a, `activation seed ${seed}`);
    });

    test('in place (out aliasing x)', () => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([4096], inputs(4096, seed)) }, (t) => [ops.gelu({ x: t.x, out: t.x, tanh: true })]);
      expectAgree(r, 'x', a, `gelu in place seed ${seed}`);
    });

    test.each([[1, 1], [3, 17], [17, 1376], [2, 11008], [5, 1537]])('swiglu, R = %i, F = %i', (R, F) => {
      const seed = nextSeed();
      const r = runBoth(a, { g: act([R, F], inputs(R * F, seed)), u: act([R, F], normal(R * F, seed + 1)), out: output([R, F]) },
        (t) => [ops.swiglu({ gate: t.g, up: t.u, out: t.out })]);
      expectAgree(r, 'out', a, `swiglu seed ${seed}`);
    });
  });
});

describeGpu('softmax', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([[1, 1], [1, 7], [17, 257], [4, 32000], [64, 64], [3, 5000]])('R = %i, C = %i', (R, C) => {
      const seed = nextSeed();
      const x = normal(R * C, seed, 4);
      for (let r = 0; r < R; r++) x[r * C] += 50;  // large values must not overflow
      const res = runBoth(a, { x: act([R, C], x), out: output([R, C]) }, (t) => [ops.softmax({ x: t.x, out: t.out })]);
      // row by row: each row sums to 1, and a row of small probabilities must not hide behind a peaked one
      for (let r = 0; r < R; r++) {
        const row = (v: Float64Array) => v.subarray(r * C, (r + 1) * C);
        expectClose(row(res.dev.out), row(res.cpu.out), VS_CPU[a], `softmax [${a}] row ${r} seed ${seed}`);
      }
    });

    test('masked (−inf) entries get exactly zero', () => {
      const x = uniform(40, nextSeed());
      for (let i = 0; i < 40; i += 3) x[i] = -Infinity;
      const r = runBoth(a, { x: act([2, 20], x), out: output([2, 20]) }, (t) => [ops.softmax({ x: t.x, out: t.out })]);
      const masked = Array.from({ length: 14 }, (_, k) => 3 * k);
      expectSame(masked.map((i) => r.dev.out[i]), masked.map(() => 0), 'masked entries');
      expectAgree(r, 'out', a, 'softmax with masked entries');
    });
  });
});
