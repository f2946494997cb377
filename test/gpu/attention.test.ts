/**
 * Fused prefill attention over packed variable-length batches on the device against the CPU, in every
 * activation dtype: every head dim the device compiles (32, 64, 80, 96, 128, 256), causal and bidirectional,
 * one query tile and many (1, 17, 257 and 700 tokens), sequences ending just before, on and after a
 * 64- or 128-row tile edge, long sequences (2048 and 4096 tokens), ragged batches with empty sequences, GQA
 * ratios 1, 4 and 8 and MQA, ALiBi, sliding windows, and peaked scores.
 *
 * Which kernel runs: f16 / bf16 at head dims 64 and 128 take the Hopper kernel on compute capability 9.0
 * (attention_sm90.cu: 128 query rows × 128-key tiles, masks only on diagonal, window-start and end tiles),
 * the mma.sync kernel elsewhere and at the other head dims; f32 takes its own path. The shapes below cross
 * every boundary of those tiles.
 */
import { ops } from '../../lib/ops';
import { nextSeed, normal, uniform } from '../helpers/random';
import type * as ref from '../helpers/reference';
import { alibiSlopes } from '../ops/tensors';
import { ACTS, Act, act, cuSeqlens, describeGpu, disposeAll, expectAgree, f32s, i32s, output, runBoth, Spec } from './both-devices';

afterEach(disposeAll);

/** A batch of sequences of these lengths, heads and masking (the reference's parameters, scale 1/√D). */
type Case = Pick<ref.AttentionRef, 'Hq' | 'Hkv' | 'D' | 'causal'> & {
  lens: number[];
  windowLeft?: number;
  alibi?: boolean;
  /** spread of q and k: larger makes the softmax peak on few keys */
  qkStd?: number;
};

function check(a: Act, c: Case): void {
  const seed = nextSeed();
  const T = c.lens.reduce((x, y) => x + y, 0);
  const std = c.qkStd ?? 1.5;
  const specs: Record<string, Spec> = {
    q: act([T, c.Hq, c.D], normal(T * c.Hq * c.D, seed, std)),
    k: act([T, c.Hkv, c.D], normal(T * c.Hkv * c.D, seed + 1, std)),
    v: act([T, c.Hkv, c.D], uniform(T * c.Hkv * c.D, seed + 2)),
    cu: i32s(cuSeqlens(c.lens)),
    out: output([T, c.Hq, c.D]),
  };
  if (c.alibi) specs.slopes = f32s(alibiSlopes(c.Hq));
  const r = runBoth(a, specs, (t) => [ops.attention({
    q: t.q, k: t.k, v: t.v, cuSeqlens: t.cu, maxSeqlen: Math.max(...c.lens), out: t.out, scale: 1 / Math.sqrt(c.D),
    causal: c.causal, windowLeft: c.windowLeft ?? -1, alibiSlopes: t.slopes ?? null,
  })]);
  expectAgree(r, 'out', a, `attention ${JSON.stringify(c)} seed ${seed}`);
}

describeGpu('attention (prefill, packed varlen)', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([32, 64, 80, 96, 128, 256])('head dim %i, causal and bidirectional', (D) => {
      check(a, { lens: [17, 40], Hq: 2, Hkv: 2, D, causal: true });
      check(a, { lens: [33, 70], Hq: 2, Hkv: 1, D, causal: false });
    });

    test.each([1, 17, 257, 700])('one sequence of %i tokens, causal and bidirectional', (n) => {
      check(a, { lens: [n], Hq: 4, Hkv: 4, D: 64, causal: true });
      check(a, { lens: [n], Hq: 4, Hkv: 2, D: 128, causal: false });
    });

    test('a batch mixing lengths 1, 17, 257, 0 (empty) and 64', () => {
      check(a, { lens: [1, 17, 257, 0, 64], Hq: 3, Hkv: 3, D: 32, causal: true });
      check(a, { lens: [1, 17, 257, 0, 64], Hq: 3, Hkv: 3, D: 32, causal: false });
    });

    test('GQA 8:1 and MQA', () => {
      check(a, { lens: [17, 70], Hq: 16, Hkv: 2, D: 64, causal: true });
      check(a, { lens: [5, 100], Hq: 8, Hkv: 1, D: 128, causal: true });
      check(a, { lens: [33], Hq: 12, Hkv: 1, D: 80, causal: false });
      check(a, { lens: [9, 30], Hq: 9, Hkv: 3, D: 96, causal: true });
    });

    test('ALiBi, causal and bidirectional', () => {
      check(a, { lens: [17, 130], Hq: 8, Hkv: 8, D: 64, causal: true, alibi: true });
      check(a, { lens: [40], Hq: 4, Hkv: 2, D: 32, causal: false, alibi: true });
    });

    test('sliding window (with GQA, with ALiBi, window 0, and without causality)', () => {
      check(a, { lens: [257, 20], Hq: 4, Hkv: 2, D: 64, causal: true, windowLeft: 32 });
      check(a, { lens: [100], Hq: 4, Hkv: 4, D: 32, causal: true, windowLeft: 0 });
      check(a, { lens: [90], Hq: 4, Hkv: 1, D: 32, causal: true, windowLeft: 70, alibi: true });
      check(a, { lens: [80, 200], Hq: 2, Hkv: 2, D: 128, causal: false, windowLeft: 10 });
    });

    test.each([63, 64, 65, 127, 128, 129, 255, 256, 257])('one sequence of %i tokens (query and key tile edges), head dims 64 and 128', (n) => {
      check(a, { lens: [n], Hq: 2, Hkv: 1, D: 64, causal: true });
      check(a, { lens: [n], Hq: 2, Hkv: 2, D: 128, causal: n % 2 === 0 });
    });

    test.each([64, 128])('long sequences (2048 and 4096 tokens), head dim %i, causal and bidirectional', (D) => {
      check(a, { lens: [2048], Hq: 2, Hkv: 1, D, causal: true });
      check(a, { lens: [4096], Hq: 1, Hkv: 1, D, causal: true });
      check(a, { lens: [2048], Hq: 1, Hkv: 1, D, causal: false });
    });

    test.each([64, 128])('ragged batches with empty sequences, head dim %i', (D) => {
      check(a, { lens: [1, 130, 0, 255, 513, 64, 0, 129, 7], Hq: 4, Hkv: 2, D, causal: true });
      check(a, { lens: [300, 0, 1, 128, 200], Hq: 2, Hkv: 1, D, causal: false });
    });

    test.each([[64, 1], [64, 4], [64, 8], [128, 1], [128, 4], [128, 8]])('head dim %i, GQA ratio %i (query heads per KV head)', (D, ratio) => {
      check(a, { lens: [200, 77], Hq: 2 * ratio, Hkv: 2, D, causal: true });
      check(a, { lens: [150], Hq: ratio, Hkv: 1, D, causal: false });
    });

    test('sliding windows and ALiBi across 128-key tiles, head dim 128', () => {
      check(a, { lens: [600], Hq: 2, Hkv: 1, D: 128, causal: true, windowLeft: 200 });
      check(a, { lens: [300, 130], Hq: 4, Hkv: 4, D: 128, causal: true, alibi: true });
      check(a, { lens: [260], Hq: 2, Hkv: 2, D: 64, causal: false, windowLeft: 100, alibi: true });
    });

    test('peaked scores (large logits) stay finite', () => {
      check(a, { lens: [50, 3], Hq: 2, Hkv: 1, D: 64, causal: true, qkStd: 4 });
      check(a, { lens: [300], Hq: 2, Hkv: 1, D: 128, causal: true, qkStd: 4 });
    });
  });
});
