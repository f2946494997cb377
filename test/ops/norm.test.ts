/** layer_norm and rms_norm, alone and fused with the residual add, with f32 / f16 / bf16 weights. */
import { DType } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal, uniform } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, f32t, out, tensor } from './tensors';

afterEach(disposeAll);

function weight(dtype: DType, C: number, seed: number, lo: number, hi: number) {
  const data = uniform(C, seed, lo, hi);
  const t = tensor(dtype, [C], data);
  const values = dtype === 'f32' ? Float64Array.from(data) : ref.decodeHalfBits(new Uint16Array(t.read()), dtype as 'f16' | 'bf16');
  return { t, values };
}

describe.each(['layer', 'rms'] as const)('%s norm', (kind) => {
  test.each([
    [1, 32, 'f32', false], [17, 384, 'f16', false], [257, 80, 'bf16', true], [5, 4096, 'f32', true], [3, 1000, 'f16', true],
  ] as const)('R = %i, C = %i, weight %s, residual %s', (R, C, wdtype, withResidual) => {
    const seed = nextSeed();
    const x = normal(R * C, seed, 2);
    for (let i = 0; i < x.length; i++) x[i] += 3; // an offset the mean must remove
    const res = normal(R * C, seed + 1);
    const w = weight(wdtype, C, seed + 2, 0.5, 1.5);
    const b = weight(wdtype, C, seed + 3, -0.5, 0.5);
    const xt = f32t([R, C], x);
    const rt = withResidual ? f32t([R, C], res) : null;
    const o = out([R, C]);
    const eps = 1e-5;
    runSync([kind === 'layer'
      ? ops.layerNorm({ x: xt, residual: rt, weight: w.t, bias: b.t, eps, out: o })
      : ops.rmsNorm({ x: xt, residual: rt, weight: w.t, eps, out: o })]);
    const sum = Float64Array.from(x, (v, i) => v + (withResidual ? res[i] : 0));
    const want = ref.norm(kind, sum, R, C, w.values, kind === 'layer' ? b.values : null, eps);
    expectClose(f32(o), want, TOLERANCE.f32, `${kind} norm seed ${seed}`);
    if (rt) expectClose(f32(rt), sum, 1e-6, 'residual after the fused add');
  });

  test('out may alias x', () => {
    const seed = nextSeed();
    const R = 4, C = 64;
    const x = normal(R * C, seed);
    const w = weight('f32', C, seed + 1, 0.5, 1.5);
    const xt = f32t([R, C], x);
    runSync([kind === 'layer' ? ops.layerNorm({ x: xt, weight: w.t, eps: 1e-6, out: xt }) : ops.rmsNorm({ x: xt, weight: w.t, eps: 1e-6, out: xt })]);
    expectClose(f32(xt), ref.norm(kind, x, R, C, w.values, null, 1e-6), TOLERANCE.f32);
  });
});
