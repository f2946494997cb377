/**
 * The host-side pieces of the runners and the Engine that need no device: step packing (slots, block
 * tables, sampling rows, every input check; decode steps padded to bucketed sizes), RoPE tables (theta,
 * linear / llama3 / YaRN scaling), stop-string matching over streamed text, and how a layer's projections of
 * one input become commands (linearsCommands).
 */
import { StopStringMatcher } from '../../lib/engine/stop-strings';
import { DEFAULT_FORWARD, linearsCommands } from '../../lib/models/forward';
import { Tensor } from '../../lib/native';
import { ropeTables } from '../../lib/models/rope';
import { PenaltySlots } from '../../lib/models/penalty-slots';
import { packSampling, padSampling } from '../../lib/models/sampling';
import { decodeBucket, packEncoderBatch, packStep, padDecodeStep, StepLimits, widthBucket } from '../../lib/models/step-inputs';
import type { StepSequence } from '../../lib/core/step';
import { greedy, samplingState } from '../helpers/sampling';

const limits: StepLimits = { vocabSize: 100, blockSize: 4, numBlocks: 10, maxNumBatchedTokens: 16, maxNumSeqs: 3, maxModelLen: 20 };
const inputCode = expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' });

describe('packStep', () => {
  it('packs sequences token-major with slots from their block tables', () => {
    const seqs: StepSequence[] = [
      { tokens: [5, 6, 7, 8, 9], start: 0, blockTable: [3, 1], sample: greedy(0) }, // prefill across two blocks
      { tokens: [42], start: 6, blockTable: [0, 7], sample: samplingState({ temperature: 0.8, topK: 5, topP: 0.9, seed: -1n, step: 3 }) }, // decode
      { tokens: [1, 2], start: 2, blockTable: [9], sample: null }, // a prefill chunk that does not sample
    ];
    const p = packStep(seqs, limits);
    expect(p.numTokens).toBe(8);
    expect(Array.from(p.ids)).toEqual([5, 6, 7, 8, 9, 42, 1, 2]);
    expect(Array.from(p.positions)).toEqual([0, 1, 2, 3, 4, 6, 2, 3]);
    // slot = block · blockSize + position % blockSize
    expect(Array.from(p.slotMapping)).toEqual([12, 13, 14, 15, 4, 7 * 4 + 2, 9 * 4 + 2, 9 * 4 + 3]);
    expect(Array.from(p.cuSeqlens)).toEqual([0, 5, 6, 8]);
    expect(Array.from(p.contextLens)).toEqual([5, 7, 4]);
    expect(p.blockTableWidth).toBe(2);
    expect(Array.from(p.blockTables)).toEqual([3, 1, 0, 7, 9, 0]);
    expect(p.maxSeqlen).toBe(5);
    expect(p.maxContextLen).toBe(7);
    expect(p.sampleSeqs).toEqual([0, 1]);
    expect(Array.from(p.sampleRows)).toEqual([4, 5]); // the last token of each sampling sequence
  });

  it.each([
    ['an empty batch', []],
    ['too many sequences', [1, 2, 3, 4].map(() => ({ tokens: [1], start: 0, blockTable: [0], sample: null }))],
    ['too many tokens', [{ tokens: new Array(17).fill(1), start: 0, blockTable: [0, 1, 2, 3, 4], sample: null }]],
    ['a sequence without tokens', [{ tokens: [], start: 0, blockTable: [0], sample: null }]],
    ['a negative start', [{ tokens: [1], start: -1, blockTable: [0], sample: null }]],
    ['past maxModelLen', [{ tokens: [1], start: 20, blockTable: [0, 1, 2, 3, 4, 5], sample: null }]],
    ['a short block table', [{ tokens: [1, 2, 3, 4, 5], start: 0, blockTable: [0], sample: null }]],
    ['a block outside the cache', [{ tokens: [1], start: 0, blockTable: [10], sample: null }]],
    ['a token outside the vocabulary', [{ tokens: [100], start: 0, blockTable: [0], sample: null }]],
    ['a fractional token', [{ tokens: [1.5], start: 0, blockTable: [0], sample: null }]],
  ] as Array<[string, StepSequence[]]>)('rejects %s', (_what, seqs) => {
    expect(() => packStep(seqs, limits)).toThrow(inputCode);
  });
});

