/**
 * layer_norm and rms_norm on the device against the CPU, alone and fused with the residual add (the residual
 * is updated in place and compared too), with f32 / f16 / bf16 weights and out aliasing x. On half-precision
 * activations the device stores the residual sum in that dtype and normalizes the stored sum, as a model
 * stores it; the CPU keeps it in f32: the difference is one rounding, inside the dtype's tolerance.
 */
import { DType } from '../../lib/native';
import { ops } from '../../lib/ops';
import { nextSeed, normal, uniform } from '../helpers/random';
import { ACTS, act, describeGpu, disposeAll, expectAgree, output, raw, runBoth } from './both-devices';

afterEach(disposeAll);

describeGpu.each(['layer', 'rms'] as const)('%s norm', (kind) => {
  describe.each(ACTS)('%s', (a) => {
    test.each([
      [1, 32, 'f32', false], [17, 384, 'f16', false], [257, 80, 'bf16', true], [5, 4096, 'f32', true], [3, 1000, 'f16', true],
      [64, 576, 'bf16', true],
    ] as const)('R = %i, C = %i, weight %s, residual %s', (R, C, wdtype, withResidual) => {
      const seed = nextSeed();
      const x = normal(R * C, seed, 2).map((v) => v + 3);  // an offset the mean must remove
      const r = runBoth(a, {
        x: act([R, C], x),
        ...(withResidual ? { residual: act([R, C], normal(R * C, seed + 1)) } : {}),
        weight: raw(wdtype as DType, [C], uniform(C, seed + 2, 0.5, 1.5)),
        bias: raw(wdtype as DType, [C], uniform(C, seed + 3, -0.5, 0.5)),
        out: output([R, C]),
      }, (t) => [kind === 'layer'
        ? ops.layerNorm({ x: t.x, residual: t.residual, weight: t.weight, bias: t.bias, eps: 1e-5, out: t.out })
        : ops.rmsNorm({ x: t.x, residual: t.residual, weight: t.weight, eps: 1e-5, out: t.out })]);
      expectAgree(r, 'out', a, `${kind} norm seed ${seed}`);
      if (withResidual) expectAgree(r, 'residual', a, `${kind} norm's residual += x, seed ${seed}`);
    });

    test('out may alias x', () => {
      const seed = nextSeed();
      const r = runBoth(a, { x: act([4, 64], normal(256, seed)), weight: raw('f32', [64], uniform(64, seed + 1, 0.5, 1.5)) },
        (t) => [kind === 'layer'
          ? ops.layerNorm({ x: t.x, weight: t.weight, eps: 1e-6, out: t.x })
          : ops.rmsNorm({ x: t.x, weight: t.weight, eps: 1e-6, out: t.x })]);
      expectAgree(r, 'x', a, `${kind} norm in place seed ${seed}`);
    });
  });
});
