/**
 * rope_kv_cache_write: a step's RoPE and paged-cache write in one op — q and k rotated in place as rope() does,
 * then the rotated k and v stored at their slots as kv_cache_write() does — against the float64 references:
 * both layouts, partial rotary dims, GQA and MQA head counts, shuffled slots with skipped (negative) ones, and
 * every other slot left as it was.
 */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { ints, nextSeed, normal, rng } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, f32t, i32t, out } from './tensors';

afterEach(disposeAll);

const invFreqFor = (R: number, theta: number): Float32Array =>
  Float32Array.from({ length: R / 2 }, (_, i) => 1 / theta ** ((2 * i) / R));

describe('rope_kv_cache_write', () => {
  test.each([
    // T, Hq, Hkv, D, rotary dim, interleaved, theta, positions below
    [1, 32, 8, 64, 64, false, 500000, 4096], [7, 4, 4, 128, 128, true, 10000, 100], [37, 9, 3, 64, 32, false, 100000, 1 << 20],
    [16, 8, 1, 80, 80, true, 1e6, 32768],
  ] as const)('T = %i, %i query / %i key-value heads × %i, rotary %i, interleaved %s, theta %d, positions < %i',
    (T, Hq, Hkv, D, R, interleaved, theta, maxPos) => {
      const seed = nextSeed();
      const bs = 16, blocks = Math.ceil(T / bs) + 2;
      const q = normal(T * Hq * D, seed), k = normal(T * Hkv * D, seed + 1), v = normal(T * Hkv * D, seed + 2);
      const positions = ints(T, seed + 3, maxPos);
      const invFreq = invFreqFor(R, theta);
      // shuffled slots, every third token skipped
      const r = rng(seed + 4);
      const free = Array.from({ length: blocks * bs }, (_, i) => i).sort(() => r() - 0.5);
      const slots = Array.from({ length: T }, (_, t) => (t % 3 === 2 ? -1 : free[t]));
      const qt = f32t([T, Hq, D], q), kt = f32t([T, Hkv, D], k);
      const kc = out([blocks, bs, Hkv, D]), vc = out([blocks, bs, Hkv, D]);
      runSync([ops.ropeKvCacheWrite({
        q: qt, k: kt, v: f32t([T, Hkv, D], v), positions: i32t(positions), invFreq: f32t([R / 2], invFreq), interleaved,
        kCache: kc, vCache: vc, slotMapping: i32t(slots),
      })]);
      const what = `seed ${seed}`;
      const qRef = ref.rope(q, T, Hq, D, positions, invFreq, interleaved);
      const kRef = ref.rope(k, T, Hkv, D, positions, invFreq, interleaved);
      expectClose(f32(qt), qRef, TOLERANCE.f32, `q ${what}`);
      expectClose(f32(kt), kRef, TOLERANCE.f32, `k ${what}`);
      const gk = f32(kc), gv = f32(vc), row = Hkv * D;
      for (let t = 0; t < T; t++) {
        if (slots[t] < 0) continue;
        const s = slots[t];
        expectClose(gk.subarray(s * row, (s + 1) * row), kRef.subarray(t * row, (t + 1) * row), TOLERANCE.f32, `cached k of token ${t} ${what}`);
        expect(Array.from(gv.subarray(s * row, (s + 1) * row))).toEqual(Array.from(v.subarray(t * row, (t + 1) * row)));
      }
      const written = new Set(slots.filter((s) => s >= 0));
      for (let s = 0; s < blocks * bs; s++) {
        if (!written.has(s)) expect(gk.subarray(s * row, (s + 1) * row).every(Number.isNaN)).toBe(true);
      }
    });
});
