/**
 * The sampling pipeline's ops against float64 references (./sampling-reference.ts): argmax and seeded
 * sampling (greedy paths, determinism per (seed, step) whatever the batch, empirical distributions over many
 * seeds against softmax(logits / T) after min-p, top-k and top-p), the logits processors (token mask, logit
 * bias, penalties), the token counts the penalties read, and raw log-probabilities.
 */
import { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { f32, i32 } from '../helpers/compare';
import { nextSeed, normal, rng } from '../helpers/random';
import * as ref from '../helpers/reference';
import {
  expectProcessed, logSoftmax, ProcessCase, processCase, processCaseReference, referenceDraws, RowProcessors,
  samplingDistribution, sampleUniform, topTokens,
} from './sampling-reference';
import { disposeAll, expectCoded, f32t, i32t, out, tensor } from './tensors';

afterEach(disposeAll);

interface Row { logits: ArrayLike<number>; T: number; topK?: number; topP?: number; minP?: number; seed: bigint | number; step: number }

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
    minP: f32t([B], Float32Array.from(rows, (r) => r.minP ?? 0)),
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
  test('NaN is never chosen, a row with nothing above -inf gives 0, the first +inf wins', () => {
    const rows = [
      [NaN, NaN, NaN, NaN],
      [NaN, -Infinity, -Infinity, -Infinity],
      [NaN, 2, NaN, 3],
      [1, Infinity, 5, Infinity],
      [-Infinity, -Infinity, -Infinity, -Infinity],
      [-3, NaN, -1, -1],
    ];
    const o = out([rows.length], 'i32');
    runSync([ops.argmax({ logits: tensor('f32', [rows.length, 4], Float32Array.from(rows.flat())), out: o })]);
    expect(Array.from(i32(o))).toEqual([0, 0, 3, 1, 0, 2]);
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
  function checkDistribution(logits: ArrayLike<number>, T: number, topK: number, topP: number, draws: number, minP = 0): void {
    const base = nextSeed();
    const toks = sample(Array.from({ length: draws }, (_, i) => ({ logits, T, topK, topP, minP, seed: base + i, step: i % 5 })));
    const probs = samplingDistribution(logits, T, topK, topP, minP);
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
  test('min-p drops tokens below min_p × the top probability (after temperature)', () => checkDistribution(small, 1.2, 0, 1, 20000, 0.2));
  test('min-p, then top-k, then top-p', () => checkDistribution(small, 0.9, 5, 0.9, 20000, 0.05));

  test('min-p 1 keeps only the most likely token; min-p above 1 acts as 1', () => {
    const toks = sample([1, 1.5].flatMap((minP) => Array.from({ length: 50 }, (_, i) => ({ logits: small, T: 2, minP, seed: i, step: 0 }))));
    expect(new Set(toks)).toEqual(new Set([ref.argmax(small)]));
  });

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
        expect(samplingDistribution(logits, 1.5, topK, topP)[1]).toBe(1);
      }
    }
  });

  test('a 128k vocabulary with top-p (partial sorting) stays within the reference support', () => {
    const big = normal(128000, nextSeed(), 3);
    const probs = samplingDistribution(big, 0.7, 0, 0.9);
    const toks = sample(Array.from({ length: 64 }, (_, i) => ({ logits: big, T: 0.7, topP: 0.9, seed: i, step: 0 })));
    for (const t of toks) expect(probs[t]).toBeGreaterThan(0);
    const toksK = sample(Array.from({ length: 64 }, (_, i) => ({ logits: big, T: 1, topK: 20, seed: i, step: 1 })));
    const top20 = samplingDistribution(big, 1, 20, 1);
    for (const t of toksK) expect(top20[t]).toBeGreaterThan(0);
  });

  test('each draw is exactly the reference\'s token for its (seed, step): vocabularies up to 128k, every cut, ties and NaN', () => {
    // the op puts in order only the tokens its cuts need (a histogram of the weights picks them); every
    // running sum must still be the full order's, so the token is too
    const r = rng(nextSeed());
    const settings: Array<[number, number, number, number]> = [  // T, top-k, top-p, min-p
      [0.7, 0, 0.9, 0], [1, 0, 0.95, 0], [1.5, 0, 0.5, 0], [0.8, 50, 0.9, 0], [1, 1000, 1, 0], [1, 0, 1, 0.05], [0.9, 5, 0.9, 0.05],
      [1, 0, 0.999999, 0], [2, 0, 0.99, 0], [1, 0, 0, 0],
    ];
    let checked = 0;
    for (const V of [7, 300, 49152, 128256]) {
      for (const shape of ['normal', 'peaked', 'ties', 'nan'] as const) {
        const x = Float32Array.from(normal(V, nextSeed(), shape === 'peaked' ? 1.5 : 3));
        if (shape === 'peaked') for (let j = 0; j < 20; j++) x[Math.floor(r() * V)] += 6 + 4 * r();
        if (shape === 'ties') x.forEach((v, i) => (x[i] = Math.round(v)));
        if (shape === 'nan') x.forEach((v, i) => (x[i] = r() < 0.05 ? NaN : v));
        const [T, topK, topP, minP] = settings[Math.floor(r() * settings.length)];
        const rows = Array.from({ length: 8 }, (_, i) => ({ logits: x, T, topK, topP, minP, seed: BigInt(Math.floor(r() * 2 ** 52)), step: i }));
        const toks = sample(rows);
        const draw = referenceDraws(x, T, topK, topP, minP);
        rows.forEach((row, i) => {
          const want = draw(sampleUniform(row.seed, row.step));
          if (want.ambiguous) return;
          checked++;
          expect({ V, shape, T, topK, topP, minP, i, token: toks[i] }).toEqual({ V, shape, T, topK, topP, minP, i, token: want.token });
        });
      }
    }
    expect(checked).toBeGreaterThan(120);
  });

  test('an infinite logit takes all the probability: the first of them, whatever the cuts', () => {
    const logits = [1, Infinity, 2, Infinity, NaN];
    const rows = [[1, 0, 1], [0.7, 0, 0.9], [1, 3, 0.5]].flatMap(([T, topK, topP]) =>
      Array.from({ length: 20 }, (_, i) => ({ logits, T, topK, topP, seed: i, step: i })));
    expect([...new Set(sample(rows))]).toEqual([1]);
  });

  describe('bad sampling parameters are ERR_GPUFORMER_INPUT naming the row', () => {
    test('temperature not finite', () => {
      expectCoded(() => sample([{ logits: small, T: 1, seed: 1, step: 0 }, { logits: small, T: NaN, seed: 1, step: 0 }]),
        'ERR_GPUFORMER_INPUT', /temperature\[1\] = nan is not a finite number/);
      expectCoded(() => sample([{ logits: small, T: Infinity, seed: 1, step: 0 }]), 'ERR_GPUFORMER_INPUT', /temperature\[0\]/);
    });
    test('topP or minP NaN', () => {
      expectCoded(() => sample([{ logits: small, T: 1, topP: NaN, seed: 1, step: 0 }]), 'ERR_GPUFORMER_INPUT', /topP\[0\] is NaN/);
      expectCoded(() => sample([{ logits: small, T: 1, minP: NaN, seed: 1, step: 0 }]), 'ERR_GPUFORMER_INPUT', /minP\[0\] is NaN/);
    });
  });
});

