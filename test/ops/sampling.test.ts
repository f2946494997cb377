/**
 * argmax and seeded sampling: greedy paths, determinism per (seed, step) whatever the batch, and empirical
 * distributions over many seeds against softmax(logits / T) restricted to top-k / top-p.
 */
import { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { i32 } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, expectCoded, f32t, i32t, out, tensor } from './tensors';

afterEach(disposeAll);

interface Row { logits: ArrayLike<number>; T: number; topK?: number; topP?: number; seed: bigint | number; step: number }

/** Samples every row in one batch; returns the tokens. */
function sample(rows: Row[], dtype: 'f32' | 'f16' | 'bf16' = 'f32'): Int32Array {
  const B = rows.length, V = rows[0].logits.length;
  const logits = new Float32Array(B * V);
  rows.forEach((r, b) => logits.set(Array.from(r.logits), b * V));
  const o = out([B], 'i32');
  runSync([ops.sample({
    logits: tensor(dtype, [B, V], logits),
    temperature: f32t([B], Float32Array.from(rows, (r) => r.T)),
    topK: i32t(rows.map((r) => r.topK ?? 0)),
    topP: f32t([B], Float32Array.from(rows, (r) => r.topP ?? 1)),
    seeds: tensor('i64', [B], BigInt64Array.from(rows, (r) => BigInt(r.seed))),
    steps: i32t(rows.map((r) => r.step)),
    out: o,
  })]);
  return i32(o);
}

describe('argmax', () => {
  test.each(['f32', 'f16', 'bf16'] as const)('%s logits; the first index wins ties', (dtype) => {
    const seed = nextSeed();
    const B = 7, V = 32000;
    const x = normal(B * V, seed, 3);
    x[2 * V + 100] = 50; // a tie in row 2: index 100 comes first
    x[2 * V + 9000] = 50;
    x[5 * V + V - 1] = 60; // the last column
    const t: Tensor = tensor(dtype, [B, V], x);
    const vals = dtype === 'f32' ? Float64Array.from(x) : ref.decodeHalfBits(new Uint16Array(t.read()), dtype);
    const o = out([B], 'i32');
    runSync([ops.argmax({ logits: t, out: o })]);
    const want = Array.from({ length: B }, (_, b) => ref.argmax(vals.subarray(b * V, (b + 1) * V)));
    expect(Array.from(i32(o))).toEqual(want);
    expect(want[2]).toBe(100);
    expect(want[5]).toBe(V - 1);
  });
});

