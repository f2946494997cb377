/**
 * The paged KV cache on the device against the CPU: kv_cache_write through shuffled slots (negative slots
 * skip their token), and paged_attention over caches filled that way through shuffled, non-contiguous block
 * tables with block sizes 16 and 5 (paged.ts). Decode (one query per sequence) and decode-like batches take the
 * split-KV kernel; long contexts at batch 1 are split over many blocks and merged (split-K). The caches are
 * compared too: every written slot equal, every other slot still poisoned. Chunked prefill has its own suite
 * (chunked-prefill.test.ts).
 */
import { ops } from '../../lib/ops';
import { nextSeed, normal } from '../helpers/random';
import { ACTS, act, describeGpu, disposeAll, expectSame, i32s, output, runBoth } from './both-devices';
import { checkPaged, permutation } from './paged';

afterEach(disposeAll);

describeGpu('kv_cache_write', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([[16, 2, 32], [5, 8, 128], [1, 1, 256]])('block size %i, %i heads of %i: shuffled slots, negative ones skipped', (bs, Hkv, D) => {
      const seed = nextSeed();
      const T = 37, blocks = Math.ceil(T / bs) + 2;
      const slots = permutation(blocks * bs, seed).slice(0, T);
      for (const t of [3, 20, 36]) slots[t] = -1;
      const shape = [blocks, bs, Hkv, D];
      const r = runBoth(a, {
        k: act([T, Hkv, D], normal(T * Hkv * D, seed + 1)), v: act([T, Hkv, D], normal(T * Hkv * D, seed + 2)),
        kc: output(shape), vc: output(shape), slots: i32s(slots),
      }, (t) => [ops.kvCacheWrite({ k: t.k, v: t.v, kCache: t.kc, vCache: t.vc, slotMapping: t.slots })]);
      expectSame(r.dev.kc, r.cpu.kc, `k cache seed ${seed}`);
      expectSame(r.dev.vc, r.cpu.vc, `v cache seed ${seed}`);
      const row = Hkv * D;  // the CPU's cache is checked against the inputs in test/ops; this pins the layout here too
      expectSame(r.dev.kc.subarray(slots[0] * row, (slots[0] + 1) * row), r.inputs.k.subarray(0, row), 'token 0 in its slot');
    });
  });
});

describeGpu('paged_attention', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([16, 5])('decode: one query per sequence, contexts 1, 17, 257 and 40, block size %i', (bs) => {
      checkPaged(a, { ctx: [1, 17, 257, 40], nNew: [1, 1, 1, 1], Hq: 4, Hkv: 4, D: 64, bs });
      checkPaged(a, { ctx: [1, 17, 257, 40], nNew: [1, 1, 1, 1], Hq: 8, Hkv: 2, D: 128, bs, hintSlack: 500 });
    });

    test('decode-like batches with several queries in a sequence, and decode rows among prefill rows', () => {
      checkPaged(a, { ctx: [40, 12, 100, 7], nNew: [3, 1, 2, 1], Hq: 4, Hkv: 2, D: 64, bs: 16 });
      checkPaged(a, { ctx: [64, 300, 5], nNew: [1, 40, 1], Hq: 4, Hkv: 2, D: 64, bs: 16 });
    });

    test.each([32, 64, 80, 96, 128, 256])('head dim %i', (D) => {
      checkPaged(a, { ctx: [33, 70], nNew: [1, 5], Hq: 2, Hkv: 1, D, bs: 16 });
      checkPaged(a, { ctx: [33, 70], nNew: [1, 1], Hq: 4, Hkv: 2, D, bs: 5 });
    });

    test('GQA 8:1 and MQA', () => {
      checkPaged(a, { ctx: [100, 23], nNew: [1, 3], Hq: 16, Hkv: 2, D: 64, bs: 16 });
      checkPaged(a, { ctx: [50, 64], nNew: [2, 1], Hq: 8, Hkv: 1, D: 128, bs: 5 });
      checkPaged(a, { ctx: [90, 64], nNew: [30, 20], Hq: 16, Hkv: 2, D: 64, bs: 16 });
    });

    test('long contexts at batch 1 and 3: the keys split over many blocks and merged (split-K)', () => {
      checkPaged(a, { ctx: [3000], nNew: [1], Hq: 9, Hkv: 3, D: 64, bs: 16 });
      checkPaged(a, { ctx: [8000], nNew: [1], Hq: 16, Hkv: 2, D: 128, bs: 16 });
      checkPaged(a, { ctx: [5000, 1200, 3], nNew: [1, 1, 1], Hq: 4, Hkv: 1, D: 64, bs: 16 });
      checkPaged(a, { ctx: [2100], nNew: [4], Hq: 4, Hkv: 1, D: 128, bs: 5, windowLeft: 1500, alibi: true });
    });

    test('ALiBi and sliding window', () => {
      checkPaged(a, { ctx: [120, 31], nNew: [1, 8], Hq: 8, Hkv: 8, D: 32, bs: 16, alibi: true });
      checkPaged(a, { ctx: [300, 45], nNew: [1, 6], Hq: 4, Hkv: 2, D: 64, bs: 5, windowLeft: 40 });
      checkPaged(a, { ctx: [300, 200], nNew: [100, 60], Hq: 4, Hkv: 2, D: 64, bs: 16, windowLeft: 64, alibi: true });
    });

    test('bidirectional (causal = false): new queries also see each other', () => {
      checkPaged(a, { ctx: [40, 12], nNew: [10, 12], Hq: 2, Hkv: 2, D: 32, bs: 5, causal: false });
      checkPaged(a, { ctx: [40, 12], nNew: [1, 1], Hq: 2, Hkv: 2, D: 32, bs: 5, causal: false });
    });
  });
});