describe('padDecodeStep', () => {
  it('buckets decode batches as 1, 2, 4 and multiples of 8, widths as powers of two, within the limits', () => {
    expect([1, 2, 3, 4, 5, 8, 9, 17, 63, 64].map((n) => decodeBucket(n, 64))).toEqual([1, 2, 4, 4, 8, 8, 16, 24, 64, 64]);
    expect(decodeBucket(9, 12)).toBe(12);
    expect(decodeBucket(13, 12)).toBe(13);  // never below the batch itself
    expect([1, 2, 3, 5, 9, 50, 64].map((w) => widthBucket(w, 64))).toEqual([1, 2, 4, 8, 16, 64, 64]);
  });

  it('adds rows that write no cache slot and read one key, samples them greedily and keeps the real rows', () => {
    const lim = { ...limits, maxNumSeqs: 4 };
    const seqs: StepSequence[] = [
      {
        tokens: [42], start: 6, blockTable: [0, 7],
        sample: samplingState({ temperature: 0.8, topK: 5, topP: 0.9, minP: 0.1, seed: -1n, step: 3, logitBias: [[4, 2]], logprobs: 2 }),
      },
      { tokens: [9], start: 2, blockTable: [9], sample: greedy(2) },
      { tokens: [3], start: 0, blockTable: [5], sample: samplingState({ step: 0, logitBias: [[7, -1], [8, 1]] }) },
    ];
    const real = packStep(seqs, lim);
    const p = padDecodeStep(real, 4, 4);
    expect(p.numTokens).toBe(4);
    expect(p.numSeqs).toBe(4);
    expect(Array.from(p.ids)).toEqual([42, 9, 3, 0]);
    expect(Array.from(p.positions)).toEqual([6, 2, 0, 0]);
    expect(Array.from(p.slotMapping)).toEqual([7 * 4 + 2, 9 * 4 + 2, 5 * 4, -1]);
    expect(Array.from(p.cuSeqlens)).toEqual([0, 1, 2, 3, 4]);
    expect(Array.from(p.contextLens)).toEqual([7, 3, 1, 1]);
    expect(p.blockTableWidth).toBe(4);
    expect(Array.from(p.blockTables)).toEqual([0, 7, 0, 0, 9, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0]);
    expect(p.sampleSeqs).toEqual([0, 1, 2]);  // the tokens the runner hands back
    expect(Array.from(p.sampleRows)).toEqual([0, 1, 2, 3]);
    expect(padDecodeStep(real, 3, 2)).toMatchObject({ numSeqs: 3, blockTableWidth: 2 });
    expect(() => padDecodeStep(real, 2, 2)).toThrow(/cannot pad/);
    expect(() => padDecodeStep(packStep([{ tokens: [1, 2], start: 0, blockTable: [0], sample: greedy(0) }], lim), 4, 4)).toThrow(/cannot pad/);

    // the sampling rows pad alike: the real rows as packed, the padding row greedy with nothing asked
    const realSampling = packSampling(seqs, real.sampleSeqs, lim.vocabSize);
    const s = padSampling(realSampling, 4);
    expect(s.rows).toBe(4);
    expect(s.shape).toEqual(realSampling.shape);  // the program's key does not move
    expect(Array.from(s.temperature)).toEqual([Math.fround(0.8), 0, 0, 0]);
    expect(Array.from(s.topK)).toEqual([5, 0, 0, 0]);
    expect(Array.from(s.topP)).toEqual([Math.fround(0.9), 1, 1, 1]);
    expect(Array.from(s.minP)).toEqual([Math.fround(0.1), 0, 0, 0]);
    expect(Array.from(s.seeds)).toEqual([-1n, 0n, 0n, 0n]);
    expect(Array.from(s.steps)).toEqual([3, 2, 0, 0]);
    expect(Array.from(s.repetition)).toEqual([1, 1, 1, 1]);
    expect(Array.from(s.maskRows)).toEqual([-1, -1, -1, -1]);
    expect(Array.from(s.biasOffsets)).toEqual([0, 1, 1, 3, 3]);
    expect(s.penaltyRows).toEqual([null, null, null, null]);
    expect(Array.from(s.logprobs)).toEqual([2, -1, -1, -1]);
    expect(() => padSampling(realSampling, 2)).toThrow(/cannot pad/);
  });
});

