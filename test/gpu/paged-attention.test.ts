/**
 * The paged KV cache on the device against the CPU: kv_cache_write through shuffled slots (negative slots
 * skip their token), and paged_attention over caches filled that way through shuffled, non-contiguous block
 * tables with block sizes 16 and 5. Decode (one query per sequence) and decode-like batches take the split-KV
 * kernel, chunked prefill in half precision the tensor-core kernel reading paged keys; long contexts at batch
 * 1 are split over many blocks and merged (split-K). The caches are compared too: every written slot equal,
 * every other slot still poisoned.
 *
 * Chunked prefill (more than two new tokens per sequence on average) takes the prefill family: on compute
 * capability 9.0 at head dims 64 and 128 with block sizes 8 to 128 that divide 128 (16, 32 and 8 below), the
 * Hopper kernel, which loads the cache one block per TMA box and must zero V's rows past a sequence's end
 * (the poisoned slots here are NaN); block size 5 takes the mma.sync kernel.
 */
import { ops } from '../../lib/ops';
import { nextSeed, normal, uniform } from '../helpers/random';
import type * as ref from '../helpers/reference';
import { alibiSlopes } from '../ops/tensors';
import {
  ACTS, Act, act, cuSeqlens, describeGpu, disposeAll, expectAgree, expectSame, f32s, i32s, output, runBoth, Spec,
} from './both-devices';

afterEach(disposeAll);

/** 0..n-1 in a seeded random order. */
function permutation(n: number, seed: number): number[] {
  const key = uniform(n, seed);
  return Array.from({ length: n }, (_, i) => i).sort((x, y) => key[x] - key[y]);
}

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

/** Sequences with cached keys and new queries, their heads, block size and masking (scale 1/√D). */
type PagedCase = Pick<ref.AttentionRef, 'Hq' | 'Hkv' | 'D'> & {
  /** keys per sequence, its new tokens included */
  ctx: number[];
  /** new query tokens per sequence: the last nNew[b] positions of its context */
  nNew: number[];
  bs: number;
  causal?: boolean;
  windowLeft?: number;
  alibi?: boolean;
  /** added to maxContextLen: the launch hint may exceed the longest context */
  hintSlack?: number;
};

function checkPaged(a: Act, c: PagedCase): void {
  const seed = nextSeed();
  const { Hq, Hkv, D, bs } = c;
  const B = c.ctx.length;
  // every sequence's blocks drawn from a shuffled pool; spare blocks and table entries past the end stay unused
  const need = c.ctx.map((L) => Math.ceil(L / bs));
  const maxBlocks = Math.max(...need) + 1;
  const numBlocks = need.reduce((x, y) => x + y, 0) + 3;
  const free = permutation(numBlocks, seed);
  const tables = new Int32Array(B * maxBlocks).fill(-1);
  need.forEach((n, b) => { for (let i = 0; i < n; i++) tables[b * maxBlocks + i] = free.pop()!; });
  const slots: number[] = [];
  c.ctx.forEach((L, b) => { for (let i = 0; i < L; i++) slots.push(tables[b * maxBlocks + Math.floor(i / bs)] * bs + (i % bs)); });
  const T = c.ctx.reduce((x, y) => x + y, 0), Tq = c.nNew.reduce((x, y) => x + y, 0);
  const cache = [numBlocks, bs, Hkv, D];
  const specs: Record<string, Spec> = {
    k: act([T, Hkv, D], normal(T * Hkv * D, seed + 1, 1.5)), v: act([T, Hkv, D], normal(T * Hkv * D, seed + 2)),
    q: act([Tq, Hq, D], normal(Tq * Hq * D, seed + 3, 1.5)),
    kc: output(cache), vc: output(cache), slots: i32s(slots),
    cuq: i32s(cuSeqlens(c.nNew)), ctx: i32s(c.ctx), tables: i32s(tables, [B, maxBlocks]), out: output([Tq, Hq, D]),
  };
  if (c.alibi) specs.slopes = f32s(alibiSlopes(Hq));
  const r = runBoth(a, specs, (t) => [
    ops.kvCacheWrite({ k: t.k, v: t.v, kCache: t.kc, vCache: t.vc, slotMapping: t.slots }),
    ops.pagedAttention({
      q: t.q, kCache: t.kc, vCache: t.vc, cuSeqlensQ: t.cuq, contextLens: t.ctx, blockTables: t.tables,
      maxContextLen: Math.max(...c.ctx) + (c.hintSlack ?? 0), out: t.out, scale: 1 / Math.sqrt(D),
      causal: c.causal ?? true, windowLeft: c.windowLeft ?? -1, alibiSlopes: t.slopes ?? null,
    }),
  ]);
  const what = `paged ${JSON.stringify(c)} seed ${seed}`;
  expectSame(r.dev.kc, r.cpu.kc, `${what}: k cache`);
  expectAgree(r, 'out', a, what);
}

describeGpu('paged_attention', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([16, 5])('decode: one query per sequence, contexts 1, 17, 257 and 40, block size %i', (bs) => {
      checkPaged(a, { ctx: [1, 17, 257, 40], nNew: [1, 1, 1, 1], Hq: 4, Hkv: 4, D: 64, bs });
      checkPaged(a, { ctx: [1, 17, 257, 40], nNew: [1, 1, 1, 1], Hq: 8, Hkv: 2, D: 128, bs, hintSlack: 500 });
    });

    test.each([16, 5])('chunked prefill: new queries over a cached prefix, block size %i', (bs) => {
      checkPaged(a, { ctx: [30, 257, 9], nNew: [7, 17, 9], Hq: 8, Hkv: 2, D: 32, bs });
      checkPaged(a, { ctx: [2000], nNew: [300], Hq: 8, Hkv: 2, D: 128, bs });
    });

    test.each([16, 32, 8, 5])('chunked prefill over many cached blocks, head dims 64 and 128, block size %i', (bs) => {
      checkPaged(a, { ctx: [1000, 130, 257], nNew: [200, 130, 1], Hq: 4, Hkv: 1, D: 128, bs });
      checkPaged(a, { ctx: [700, 129, 64], nNew: [129, 64, 64], Hq: 2, Hkv: 2, D: 64, bs });
      checkPaged(a, { ctx: [2100], nNew: [512], Hq: 2, Hkv: 1, D: 64, bs, hintSlack: 100 });
    });

    test.each([[64, 1], [64, 4], [64, 8], [128, 1], [128, 4], [128, 8]])('chunked prefill, head dim %i, GQA ratio %i', (D, ratio) => {
      checkPaged(a, { ctx: [300, 77], nNew: [150, 40], Hq: 2 * ratio, Hkv: 2, D, bs: 16 });
    });

    test('chunked prefill with sliding window, ALiBi and without causality, head dim 128', () => {
      checkPaged(a, { ctx: [900, 200], nNew: [300, 10], Hq: 4, Hkv: 2, D: 128, bs: 16, windowLeft: 150, alibi: true });
      checkPaged(a, { ctx: [400, 50], nNew: [160, 50], Hq: 2, Hkv: 1, D: 128, bs: 32, causal: false });
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
