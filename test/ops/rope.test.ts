/** rope: rotate-half and interleaved layouts, partial rotary dims, long positions, llama3-style inv_freq. */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { ints, nextSeed, normal } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, f32t, i32t } from './tensors';

afterEach(disposeAll);

const invFreqFor = (R: number, theta: number): Float32Array =>
  Float32Array.from({ length: R / 2 }, (_, i) => 1 / theta ** ((2 * i) / R));

describe('rope', () => {
  test.each([
    [1, 4, 64, 64, false, 10000, 10], [17, 3, 80, 80, true, 10000, 2048], [257, 2, 128, 64, false, 500000, 131072],
    [5, 8, 32, 32, true, 10000, 1 << 20], [9, 1, 256, 128, false, 1e6, 32768], [33, 2, 96, 32, true, 10000, 100],
  ] as const)('T = %i, H = %i, D = %i, rotary %i, interleaved %s, theta %d, positions < %i',
    (T, H, D, R, interleaved, theta, maxPos) => {
      const seed = nextSeed();
      const x = normal(T * H * D, seed);
      const positions = ints(T, seed + 1, maxPos);
      const invFreq = invFreqFor(R, theta);
      const xt = f32t([T, H, D], x);
      runSync([ops.rope({ x: xt, positions: i32t(positions), invFreq: f32t([R / 2], invFreq), interleaved })]);
      expectClose(f32(xt), ref.rope(x, T, H, D, positions, invFreq, interleaved), TOLERANCE.f32, `rope seed ${seed}`);
    });
});