describe('packEncoderBatch', () => {
  const lim = { vocabSize: 50, typeVocabSize: 2, maxPositions: 8 };
  it('restarts positions per sequence and defaults token types to 0', () => {
    const p = packEncoderBatch([[1, 2, 3], [4, 5]], undefined, lim);
    expect(Array.from(p.positions)).toEqual([0, 1, 2, 0, 1]);
    expect(Array.from(p.typeIds)).toEqual([0, 0, 0, 0, 0]);
    expect(Array.from(p.cuSeqlens)).toEqual([0, 3, 5]);
    expect(p.maxSeqlen).toBe(3);
    expect(Array.from(packEncoderBatch([[1, 2]], [[0, 1]], lim).typeIds)).toEqual([0, 1]);
  });
  it.each([
    ['an empty sequence', [[]], undefined],
    ['too many positions', [new Array(9).fill(1)], undefined],
    ['a bad id', [[50]], undefined],
    ['a bad token type', [[1]], [[2]]],
    ['type ids of the wrong length', [[1, 2]], [[0]]],
  ] as Array<[string, number[][], number[][] | undefined]>)('rejects %s', (_w, batch, types) => {
    expect(() => packEncoderBatch(batch, types, lim)).toThrow(inputCode);
  });
});

describe('ropeTables', () => {
  it('gives theta^(-2i/R) without scaling', () => {
    const t = ropeTables({ theta: 10000, rotaryDim: 8, interleaved: false });
    expect(Array.from(t.invFreq)).toEqual([1, 0.1, 0.01, 0.001].map(Math.fround));
    expect(t.attentionFactor).toBe(1);
  });

  it('divides every frequency by the factor for linear scaling', () => {
    const t = ropeTables({ theta: 10000, rotaryDim: 8, interleaved: false, scaling: { type: 'linear', factor: 4 } });
    expect(Array.from(t.invFreq)).toEqual([0.25, 0.025, 0.0025, 0.00025].map(Math.fround));
  });

  it('llama3: keeps short wavelengths, divides long ones, interpolates between', () => {
    const base = ropeTables({ theta: 500000, rotaryDim: 128, interleaved: false }).invFreq;
    const t = ropeTables({ theta: 500000, rotaryDim: 128, interleaved: false,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 } }).invFreq;
    let kept = 0; let divided = 0; let between = 0;
    base.forEach((f, i) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 64 / 4) { expect(t[i]).toBe(f); kept++; }
      else if (wavelen > 64 / 1) { expect(t[i]).toBeCloseTo(f / 8, 12); divided++; }
      else { expect(t[i]).toBeLessThan(f); expect(t[i]).toBeGreaterThan(f / 8); between++; }
    });
    expect(kept).toBeGreaterThan(0);
    expect(divided).toBeGreaterThan(0);
    expect(between).toBeGreaterThan(0);
  });

  it('yarn: interpolates low frequencies, keeps high ones, scales attention', () => {
    const base = ropeTables({ theta: 10000, rotaryDim: 64, interleaved: false }).invFreq;
    const t = ropeTables({ theta: 10000, rotaryDim: 64, interleaved: false,
      scaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 2048 } });
    expect(t.invFreq[0]).toBe(base[0]);
    expect(t.invFreq[31]).toBeCloseTo(base[31] / 4, 12);
    expect(t.attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
  });

  it('refuses dynamic scaling and odd rotary dims', () => {
    const unsupported = expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' });
    expect(() => ropeTables({ theta: 1e4, rotaryDim: 8, interleaved: false, scaling: { type: 'dynamic', factor: 2 } })).toThrow(unsupported);
    expect(() => ropeTables({ theta: 1e4, rotaryDim: 7, interleaved: false })).toThrow(unsupported);
  });
});

describe('StopStringMatcher', () => {
  const feed = (m: StopStringMatcher, pieces: string[]) => {
    let out = '';
    for (let i = 0; i < pieces.length; i++) {
      const r = m.push(pieces[i], i === pieces.length - 1);
      out += r.emit;
      if (r.stopped) return { out, stopped: true };
    }
    return { out, stopped: false };
  };

  it('ends before a stop string split across pieces and never emits it', () => {
    expect(feed(new StopStringMatcher(['END']), ['Hello E', 'N', 'D and more'])).toEqual({ out: 'Hello ', stopped: true });
  });

  it('holds back only what could start a stop string', () => {
    const m = new StopStringMatcher(['\n\n', 'STOP']);
    expect(m.push('abc S').emit).toBe('abc ');
    expect(m.push('x').emit).toBe('Sx'); // 'Sx' cannot start a stop string: released
    expect(m.push('\n').emit).toBe('');
    expect(m.push('\n')).toEqual({ emit: '', stopped: true });
  });

  it('picks the earliest of several stop strings and releases everything at the end', () => {
    expect(feed(new StopStringMatcher(['world', 'lo w']), ['hello world'])).toEqual({ out: 'hel', stopped: true });
    expect(feed(new StopStringMatcher(['xyz']), ['ab', 'cx'])).toEqual({ out: 'abcx', stopped: false });
    expect(feed(new StopStringMatcher([]), ['a', 'b'])).toEqual({ out: 'ab', stopped: false });
  });
});