describe('sample', () => {
  const V = 1000;
  const logitsA = normal(V, 11, 2), logitsB = normal(V, 12, 2);

  test('temperature ≤ 0 is greedy (argmax) whatever top-k / top-p say', () => {
    const toks = sample([
      { logits: logitsA, T: 0, seed: 1, step: 0 }, { logits: logitsB, T: -1, topK: 50, topP: 0.5, seed: 2, step: 3 },
    ]);
    expect(Array.from(toks)).toEqual([ref.argmax(logitsA), ref.argmax(logitsB)]);
  });

  test('top-k = 1 is argmax at any temperature', () => {
    const toks = sample([1, 2, 3, 4].map((s) => ({ logits: logitsA, T: 5, topK: 1, seed: s, step: s })));
    expect(Array.from(toks)).toEqual(new Array(4).fill(ref.argmax(logitsA)));
  });

  test('the same (seed, step) gives the same token whatever else is in the batch, and steps differ', () => {
    const mine: Row = { logits: logitsA, T: 1.5, topP: 0.95, seed: 123456789012345n, step: 7 };
    const alone = sample([mine])[0];
    const others = Array.from({ length: 6 }, (_, i) => ({ logits: i % 2 ? logitsA : logitsB, T: 0.3 + i, topK: i * 10, seed: i, step: i }));
    for (let pos = 0; pos <= others.length; pos++) {
      const batch = [...others.slice(0, pos), mine, ...others.slice(pos)];
      expect(sample(batch)[pos]).toBe(alone);
    }
    // over many steps a flat-ish distribution gives many different tokens: the step is part of the draw
    const steps = sample(Array.from({ length: 64 }, (_, s) => ({ ...mine, step: s })));
    expect(new Set(steps).size).toBeGreaterThan(20);
  });

  test('f16 and bf16 logits sample like their f32 values', () => {
    const rows = Array.from({ length: 16 }, (_, s) => ({ logits: logitsA, T: 1, topK: 40, seed: s, step: 1 }));
    for (const dt of ['f16', 'bf16'] as const) {
      const rounded = ref.decodeHalfBits(new Uint16Array(tensor(dt, [V], logitsA).read()), dt);
      const want = sample(rows.map((r) => ({ ...r, logits: Float32Array.from(rounded) })));
      expect(Array.from(sample(rows, dt))).toEqual(Array.from(want));
    }
  });

  /** χ² of counts over many seeds against the reference distribution; tokens outside its support never appear. */
  function checkDistribution(logits: ArrayLike<number>, T: number, topK: number, topP: number, draws: number): void {
    const base = nextSeed();
    const toks = sample(Array.from({ length: draws }, (_, i) => ({ logits, T, topK, topP, seed: base + i, step: i % 5 })));
    const probs = ref.samplingDistribution(logits, T, topK, topP);
    const counts = new Float64Array(logits.length);
    for (const t of toks) counts[t]++;
    let chi2 = 0, df = -1;
    for (let i = 0; i < logits.length; i++) {
      if (probs[i] === 0) {
        expect(counts[i]).toBe(0);
        continue;
      }
      const e = probs[i] * draws;
      chi2 += (counts[i] - e) ** 2 / e;
      df++;
    }
    // χ² with df degrees of freedom: mean df, sd √(2df); 6 sd is far beyond chance (seeded, so stable anyway)
    expect(chi2).toBeLessThan(df + 6 * Math.sqrt(2 * Math.max(df, 1)) + 10);
  }

  const small = [2.0, 1.5, 1.2, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0, -3.0, 0.8, 1.9];
  test('plain temperature sampling matches softmax(logits / T)', () => checkDistribution(small, 1.0, 0, 1, 20000));
  test('low temperature sharpens (T = 0.5)', () => checkDistribution(small, 0.5, 0, 1, 20000));
  test('top-k restricts to the k most likely', () => checkDistribution(small, 1.3, 4, 1, 20000));
  test('top-p restricts to the smallest most likely prefix reaching p', () => checkDistribution(small, 1.0, 0, 0.7, 20000));
  test('top-k then top-p', () => checkDistribution(small, 0.8, 6, 0.85, 20000));

  test('top-p keeps exactly the smallest set whose mass ≥ p', () => {
    const probs = [0.5, 0.3, 0.15, 0.05];
    const logits = probs.map(Math.log);
    const seen = (topP: number) => new Set(sample(Array.from({ length: 3000 }, (_, i) => ({ logits, T: 1, topP, seed: i, step: 0 }))));
    expect([...seen(0.45)].sort()).toEqual([0]);     // 0.5 ≥ 0.45
    expect([...seen(0.75)].sort()).toEqual([0, 1]);  // 0.5 < 0.75 ≤ 0.8
    expect([...seen(0.9)].sort()).toEqual([0, 1, 2]);
    expect([...seen(0.99)].sort()).toEqual([0, 1, 2, 3]);
    expect([...seen(0)].sort()).toEqual([0]);        // never empty
  });

  test('top-p ≤ 0 keeps one token, the most likely, the first index among tied maxima (a mass goal of 0 still keeps it)', () => {
    const logits = [0.1, 2, -1, 2, 0.5, 2, 1.9];  // the maximum three times
    for (const topP of [0, -1]) {
      for (const topK of [0, 2, 5]) {
        const toks = sample(Array.from({ length: 200 }, (_, i) => ({ logits, T: 1.5, topK, topP, seed: i, step: i })));
        expect([...new Set(toks)]).toEqual([1]);
        expect(ref.samplingDistribution(logits, 1.5, topK, topP)[1]).toBe(1);
      }
    }
  });

  test('a 128k vocabulary with top-p (partial sorting) stays within the reference support', () => {
    const big = normal(128000, nextSeed(), 3);
    const probs = ref.samplingDistribution(big, 0.7, 0, 0.9);
    const toks = sample(Array.from({ length: 64 }, (_, i) => ({ logits: big, T: 0.7, topP: 0.9, seed: i, step: 0 })));
    for (const t of toks) expect(probs[t]).toBeGreaterThan(0);
    const toksK = sample(Array.from({ length: 64 }, (_, i) => ({ logits: big, T: 1, topK: 20, seed: i, step: 1 })));
    const top20 = ref.samplingDistribution(big, 1, 20, 1);
    for (const t of toksK) expect(top20[t]).toBeGreaterThan(0);
  });

  describe('bad sampling parameters are ERR_GPUFORMER_INPUT naming the row', () => {
    test('temperature not finite', () => {
      expectCoded(() => sample([{ logits: small, T: 1, seed: 1, step: 0 }, { logits: small, T: NaN, seed: 1, step: 0 }]),
        'ERR_GPUFORMER_INPUT', /temperature\[1\] = nan is not a finite number/);
      expectCoded(() => sample([{ logits: small, T: Infinity, seed: 1, step: 0 }]), 'ERR_GPUFORMER_INPUT', /temperature\[0\]/);
    });
    test('topP NaN', () => {
      expectCoded(() => sample([{ logits: small, T: 1, topP: NaN, seed: 1, step: 0 }]), 'ERR_GPUFORMER_INPUT', /topP\[0\] is NaN/);
    });
  });
});