describe('process_logits', () => {
  function run(c: ProcessCase, dtype: 'f32' | 'f16' | 'bf16', groups = { mask: true, bias: true, penalties: true }): Float32Array {
    const o = out([c.S, c.V]);
    runSync([ops.processLogits({
      logits: tensor(dtype, [c.S, c.V], c.logits), out: o,
      ...(groups.mask ? { maskWords: tensor('i32', [c.M, Math.ceil(c.V / 32)], c.maskWords), maskRows: tensor('i32', [c.S], c.maskRows) } : {}),
      ...(groups.bias ? {
        biasOffsets: tensor('i32', [c.S + 1], c.biasOffsets), biasTokens: tensor('i32', [c.biasTokens.length], c.biasTokens),
        biasValues: tensor('f32', [c.biasValues.length], c.biasValues),
      } : {}),
      ...(groups.penalties ? {
        counts: tensor('i32', [c.C, c.V], c.counts), penaltySlots: tensor('i32', [c.S], c.penaltySlots),
        repetition: f32t([c.S], c.repetition), frequency: f32t([c.S], c.frequency), presence: f32t([c.S], c.presence),
      } : {}),
    })]);
    return f32(o);
  }

  test.each([['f32', 9, 1000], ['f32', 5, 1001], ['f16', 7, 333], ['bf16', 4, 2048], ['f32', 1, 1]] as const)(
    '%s logits [%i, %i]: mask, bias and penalties per row as vLLM applies them', (dtype, S, V) => {
      const seed = nextSeed();
      const c = processCase(S, V, rng(seed));
      const t = tensor(dtype, [S, V], c.logits);
      const values = dtype === 'f32' ? c.logits : ref.decodeHalfBits(new Uint16Array(t.read()), dtype);
      expectProcessed(run(c, dtype), processCaseReference(c, values), 1e-6);
    });

  test('each group alone, and none (a plain conversion to f32)', () => {
    const c = processCase(6, 500, rng(nextSeed()));
    const only = (g: 'mask' | 'bias' | 'penalties') => ({ mask: g === 'mask', bias: g === 'bias', penalties: g === 'penalties' });
    for (const g of ['mask', 'bias', 'penalties'] as const) {
      const keep = (p: RowProcessors): RowProcessors => (g === 'mask' ? { allowed: p.allowed } : g === 'bias' ? { bias: p.bias } : { penalties: p.penalties });
      expectProcessed(run(c, 'f32', only(g)), processCaseReference({ ...c, rows: c.rows.map(keep) }), 1e-6);
    }
    expect(Array.from(run(c, 'f32', { mask: false, bias: false, penalties: false }))).toEqual(Array.from(c.logits));
  });

  test('repetition divides positive logits and multiplies negative ones; frequency counts; presence once', () => {
    const logits = Float32Array.from([2, -2, 2, -2, 0, 3]);
    // token 0: prompt only; 1: prompt only; 2: output ×3; 3: output ×1; 4: prompt (logit 0); 5: untouched
    const counts = Int32Array.from([0x80000000, 0x80000000, 3, 1, 0x80000000, 0]);
    const o = out([1, 6]);
    runSync([ops.processLogits({
      logits: f32t([1, 6], logits), out: o, counts: tensor('i32', [1, 6], counts), penaltySlots: i32t([0]),
      repetition: f32t([1], Float32Array.of(2)), frequency: f32t([1], Float32Array.of(0.5)), presence: f32t([1], Float32Array.of(0.25)),
    })]);
    expect(Array.from(f32(o))).toEqual([1, -4, 1 - 1.5 - 0.25, -4 - 0.5 - 0.25, 0, 3]);
  });

  describe('bad input is ERR_GPUFORMER_INPUT naming the argument', () => {
    const logits = () => f32t([2, 4], new Float32Array(8));
    const base = () => ({ logits: logits(), out: out([2, 4]) });
    test.each([
      ['a mask row past the masks', () => ({ maskWords: tensor('i32', [1, 1], Int32Array.of(-1)), maskRows: i32t([0, 1]) }), /maskRows\[1\] = 1/],
      ['the wrong number of mask words', () => ({ maskWords: tensor('i32', [1, 2], new Int32Array(2)), maskRows: i32t([0, 0]) }), /ceil\(V\/32\) = 1/],
      ['a bias token outside the vocabulary', () => ({ biasOffsets: i32t([0, 1, 2]), biasTokens: i32t([0, 4]), biasValues: f32t([2], new Float32Array(2)) }), /biasTokens\[1\] = 4/],
      ['bias offsets past the list', () => ({ biasOffsets: i32t([0, 1, 3]), biasTokens: i32t([0, 1]), biasValues: f32t([2], new Float32Array(2)) }), /ends at 3/],
      ['decreasing bias offsets', () => ({ biasOffsets: i32t([0, 2, 1]), biasTokens: i32t([0, 1]), biasValues: f32t([2], new Float32Array(2)) }), /non-decreasing/],
      ['half a group', () => ({ biasOffsets: i32t([0, 0, 0]) }), /'biasTokens' is missing/],
      ['a penalty slot past the counts', () => penalties([0, 2], 1), /penaltySlots\[1\] = 2/],
      ['a repetition of 0', () => penalties([0, 1], 0), /repetition\[0\] = 0 must be a positive number/],
    ])('%s', (_name, extra, message) => {
      expectCoded(() => runSync([ops.processLogits({ ...base(), ...extra() })]), 'ERR_GPUFORMER_INPUT', message);
    });
    function penalties(slots: number[], rep: number) {
      return {
        counts: tensor('i32', [2, 4], new Int32Array(8)), penaltySlots: i32t(slots), repetition: f32t([2], Float32Array.of(rep, 1)),
        frequency: f32t([2], new Float32Array(2)), presence: f32t([2], new Float32Array(2)),
      };
    }
  });
});