describe('PenaltySlots', () => {
  const row = (id: number, tokens: number[], promptLength: number, start: number, count = tokens.length - start) =>
    ({ id, tokens, promptLength, start, count });

  it('catches a sequence up once, then counts only each step\'s new tokens (prompt tokens as ~t)', () => {
    const slots = new PenaltySlots(2);
    const toks = [5, 6, 7, 8];
    // first sample after a prefill whose first chunk [0, 2) the table never saw
    let plan = slots.plan([row(1, toks, 3, 2, 2), null]);
    expect(Array.from(plan.slots)).toEqual([0, -1]);
    expect(plan.catchUp).toEqual([{ slot: 0, tokens: Int32Array.from([~5, ~6]) }]);
    expect(Array.from(plan.offsets)).toEqual([0, 2, 2]);
    expect(Array.from(plan.tokens)).toEqual([~7, 8]); // position 2 is in the prompt, 3 is output
    slots.commit(plan);
    // the next decode step: one token, no catch-up
    plan = slots.plan([row(1, [...toks, 9], 3, 4)]);
    expect(plan.catchUp).toEqual([]);
    expect(Array.from(plan.tokens)).toEqual([9]);
    slots.commit(plan);
    // recomputed from scratch after preemption: caught up again, into the same row
    plan = slots.plan([row(1, [...toks, 9, 10], 3, 5, 1)]);
    expect(plan.catchUp).toEqual([]);
    plan = slots.plan([row(1, [...toks, 9, 10], 3, 0, 6)]);
    expect(plan.catchUp).toEqual([{ slot: 0, tokens: new Int32Array(0) }]);
  });

  it('reassigns the least recently used row, never one a sequence of the step holds, and forgets failed steps', () => {
    const slots = new PenaltySlots(2);
    slots.commit(slots.plan([row(1, [1], 0, 0)]));
    slots.commit(slots.plan([row(2, [1], 0, 0)]));
    slots.commit(slots.plan([row(1, [1, 2], 0, 1)])); // 1 used last
    const plan = slots.plan([row(3, [4], 0, 0), row(1, [1, 2, 3], 0, 2)]);
    expect(Array.from(plan.slots)).toEqual([1, 0]); // 2's row, the least recently used
    slots.forget(plan);
    // both forgotten: caught up afresh
    const again = slots.plan([row(1, [1, 2, 3], 0, 2)]);
    expect(again.catchUp.map((c) => Array.from(c.tokens))).toEqual([[1, 2]]);
    expect(() => slots.plan([row(7, [1], 0, 0), row(8, [1], 0, 0), row(9, [1], 0, 0)])).toThrow(inputCode);
  });
});

describe('linearsCommands (a layer\'s projections of one input)', () => {
  const made: Tensor[] = [];
  const t = (dtype: 'f32' | 'q8_0', shape: number[]) => {
    const x = Tensor.empty('cpu', dtype, shape, 'weights');
    made.push(x);
    return x;
  };
  afterAll(() => made.forEach((x) => x.dispose()));

  it('is one linears command when the weights share a dtype, with a null for each missing bias', () => {
    const x = t('f32', [2, 32]), outs = [t('f32', [2, 8]), t('f32', [2, 4])];
    const ls = [{ w: t('q8_0', [8, 32]), bias: t('f32', [8]) }, { w: t('q8_0', [4, 32]) }];
    const cmds = linearsCommands(x, ls, outs, { batchInvariant: true });
    expect(cmds).toHaveLength(1);
    expect(cmds[0]).toMatchObject({ op: 'linears', x, w: [ls[0].w, ls[1].w], bias: [ls[0].bias, null], out: outs, batchInvariant: true });
    expect(linearsCommands(x, [ls[1], ls[1]], outs, DEFAULT_FORWARD)[0]).not.toHaveProperty('bias');
  });

  it('is one linear per weight when their dtypes differ', () => {
    const x = t('f32', [2, 32]), outs = [t('f32', [2, 8]), t('f32', [2, 4])];
    const ls = [{ w: t('q8_0', [8, 32]) }, { w: t('f32', [4, 32]) }];
    expect(linearsCommands(x, ls, outs, DEFAULT_FORWARD).map((c) => [c.op, c.w, c.out])).toEqual([
      ['linear', ls[0].w, outs[0]], ['linear', ls[1].w, outs[1]],
    ]);
  });
});
