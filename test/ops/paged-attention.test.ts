/**
 * The paged KV cache: kv_cache_write round trips, and paged_attention (decode and chunked prefill over a
 * cached prefix) equals fused attention on the same keys and values laid out contiguously, and the float64
 * reference, with shuffled non-contiguous block tables and block sizes 16 and 5.
 */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal, rng } from '../helpers/random';
import * as ref from '../helpers/reference';
import { alibiSlopes, disposeAll, f32t, i32t, out, tensor } from './tensors';

afterEach(disposeAll);

function shuffle<T>(a: T[], seed: number): T[] {
  const r = rng(seed);
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

describe('kv_cache_write', () => {
  test.each([16, 5])('round trip through shuffled slots, block size %i; negative slots are skipped', (bs) => {
    const seed = nextSeed();
    const T = 37, Hkv = 2, D = 32, blocks = 12;
    const k = normal(T * Hkv * D, seed), v = normal(T * Hkv * D, seed + 1);
    const slots = shuffle(Array.from({ length: blocks * bs }, (_, i) => i), seed + 2).slice(0, T);
    for (const t of [3, 20, 36]) slots[t] = -1;
    const kc = out([blocks, bs, Hkv, D]), vc = out([blocks, bs, Hkv, D]);
    runSync([ops.kvCacheWrite({ k: f32t([T, Hkv, D], k), v: f32t([T, Hkv, D], v), kCache: kc, vCache: vc, slotMapping: i32t(slots) })]);
    const gk = f32(kc), gv = f32(vc);
    const row = Hkv * D;
    const written = new Set(slots.filter((s) => s >= 0));
    for (let t = 0; t < T; t++) {
      if (slots[t] < 0) continue;
      expect(Array.from(gk.subarray(slots[t] * row, (slots[t] + 1) * row))).toEqual(Array.from(k.subarray(t * row, (t + 1) * row)));
      expect(Array.from(gv.subarray(slots[t] * row, (slots[t] + 1) * row))).toEqual(Array.from(v.subarray(t * row, (t + 1) * row)));
    }
    for (let s = 0; s < blocks * bs; s++) {  // every other slot still holds the poison
      if (!written.has(s)) expect(gk.subarray(s * row, (s + 1) * row).every(Number.isNaN)).toBe(true);
    }
  });
});

interface PagedCase {
  ctx: number[];   // keys per sequence (including the new tokens)
  nNew: number[];  // new query tokens per sequence
  Hq: number;
  Hkv: number;
  D: number;
  bs: number;
  causal?: boolean;
  windowLeft?: number;
  alibi?: boolean;
}

function checkPaged(c: PagedCase): void {
  const seed = nextSeed();
  const { Hq, Hkv, D, bs } = c;
  const B = c.ctx.length;
  const causal = c.causal ?? true, windowLeft = c.windowLeft ?? -1;
  const scale = 1 / Math.sqrt(D);
  const slopes = c.alibi ? alibiSlopes(Hq) : null;
  // Whole sequences, contiguous: q/k/v [L_b, H, D] each.
  const seqs = c.ctx.map((L, b) => ({
    q: normal(L * Hq * D, seed + 10 * b, 1.5), k: normal(L * Hkv * D, seed + 10 * b + 1, 1.5), v: normal(L * Hkv * D, seed + 10 * b + 2),
  }));

  // Scatter the keys into a cache through shuffled block tables (spare blocks stay poisoned).
  const need = c.ctx.map((L) => Math.ceil(L / bs));
  const maxBlocks = Math.max(...need) + 1;
  const numBlocks = need.reduce((a, n) => a + n, 0) + 3;
  const free = shuffle(Array.from({ length: numBlocks }, (_, i) => i), seed + 99);
  const tables = new Int32Array(B * maxBlocks).fill(-1);
  need.forEach((n, b) => { for (let i = 0; i < n; i++) tables[b * maxBlocks + i] = free.pop()!; });
  const kc = out([numBlocks, bs, Hkv, D]), vc = out([numBlocks, bs, Hkv, D]);
  const T = c.ctx.reduce((a, n) => a + n, 0);
  const allK = new Float32Array(T * Hkv * D), allV = new Float32Array(T * Hkv * D);
  const slots: number[] = [];
  let off = 0;
  seqs.forEach((s, b) => {
    allK.set(s.k, off * Hkv * D);
    allV.set(s.v, off * Hkv * D);
    for (let i = 0; i < c.ctx[b]; i++) slots.push(tables[b * maxBlocks + Math.floor(i / bs)] * bs + (i % bs));
    off += c.ctx[b];
  });
  runSync([ops.kvCacheWrite({ k: f32t([T, Hkv, D], allK), v: f32t([T, Hkv, D], allV), kCache: kc, vCache: vc, slotMapping: i32t(slots) })]);

  // The new queries: the last nNew[b] tokens of each sequence.
  const Tq = c.nNew.reduce((a, n) => a + n, 0);
  const q = new Float32Array(Tq * Hq * D);
  const cuq = [0];
  seqs.forEach((s, b) => {
    const first = c.ctx[b] - c.nNew[b];
    q.set(s.q.subarray(first * Hq * D, c.ctx[b] * Hq * D), cuq[b] * Hq * D);
    cuq.push(cuq[b] + c.nNew[b]);
  });
  const o = out([Tq, Hq, D]);
  runSync([ops.pagedAttention({
    q: f32t([Tq, Hq, D], q), kCache: kc, vCache: vc, cuSeqlensQ: i32t(cuq), contextLens: i32t(c.ctx),
    blockTables: tensor('i32', [B, maxBlocks], tables), maxContextLen: Math.max(...c.ctx), out: o,
    scale, causal, windowLeft, alibiSlopes: slopes ? f32t([Hq], slopes) : null,
  })]);
  const got = f32(o);

  // 1) the float64 reference, per sequence
  const p = { Hq, Hkv, D, scale, causal, windowLeft, slopes };
  seqs.forEach((s, b) => {
    const first = c.ctx[b] - c.nNew[b];
    const want = ref.attentionSeq(p, s.q.subarray(first * Hq * D), c.nNew[b], first, s.k, s.v, c.ctx[b]);
    expectClose(got.subarray(cuq[b] * Hq * D, cuq[b + 1] * Hq * D), want, TOLERANCE.f32, `paged seq ${b} ${JSON.stringify(c)} seed ${seed}`);
  });

  // 2) fused attention over the same keys laid out contiguously (only meaningful when causal: then the last
  //    rows of a full prefill are exactly the new queries' outputs)
  if (causal) {
    const allQ = new Float32Array(T * Hq * D);
    let o2 = 0;
    seqs.forEach((s, b) => { allQ.set(s.q, o2 * Hq * D); o2 += c.ctx[b]; });
    const fused = out([T, Hq, D]);
    runSync([ops.attention({
      q: f32t([T, Hq, D], allQ), k: f32t([T, Hkv, D], allK), v: f32t([T, Hkv, D], allV), cuSeqlens: i32t([0, ...c.ctx.map((_, b) => c.ctx.slice(0, b + 1).reduce((x, y) => x + y, 0))]),
      maxSeqlen: Math.max(...c.ctx), out: fused, scale, causal, windowLeft, alibiSlopes: slopes ? f32t([Hq], slopes) : null,
    })]);
    const f = f32(fused);
    let start = 0;
    c.ctx.forEach((L, b) => {
      const rows = f.subarray((start + L - c.nNew[b]) * Hq * D, (start + L) * Hq * D);
      expectClose(got.subarray(cuq[b] * Hq * D, cuq[b + 1] * Hq * D), rows, 1e-5, `paged vs fused, seq ${b}, seed ${seed}`);
      start += L;
    });
  }
}

describe('paged_attention', () => {
  test.each([16, 5])('decode: one query per sequence, mixed context lengths, block size %i', (bs) => {
    checkPaged({ ctx: [1, 17, 257, 40], nNew: [1, 1, 1, 1], Hq: 4, Hkv: 4, D: 64, bs });
  });

  test.each([16, 5])('chunked prefill: several new queries over a cached prefix, block size %i', (bs) => {
    checkPaged({ ctx: [30, 257, 9], nNew: [7, 17, 9], Hq: 8, Hkv: 2, D: 32, bs });
  });

  test.each([32, 64, 80, 96, 128, 256])('head dim %i', (D) => {
    checkPaged({ ctx: [33, 70], nNew: [1, 5], Hq: 2, Hkv: 1, D, bs: 16 });
  });

  test('GQA 8:1 and MQA', () => {
    checkPaged({ ctx: [100, 23], nNew: [1, 3], Hq: 16, Hkv: 2, D: 64, bs: 16 });
    checkPaged({ ctx: [50, 64], nNew: [2, 1], Hq: 8, Hkv: 1, D: 128, bs: 5 });
  });

  test('long context at batch 1 (the key range is split over threads and merged)', () => {
    checkPaged({ ctx: [3000], nNew: [1], Hq: 9, Hkv: 3, D: 64, bs: 16 });
    checkPaged({ ctx: [2100], nNew: [4], Hq: 4, Hkv: 1, D: 128, bs: 5, windowLeft: 1500, alibi: true });
  });

  test('ALiBi and sliding window', () => {
    checkPaged({ ctx: [120, 31], nNew: [1, 8], Hq: 8, Hkv: 8, D: 32, bs: 16, alibi: true });
    checkPaged({ ctx: [300, 45], nNew: [1, 6], Hq: 4, Hkv: 2, D: 64, bs: 5, windowLeft: 40 });
  });

  test('bidirectional (causal = false): new queries also see each other', () => {
    checkPaged({ ctx: [40, 12], nNew: [10, 12], Hq: 2, Hkv: 2, D: 32, bs: 5, causal: false });
  });
});
