/**
 * The sampling pipeline on the device: argmax and seeded sampling, the logits processors, token counts and
 * log-probabilities. Sampling: Both backends draw the random number as the same pure function
 * of (seed, step) (native/cpu/sample_rng.h) and select by the same rule, so for the same logits the device
 * must pick the CPU's very token, row by row (the two differ only in the order of double-precision sums, which
 * moves a cut only if the random number falls within ~1e-16 of it). Also: greedy and top-k = 1 are argmax,
 * a row's token does not depend on the rest of the batch, and the empirical distributions over many seeds
 * match softmax(logits / T) after min-p, top-k and top-p. The processors and the counts do the CPU's
 * arithmetic operation for operation, so they must agree exactly; log-probabilities within the f32 rounding
 * of their exponentials.
 */
import { DType, Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { nextSeed, normal, rng } from '../helpers/random';
import * as ref from '../helpers/reference';
import { processCase, samplingDistribution } from '../ops/sampling-reference';
import { ACTS, act, describeGpu, expectSame, disposeAll, f32s, i32s, numbers, onDevice, output, raw, runBoth, Spec } from './both-devices';

afterEach(disposeAll);

type LogitsDType = 'f32' | 'f16' | 'bf16';
interface Row { logits: ArrayLike<number>; T: number; topK?: number; topP?: number; minP?: number; seed: bigint | number; step: number }

function sampleSpecs(rows: Row[], dtype: LogitsDType): Record<string, Spec> {
  const B = rows.length, V = rows[0].logits.length;
  const logits = new Float32Array(B * V);
  rows.forEach((r, b) => logits.set(Array.from(r.logits), b * V));
  return {
    logits: raw(dtype, [B, V], logits),
    temperature: f32s(rows.map((r) => r.T)),
    topK: i32s(rows.map((r) => r.topK ?? 0)),
    topP: f32s(rows.map((r) => r.topP ?? 1)),
    minP: f32s(rows.map((r) => r.minP ?? 0)),
    seeds: raw('i64', [B], BigInt64Array.from(rows, (r) => BigInt(r.seed))),
    steps: i32s(rows.map((r) => r.step)),
    out: output([B], 'i32'),
  };
}

const sampleProgram = (t: Record<string, Tensor>) => [ops.sample({
  logits: t.logits, temperature: t.temperature, topK: t.topK, topP: t.topP, minP: t.minP, seeds: t.seeds, steps: t.steps, out: t.out,
})];

/** The tokens the device draws for `rows` (one batch). */
function sampleOnDevice(rows: Row[], dtype: LogitsDType = 'f32'): number[] {
  const t = onDevice('f32', sampleSpecs(rows, dtype));
  runSync(sampleProgram(t));
  return Array.from(numbers(t.out));
}

/** The device's and the CPU's tokens for the same batch. */
function sampleBoth(rows: Row[], dtype: LogitsDType = 'f32'): { dev: number[]; cpu: number[] } {
  const r = runBoth('f32', sampleSpecs(rows, dtype), sampleProgram);
  return { dev: Array.from(r.dev.out), cpu: Array.from(r.cpu.out) };
}

describeGpu('argmax', () => {
  test.each([
    ['f32', 7, 32000], ['f16', 7, 32000], ['bf16', 7, 32000], ['f32', 3, 128000], ['bf16', 5, 1], ['f16', 16, 49152],
  ] as const)('%s logits [%i, %i]: the CPU\'s index, the first one on ties', (dtype, B, V) => {
    const seed = nextSeed();
    const x = normal(B * V, seed, 3);
    if (V > 9000) {
      x[2 * V + 100] = 50;  // a tie in row 2: index 100 comes first
      x[2 * V + 9000] = 50;
      x[V - 1] = 60;  // the last column, in row 0
    }
    const r = runBoth('f32', { logits: raw(dtype as DType, [B, V], x), out: output([B], 'i32') },
      (t) => [ops.argmax({ logits: t.logits, out: t.out })]);
    expect(Array.from(r.dev.out)).toEqual(Array.from(r.cpu.out));
    if (V > 9000) {
      expect(r.dev.out[2]).toBe(100);
      expect(r.dev.out[0]).toBe(V - 1);
    }
  });
});

describeGpu('sample', () => {
  const V = 1000;
  const logitsA = normal(V, 11, 2), logitsB = normal(V, 12, 2);

  test.each(['f32', 'f16', 'bf16'] as const)('%s logits: the CPU\'s token in every row of a mixed batch', (dtype) => {
    const base = nextSeed();
    const rows: Row[] = Array.from({ length: 96 }, (_, i) => ({
      logits: i % 2 ? logitsA : logitsB,
      T: [0, 0.3, 0.7, 1, 1.5, 4][i % 6],
      topK: [0, 1, 5, 40, 999, 5000][(i >> 1) % 6],
      topP: [1, 0.9, 0.5, 0.99, 0][(i >> 2) % 5],
      minP: [0, 0.05, 0.3][(i >> 3) % 3],
      seed: i % 7 === 0 ? -BigInt(base + i) * 1000003n : base + i,
      step: (i * 37) % 101,
    }));
    const { dev, cpu } = sampleBoth(rows, dtype);
    expect(dev).toEqual(cpu);
    expect(new Set(dev).size).toBeGreaterThan(10);  // the batch really samples
  });

  // the first GPU run gave token 0 here: a mass goal of 0 (top-p 0) let the radix search settle on an empty
  // bucket above every logit, so no token was kept (sampling.cu)
  test.each(['f32', 'f16', 'bf16'] as const)('%s logits: top-p ≤ 0 keeps the most likely token, the first of tied maxima', (dtype) => {
    const tied = Array.from(logitsA);
    const top = Math.max(...tied);
    tied[17] = tied[400] = tied[999] = top + 1;  // the maximum three times (equal after rounding to any dtype)
    const rows: Row[] = Array.from({ length: 48 }, (_, i) => ({
      logits: tied, T: [0.3, 1, 4][i % 3], topK: [0, 2, 50, 999][(i >> 2) % 4], topP: i % 2 ? 0 : -0.5, seed: nextSeed(), step: i,
    }));
    const { dev, cpu } = sampleBoth(rows, dtype);
    expect(dev).toEqual(cpu);
    expect([...new Set(dev)]).toEqual([17]);
  });

  test('a 128k vocabulary with top-p and with top-k: the CPU\'s tokens', () => {
    const big = normal(128000, nextSeed(), 3);
    const rows: Row[] = Array.from({ length: 32 }, (_, i) => (i % 2
      ? { logits: big, T: 0.7, topP: 0.9, seed: i, step: 0 }
      : { logits: big, T: 1, topK: 20, seed: i, step: 1 }));
    const { dev, cpu } = sampleBoth(rows);
    expect(dev).toEqual(cpu);
  });

  test('temperature ≤ 0 and top-k = 1 are argmax', () => {
    const toks = sampleOnDevice([
      { logits: logitsA, T: 0, seed: 1, step: 0 }, { logits: logitsB, T: -1, topK: 50, topP: 0.5, seed: 2, step: 3 },
      { logits: logitsA, T: 5, topK: 1, seed: 3, step: 3 },
    ]);
    expect(toks).toEqual([ref.argmax(logitsA), ref.argmax(logitsB), ref.argmax(logitsA)]);
  });

  test('the same (seed, step) gives the same token whatever else is in the batch; steps differ', () => {
    const mine: Row = { logits: logitsA, T: 1.5, topP: 0.95, seed: 123456789012345n, step: 7 };
    const alone = sampleOnDevice([mine])[0];
    const others = Array.from({ length: 6 }, (_, i) => ({ logits: i % 2 ? logitsA : logitsB, T: 0.3 + i, topK: i * 10, seed: i, step: i }));
    for (let pos = 0; pos <= others.length; pos++) {
      expect(sampleOnDevice([...others.slice(0, pos), mine, ...others.slice(pos)])[pos]).toBe(alone);
    }
    expect(new Set(sampleOnDevice(Array.from({ length: 64 }, (_, s) => ({ ...mine, step: s })))).size).toBeGreaterThan(20);
  });

  /** χ² of the device's counts over many seeds against the reference distribution; nothing outside its support. */
  function expectDistribution(logits: number[], T: number, topK: number, topP: number, minP: number): void {
    const draws = 20000, base = nextSeed();
    const toks = sampleOnDevice(Array.from({ length: draws }, (_, i) => ({ logits, T, topK, topP, minP, seed: base + i, step: i % 5 })));
    const probs = samplingDistribution(logits, T, topK, topP, minP);
    const counts = new Float64Array(logits.length);
    for (const t of toks) counts[t]++;
    let chi2 = 0, df = -1;
    probs.forEach((p, i) => {
      if (p === 0) {
        expect({ token: i, count: counts[i] }).toEqual({ token: i, count: 0 });
      } else {
        chi2 += (counts[i] - p * draws) ** 2 / (p * draws);
        df++;
      }
    });
    // χ² with df degrees of freedom has mean df and sd √(2 df): 6 sd is far beyond chance
    expect(chi2).toBeLessThan(df + 6 * Math.sqrt(2 * Math.max(df, 1)) + 10);
  }

  const small = [2.0, 1.5, 1.2, 1.0, 0.5, 0.0, -0.5, -1.0, -2.0, -3.0, 0.8, 1.9];
  test.each([
    ['plain temperature', 1.0, 0, 1, 0], ['low temperature', 0.5, 0, 1, 0], ['top-k', 1.3, 4, 1, 0], ['top-p', 1.0, 0, 0.7, 0],
    ['top-k then top-p', 0.8, 6, 0.85, 0], ['min-p', 1.2, 0, 1, 0.2], ['min-p, top-k, top-p', 0.9, 5, 0.9, 0.05],
  ] as const)('%s: counts over 20000 seeds follow the reference distribution', (_name, T, topK, topP, minP) => {
    expectDistribution(small, T, topK, topP, minP);
  });

  test('top-p keeps exactly the smallest most likely set whose mass reaches p', () => {
    const logits = [0.5, 0.3, 0.15, 0.05].map(Math.log);
    const seen = (topP: number) =>
      [...new Set(sampleOnDevice(Array.from({ length: 3000 }, (_, i) => ({ logits, T: 1, topP, seed: i, step: 0 }))))].sort();
    expect(seen(0.45)).toEqual([0]);
    expect(seen(0.75)).toEqual([0, 1]);
    expect(seen(0.9)).toEqual([0, 1, 2]);
    expect(seen(0.99)).toEqual([0, 1, 2, 3]);
    expect(seen(0)).toEqual([0]);
  });
});

describeGpu('process_logits', () => {
  test.each(ACTS.flatMap((a) => [[a, 9, 1000], [a, 5, 1001], [a, 3, 49152]] as const))(
    '%s logits [%i, %i]: the CPU\'s numbers exactly (mask, bias, penalties in every mix)', (a, S, V) => {
      const c = processCase(S, V, rng(nextSeed()));
      const W = Math.ceil(V / 32);
      const r = runBoth(a, {
        logits: act([S, V], c.logits), out: output([S, V], 'f32'),
        maskWords: raw('i32', [c.M, W], c.maskWords), maskRows: raw('i32', [S], c.maskRows),
        biasOffsets: raw('i32', [S + 1], c.biasOffsets), biasTokens: raw('i32', [c.biasTokens.length], c.biasTokens),
        biasValues: raw('f32', [c.biasValues.length], c.biasValues),
        counts: raw('i32', [c.C, V], c.counts), penaltySlots: raw('i32', [S], c.penaltySlots), repetition: raw('f32', [S], c.repetition),
        frequency: raw('f32', [S], c.frequency), presence: raw('f32', [S], c.presence),
      }, (t) => [ops.processLogits({ ...t, logits: t.logits, out: t.out })]);
      expectSame(r.dev.out, r.cpu.out, `process_logits [${a}]`);
    });
});

describeGpu('count_tokens', () => {
  test('the CPU\'s counts: resets, prompt marks, repeated tokens counted by atomics', () => {
    const C = 6, V = 5000;
    const rnd = rng(nextSeed());
    const start = Int32Array.from({ length: C * V }, () => Math.floor(rnd() * 1000) | (rnd() < 0.3 ? 0x80000000 : 0));
    const lists = [0, 1, 2, 3].map(() => Array.from({ length: Math.floor(rnd() * 3000) }, () => {
      const t = Math.floor(rnd() * 64);  // few distinct tokens: many collisions within a row
      return rnd() < 0.3 ? ~t : t;
    }));
    const offsets = lists.reduce((a, l) => [...a, a[a.length - 1] + l.length], [0]);
    const r = runBoth('f32', {
      start: raw('i32', [C, V], start), counts: output([C, V], 'i32'), slots: i32s([4, -1, 0, 2]), reset: i32s([1, 1, 0, 1]),
      offsets: i32s(offsets), tokens: i32s([...lists.flat(), 7, 7]),
    }, (t) => [ops.copy({ x: t.start, out: t.counts }), ops.countTokens({ counts: t.counts, slots: t.slots, reset: t.reset, offsets: t.offsets, tokens: t.tokens })]);
    expectSame(r.dev.counts, r.cpu.counts, 'count_tokens');
  });
});

describeGpu('logprobs', () => {
  test.each(ACTS.flatMap((a) => [[a, 8, 1000, 20], [a, 3, 128000, 5], [a, 4, 49152, 1], [a, 2, 7, 7]] as const))(
    '%s logits [%i, %i], top %i: the CPU\'s top tokens, log-probabilities within f32 rounding', (a, S, V, K) => {
      const x = normal(S * V, nextSeed(), 3);
      if (V > 100) {
        x[3] = x[70] = 25;  // a tie at the top of row 0
        x[V + 11] = NaN;
      }
      const tokens = Array.from({ length: S }, (_, b) => (b * 7919) % V);
      const r = runBoth(a, {
        logits: act([S, V], x), tokens: i32s(tokens), tokenLogprobs: output([S], 'f32'), topIds: output([S, K], 'i32'),
        topLogprobs: output([S, K], 'f32'),
      }, (t) => [ops.logprobs({ logits: t.logits, tokens: t.tokens, tokenLogprobs: t.tokenLogprobs, topIds: t.topIds, topLogprobs: t.topLogprobs })]);
      expectSame(r.dev.topIds, r.cpu.topIds, 'logprobs top ids');
      for (const name of ['tokenLogprobs', 'topLogprobs']) {
        r.cpu[name].forEach((want, i) => expect(Math.abs(r.dev[name][i] - want)).toBeLessThan(1e-5 * Math.max(1, Math.abs(want))));
      }
      if (V > 100) expect([r.dev.topIds[0], r.dev.topIds[1]].slice(0, K)).toEqual([3, 70].slice(0, K));
    });
});