describe('count_tokens', () => {
  test('counts output tokens, marks prompt tokens, resets rows, leaves other rows and skipped entries alone', () => {
    const C = 5, V = 37;
    const r = rng(nextSeed());
    const start = Int32Array.from({ length: C * V }, () => Math.floor(r() * 1000) | (r() < 0.3 ? 0x80000000 : 0));
    const counts = tensor('i32', [C, V], start);
    const want = Int32Array.from(start);
    // entries: slot 3 reset with a prompt and output tokens (repeats), slot 0 incremented (no reset), one skipped
    const entries = [
      { slot: 3, reset: 1, tokens: [~4, ~4, ~7, 4, 9, 9, 9, 36] },
      { slot: -1, reset: 1, tokens: [1, 2] },
      { slot: 0, reset: 0, tokens: [5, ~6, 5] },
      { slot: 2, reset: 1, tokens: [] },
    ];
    for (const e of entries) {
      if (e.slot < 0) continue;
      if (e.reset) want.fill(0, e.slot * V, (e.slot + 1) * V);
      for (const t of e.tokens) {
        if (t < 0) want[e.slot * V + ~t] |= 0x80000000;
        else want[e.slot * V + t]++;
      }
    }
    const offsets = [0];
    for (const e of entries) offsets.push(offsets[offsets.length - 1] + e.tokens.length);
    // the token list may be longer than the entries use (a fixed-capacity buffer): the rest is never read
    const tokens = [...entries.flatMap((e) => e.tokens), 99999, -99999];
    runSync([ops.countTokens({
      counts, slots: i32t(entries.map((e) => e.slot)), reset: i32t(entries.map((e) => e.reset)), offsets: i32t(offsets), tokens: i32t(tokens),
    })]);
    expect(Array.from(i32(counts))).toEqual(Array.from(want));
    // without reset: only increments
    runSync([ops.countTokens({ counts, slots: i32t([3]), offsets: i32t([0, 2]), tokens: i32t([9, ~0]) })]);
    want[3 * V + 9]++;
    want[3 * V] |= 0x80000000;
    expect(Array.from(i32(counts))).toEqual(Array.from(want));
  });

  test.each([
    ['a slot past the counts', { slots: [4], offsets: [0, 0], tokens: [0] }, /slots\[0\] = 4/],
    ['a token outside the vocabulary', { slots: [0], offsets: [0, 1], tokens: [7] }, /tokens\[0\] = 7/],
    ['a prompt token outside the vocabulary', { slots: [0], offsets: [0, 1], tokens: [~7] }, /tokens\[0\] = -8/],
    ['offsets past the tokens', { slots: [0], offsets: [0, 2], tokens: [1] }, /ends at 2/],
    ['a slot twice', { slots: [1, 1], offsets: [0, 0, 0], tokens: [0] }, /slots\[1\] = 1 repeats slots\[0\]/],
  ])('%s is ERR_GPUFORMER_INPUT', (_name, a, message) => {
    const counts = tensor('i32', [4, 7], new Int32Array(28));
    expectCoded(() => runSync([ops.countTokens({ counts, slots: i32t(a.slots), offsets: i32t(a.offsets), tokens: i32t(a.tokens) })]),
      'ERR_GPUFORMER_INPUT', message);
  });
});

