/**
 * The paged-attention case of test/gpu (paged-attention.test.ts: decode and the cache write; chunked-prefill.test.ts):
 * sequences whose keys are written into a poisoned cache through shuffled block tables, then paged_attention over
 * them on the device and on the CPU, compared.
 */
import { ops } from '../../lib/ops';
import { nextSeed, normal, uniform } from '../helpers/random';
import type * as ref from '../helpers/reference';
import { alibiSlopes } from '../ops/tensors';
import { Act, act, cuSeqlens, expectAgree, expectSame, f32s, i32s, output, runBoth, Spec } from './both-devices';

/** 0..n-1 in a seeded random order. */
export function permutation(n: number, seed: number): number[] {
  const key = uniform(n, seed);
  return Array.from({ length: n }, (_, i) => i).sort((x, y) => key[x] - key[y]);
}

/** Sequences with cached keys and new queries, their heads, block size and masking (scale 1/√D). */
export type PagedCase = Pick<ref.AttentionRef, 'Hq' | 'Hkv' | 'D'> & {
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
  /** the batch-invariant mode (every query on the per-query kernels, fixed split points) */
  batchInvariant?: boolean;
};

export function checkPaged(a: Act, c: PagedCase): void {
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
      causal: c.causal ?? true, windowLeft: c.windowLeft ?? -1, alibiSlopes: t.slopes ?? null, batchInvariant: c.batchInvariant,
    }),
  ]);
  const what = `paged ${JSON.stringify(c)} seed ${seed}`;
  expectSame(r.dev.kc, r.cpu.kc, `${what}: k cache`);
  expectAgree(r, 'out', a, what);
}
