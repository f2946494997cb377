/**
 * rope on the device against the CPU: rotate-half (Hugging Face) and interleaved (GGUF / GPT-J) layouts,
 * partial rotary dims (dims past the rotary dim stay as they are), and linear and Llama 3 frequency scaling
 * (inv_freq from lib/models/rope.ts, as a model gets it). Those cases keep positions below 64, where however
 * the angle position · inv_freq is formed its rounding stays far inside the tolerance, so they test the
 * layouts alone. The last test takes positions up to 2^20, where the angle reaches 1e6 radians: the CPU forms
 * it in double precision (an f32 product is off by up to 2^-24 of the angle: 1.2e-4 radians at 2048, 6e-2
 * at 2^20), and the device must rotate by the same angle.
 */
import type { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { ropeTables } from '../../lib/models/rope';
import type { RopeScaling } from '../../lib/core/spec';
import { ints, nextSeed, normal } from '../helpers/random';
import { ACTS, Act, act, describeGpu, disposeAll, expectAgree, expectSame, f32s, i32s, numbers, onDevice, runBoth } from './both-devices';

afterEach(disposeAll);

function check(a: Act, T: number, H: number, D: number, R: number, interleaved: boolean, theta: number, maxPos: number,
  scaling?: RopeScaling): void {
  const seed = nextSeed();
  const { invFreq } = ropeTables({ theta, rotaryDim: R, interleaved, scaling });
  const r = runBoth(a, { x: act([T, H, D], normal(T * H * D, seed)), pos: i32s(ints(T, seed + 1, maxPos)), freq: f32s(invFreq) },
    (t) => [ops.rope({ x: t.x, positions: t.pos, invFreq: t.freq, interleaved })]);
  expectAgree(r, 'x', a, `rope T=${T} H=${H} D=${D} R=${R} interleaved=${interleaved} seed ${seed}`);
}

describeGpu('rope', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([
      [1, 4, 64, 64, false, 10000], [17, 3, 80, 80, true, 10000], [33, 2, 96, 32, true, 10000],
      [257, 8, 128, 128, false, 500000], [9, 1, 256, 128, false, 1e6], [40, 9, 64, 64, true, 100000],
    ] as const)('T = %i, H = %i, D = %i, rotary %i, interleaved %s, theta %d', (T, H, D, R, il, theta) => {
      check(a, T, H, D, R, il, theta, 64);
    });

    test.each([
      ['linear', { type: 'linear', factor: 4 }], ['llama3', { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 }],
    ] as const)('%s-scaled frequencies', (_name, scaling) => {
      check(a, 65, 4, 128, 128, false, 500000, 64, scaling);
      check(a, 16, 2, 64, 64, true, 10000, 64, scaling);
    });

    test.each([[2048, false], [131072, false], [1 << 20, true]] as const)(
      'positions < %i (interleaved %s): the same angles as the CPU', (maxPos, il) => {
        check(a, 31, 2, 64, 64, il, 10000, maxPos);
      });
  });
});

/**
 * rope_kv_cache_write: q and k rotated in place and the rotated k and v stored at their cache slots, in one op:
 * against the CPU, and bit for bit what rope(q); rope(k); kv_cache_write(k, v) give on the same device.
 */
describeGpu('rope_kv_cache_write', () => {
  const bs = 16;
  function specs(T: number, Hq: number, Hkv: number, D: number, interleaved: boolean) {
    const seed = nextSeed();
    const blocks = Math.ceil(T / bs) + 2;
    const free = Array.from({ length: blocks * bs }, (_, i) => i).sort((x, y) => ((x * 7919 + seed) % 101) - ((y * 7919 + seed) % 101));
    const slots = Array.from({ length: T }, (_, t) => (t % 5 === 4 ? -1 : free[t]));  // every fifth token skipped
    const { invFreq } = ropeTables({ theta: 500000, rotaryDim: D, interleaved });
    const cache = () => act([blocks, bs, Hkv, D], normal(blocks * bs * Hkv * D, seed + 9));
    return {
      what: `T=${T} Hq=${Hq} Hkv=${Hkv} D=${D} interleaved=${interleaved} seed ${seed}`,
      specs: {
        q: act([T, Hq, D], normal(T * Hq * D, seed)), k: act([T, Hkv, D], normal(T * Hkv * D, seed + 1)),
        v: act([T, Hkv, D], normal(T * Hkv * D, seed + 2)), pos: i32s(ints(T, seed + 3, 4096)), freq: f32s(invFreq),
        kc: cache(), vc: cache(), slots: i32s(slots),
      },
    };
  }
  const fused = (il: boolean) => (t: Record<string, Tensor>) => [ops.ropeKvCacheWrite({
    q: t.q, k: t.k, v: t.v, positions: t.pos, invFreq: t.freq, interleaved: il, kCache: t.kc, vCache: t.vc, slotMapping: t.slots,
  })];
  const CASES = [[1, 32, 8, 64, false], [19, 4, 4, 128, true], [64, 9, 3, 64, false], [5, 8, 1, 80, true]] as const;

  describe.each(ACTS)('%s', (a) => {
    test.each(CASES)('T = %i, %i / %i heads × %i, interleaved %s: the CPU\'s rotations and cache', (T, Hq, Hkv, D, il) => {
      const c = specs(T, Hq, Hkv, D, il);
      const r = runBoth(a, c.specs, fused(il));
      for (const name of ['q', 'k', 'kc', 'vc']) expectAgree(r, name, a, `rope_kv_cache_write ${c.what}`);
    });

    test.each(CASES)('T = %i, %i / %i heads × %i, interleaved %s: the same bits as rope, rope, kv_cache_write', (T, Hq, Hkv, D, il) => {
      const c = specs(T, Hq, Hkv, D, il);
      const one = onDevice(a, c.specs), three = onDevice(a, c.specs);
      runSync(fused(il)(one));
      runSync([
        ops.rope({ x: three.q, positions: three.pos, invFreq: three.freq, interleaved: il }),
        ops.rope({ x: three.k, positions: three.pos, invFreq: three.freq, interleaved: il }),
        ops.kvCacheWrite({ k: three.k, v: three.v, kCache: three.kc, vCache: three.vc, slotMapping: three.slots }),
      ]);
      for (const name of ['q', 'k', 'kc', 'vc']) expectSame(numbers(one[name]), numbers(three[name]), `${name} ${c.what}`);
    });
  });
});