describe('logprobs', () => {
  /** Runs the op on rows of logits; returns the sampled token's log-probability and the top K per row. */
  function logprobs(x: Float32Array, S: number, V: number, tokens: number[], K: number, dtype: 'f32' | 'f16' | 'bf16' = 'f32') {
    const lp = out([S]);
    const ids = K > 0 ? out([S, K], 'i32') : null;
    const tl = K > 0 ? out([S, K]) : null;
    runSync([ops.logprobs({ logits: tensor(dtype, [S, V], x), tokens: i32t(tokens), tokenLogprobs: lp, topIds: ids, topLogprobs: tl })]);
    return { token: f32(lp), ids: ids ? i32(ids) : null, top: tl ? f32(tl) : null };
  }

  /** within 1e-5 (relative past 1) of the reference; -inf exactly (a NaN logit's token, which a random pick can be) */
  const expectLogprob = (got: number, want: number) => {
    if (want === -Infinity) expect(got).toBe(-Infinity);
    else expect(Math.abs(got - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want)));
  };

  test.each([['f32', 6, 1000, 5], ['f32', 3, 49152, 20], ['f16', 4, 777, 1], ['bf16', 5, 300, 8], ['f32', 2, 3, 3], ['f32', 4, 64, 0]] as const)(
    '%s logits [%i, %i], top %i: log_softmax of the raw row, the K most likely first (ties: lower index)', (dtype, S, V, K) => {
      const seed = nextSeed();
      const x = normal(S * V, seed, 3);
      if (V > 10) {
        x[5] = x[9] = x[V - 1] = 20; // a three-way tie at the top of row 0
        x[V + 2] = NaN;              // NaN counts as -inf
      }
      const t = tensor(dtype, [S, V], x);
      const vals = dtype === 'f32' ? Float64Array.from(x) : ref.decodeHalfBits(new Uint16Array(t.read()), dtype);
      const r = rng(seed);
      const tokens = Array.from({ length: S }, () => Math.floor(r() * V));
      const got = logprobs(x, S, V, tokens, K, dtype);
      for (let b = 0; b < S; b++) {
        const row = vals.subarray(b * V, (b + 1) * V);
        const want = logSoftmax(row);
        expectLogprob(got.token[b], want[tokens[b]]);
        if (K === 0) continue;
        const top = topTokens(row, K);
        expect(Array.from(got.ids!.subarray(b * K, (b + 1) * K))).toEqual(top);
        top.forEach((id, k) => expectLogprob(got.top![b * K + k], want[id]));
      }
      if (V > 10 && K > 0) expect(Array.from(got.ids!.subarray(0, Math.min(K, 3)))).toEqual([5, 9, V - 1].slice(0, K));
    });

  test('with a peaked row the top token has log-probability near 0 and the rest far below', () => {
    const V = 100;
    const x = new Float32Array(V).fill(-10);
    x[42] = 10;
    const got = logprobs(x, 1, V, [42], 2);
    expect(got.ids![0]).toBe(42);
    expect(got.token[0]).toBeCloseTo(Math.log(1 / (1 + 99 * Math.exp(-20))), 6);
    expect(got.top![1]).toBeCloseTo(-20 + got.token[0], 5);
  });

  test.each([
    ['a token outside the vocabulary', [5], 1, /tokens\[0\] = 5 is outside \[0, 5\)/],
    ['K above 20', [0], 21, /K must be in \[1, min\(V, 20\)\]/],
  ])('%s is ERR_GPUFORMER_INPUT', (_name, tokens, K, message) => {
    const V = K > 5 ? 30 : 5;
    expectCoded(() => runSync([ops.logprobs({
      logits: f32t([1, V], new Float32Array(V)), tokens: i32t(tokens), tokenLogprobs: out([1]), topIds: out([1, K], 'i32'), topLogprobs: out([1, K]),
    })]), 'ERR_GPUFORMER_INPUT', message);
  });
});
