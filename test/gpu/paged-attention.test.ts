/**
 * The paged KV cache on the device against the CPU: kv_cache_write through shuffled slots (negative slots
 * skip their token), and paged_attention over caches filled that way through shuffled, non-contiguous block
 * tables with block sizes 16 and 5 (paged.ts). Decode (one query per sequence) and decode-like batches take the
 * decode kernels (f16 / bf16 at head dims 32 to 128: tensor cores, paged_decode.cu; else the split-KV kernel);
 * long contexts are split over many blocks and merged (split-K), GQA groups of 1 to 32 query heads per
 * key-value head. The caches are compared too: every written slot equal, every other slot still poisoned. The
 * batch-invariant mode: against the CPU, and a query's bits alone, in a mixed batch and as the last row of a
 * prefill chunk. Chunked prefill has its own suite (chunked-prefill.test.ts).
 */
import type { StepSequence } from '../../lib/core/step';
import type { Command, Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { ropeTables } from '../../lib/models/rope';
import { PackedStep, StepLimits, packStep, padDecodeStep, widthBucket } from '../../lib/models/step-inputs';
import { expectClose } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import { greedy } from '../helpers/sampling';
import {
  ACTS, act, cuSeqlens, describeGpu, disposeAll, expectSame, f32s, i32s, numbers, onDevice, output, runBoth, Spec, VS_CPU,
} from './both-devices';
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

    test('decode at long contexts: 32768 keys at batch 1, 4096 at batch 8', () => {
      checkPaged(a, { ctx: [32768], nNew: [1], Hq: 32, Hkv: 8, D: 128, bs: 16 });
      checkPaged(a, { ctx: Array(8).fill(4096), nNew: Array(8).fill(1), Hq: 8, Hkv: 2, D: 128, bs: 16 });
    });

    test.each([1, 4, 8, 16, 32])('decode, GQA group of %i query heads per key-value head', (group) => {
      checkPaged(a, { ctx: [700, 33, 1], nNew: [1, 1, 1], Hq: 2 * group, Hkv: 2, D: 128, bs: 16 });
      checkPaged(a, { ctx: [129, 64], nNew: [1, 1], Hq: group, Hkv: 1, D: 64, bs: 16, alibi: true });
    });

    test('batch-invariant mode: decode, decode-like and chunked prefill batches against the CPU', () => {
      checkPaged(a, { ctx: [1, 17, 2000, 40], nNew: [1, 1, 1, 1], Hq: 8, Hkv: 2, D: 128, bs: 16, batchInvariant: true, hintSlack: 300 });
      checkPaged(a, { ctx: [300, 77, 1100], nNew: [150, 40, 1], Hq: 4, Hkv: 2, D: 64, bs: 16, batchInvariant: true });
      checkPaged(a, { ctx: [40, 900], nNew: [3, 1], Hq: 4, Hkv: 2, D: 256, bs: 5, batchInvariant: true, windowLeft: 300 });
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

/**
 * The batch-invariant mode's promise (issue 20): a query's output has the same bits whatever else is in the
 * batch, however long the launch's longest context is, and whether the query is decoded alone or computed as
 * the last row of a prefill chunk (a prefix-cache hit against a chunked prefill).
 */
describeGpu('paged_attention, batch-invariant mode', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([[128, 4], [64, 1], [128, 16]])('head dim %i, %i query heads per key-value head: the same bits alone, in a mixed batch and in a chunk', (D, group) => {
      const seed = nextSeed();
      const bs = 16, Hkv = 2, Hq = group * Hkv;
      const ctx = [300, 97, 2600];  // sequence 0 is the probe; 2 is long (several splits)
      const need = ctx.map((L) => Math.ceil(L / bs));
      const maxBlocks = Math.max(...need);
      const numBlocks = need.reduce((x, y) => x + y, 0);
      const free = permutation(numBlocks, seed);
      const tables = new Int32Array(ctx.length * maxBlocks).fill(-1);
      need.forEach((n, b) => { for (let i = 0; i < n; i++) tables[b * maxBlocks + i] = free.pop()!; });
      const slots: number[] = [];
      ctx.forEach((L, b) => { for (let i = 0; i < L; i++) slots.push(tables[b * maxBlocks + Math.floor(i / bs)] * bs + (i % bs)); });
      const T = ctx.reduce((x, y) => x + y, 0);
      const cache = onDevice(a, {
        k: act([T, Hkv, D], normal(T * Hkv * D, seed + 1, 1.5)), v: act([T, Hkv, D], normal(T * Hkv * D, seed + 2)),
        kc: output([numBlocks, bs, Hkv, D]), vc: output([numBlocks, bs, Hkv, D]), slots: i32s(slots),
      });
      runSync([ops.kvCacheWrite({ k: cache.k, v: cache.v, kCache: cache.kc, vCache: cache.vc, slotMapping: cache.slots })]);
      // queries per sequence: the probe's last 13 positions, 40 new ones for sequence 1, one for sequence 2
      const probeQ = normal(13 * Hq * D, seed + 3, 1.5);
      const rowQ = probeQ.subarray(12 * Hq * D);  // the probe's last position
      const others = normal(41 * Hq * D, seed + 4, 1.5);
      /** the probe's last query's output, from a batch of (sequence, new queries, their q rows) */
      const probeOut = (batch: Array<{ seq: number; q: Float32Array }>, probeRow: number, maxContextLen: number): Float64Array => {
        const nNew = batch.map((x) => x.q.length / (Hq * D));
        const Tq = nNew.reduce((x, y) => x + y, 0);
        const q = new Float32Array(Tq * Hq * D);
        let at = 0;
        for (const x of batch) { q.set(x.q, at); at += x.q.length; }
        const bt = new Int32Array(batch.length * maxBlocks);
        batch.forEach((x, i) => bt.set(tables.subarray(x.seq * maxBlocks, (x.seq + 1) * maxBlocks), i * maxBlocks));
        const t = onDevice(a, {
          q: act([Tq, Hq, D], q), cuq: i32s(cuSeqlens(nNew)), ctx: i32s(batch.map((x) => ctx[x.seq])),
          tables: i32s(bt, [batch.length, maxBlocks]), out: output([Tq, Hq, D]),
        });
        runSync([ops.pagedAttention({
          q: t.q, kCache: cache.kc, vCache: cache.vc, cuSeqlensQ: t.cuq, contextLens: t.ctx, blockTables: t.tables,
          maxContextLen, out: t.out, scale: 1 / Math.sqrt(D), causal: true, batchInvariant: true,
        })]);
        return numbers(t.out).slice(probeRow * Hq * D, (probeRow + 1) * Hq * D);
      };
      const alone = probeOut([{ seq: 0, q: rowQ }], 0, 300);
      const what = `D=${D} group=${group} seed ${seed}`;
      expectSame(probeOut([{ seq: 1, q: others.subarray(0, 40 * Hq * D) }, { seq: 0, q: rowQ }, { seq: 2, q: others.subarray(40 * Hq * D) }], 40, 2600),
        alone, `${what}: in a mixed batch`);
      expectSame(probeOut([{ seq: 0, q: probeQ }], 12, 300), alone, `${what}: the last row of a 13-token chunk`);
      expectSame(probeOut([{ seq: 0, q: rowQ }], 0, 4000), alone, `${what}: a longer launch hint`);
    });
  });
});

/**
 * A decode step as the runner pads it (lib/models/step-inputs.ts padDecodeStep: 3 sequences padded to 8 rows, block
 * tables to a power-of-two width, the launch bound width × block size): the cached keys written first, then the
 * step's q and k rotated and k, v stored by rope_kv_cache_write through the padded slot mapping (padding rows -1),
 * then paged attention. Block 0, which the padding rows read, belongs to no sequence and stays poisoned (NaN).
 * Against the CPU, the real rows and both caches (every slot no real token wrote still NaN); on the device
 * itself in the batch-invariant mode, the real rows' bits and both caches whole are those of the unpadded step.
 */
describeGpu('paged_attention in a decode step padded as the runner pads it', () => {
  const bs = 16;
  const lim: StepLimits = { vocabSize: 100, blockSize: bs, numBlocks: 40, maxNumBatchedTokens: 64, maxNumSeqs: 8, maxModelLen: 512 };
  const ctx = [37, 5, 130];  // keys of each sequence after the step

  function step(seed: number) {
    const free = permutation(lim.numBlocks, seed).filter((b) => b !== 0);
    const seqs: StepSequence[] = ctx.map((L) => ({
      tokens: [1], start: L - 1, blockTable: Array.from({ length: Math.ceil(L / bs) }, () => free.pop()!), sample: greedy(0),
    }));
    const real = packStep(seqs, lim);
    const padded = padDecodeStep(real, lim.maxNumSeqs, widthBucket(real.blockTableWidth, lim.maxModelLen / bs));
    const cachedSlots = seqs.flatMap((s) => Array.from({ length: s.start }, (_, p) => s.blockTable[Math.floor(p / bs)] * bs + (p % bs)));
    return { real, padded, cachedSlots };
  }

  describe.each(ACTS)('%s', (a) => {
    test.each([[64, 8, 2], [128, 32, 8], [256, 4, 4]])('head dim %i, %i / %i heads: padding rows write nothing and change no real row', (D, Hq, Hkv) => {
      const seed = nextSeed();
      const { real, padded, cachedSlots } = step(seed);
      const P = cachedSlots.length, R = real.numTokens, T = padded.numTokens;
      expect([R, T, padded.blockTableWidth]).toEqual([3, 8, 16]);
      const q = normal(T * Hq * D, seed + 1, 1.5), k = normal(T * Hkv * D, seed + 2, 1.5), v = normal(T * Hkv * D, seed + 3);
      const specs = (p: PackedStep): Record<string, Spec> => {
        const n = p.numTokens;
        return {
          ck: act([P, Hkv, D], normal(P * Hkv * D, seed + 4, 1.5)), cv: act([P, Hkv, D], normal(P * Hkv * D, seed + 5)), cslots: i32s(cachedSlots),
          q: act([n, Hq, D], q.subarray(0, n * Hq * D)), k: act([n, Hkv, D], k.subarray(0, n * Hkv * D)), v: act([n, Hkv, D], v.subarray(0, n * Hkv * D)),
          freq: f32s(ropeTables({ theta: 10000, rotaryDim: D, interleaved: false }).invFreq),
          pos: i32s(p.positions), slots: i32s(p.slotMapping), cuq: i32s(p.cuSeqlens), ctx: i32s(p.contextLens),
          tables: i32s(p.blockTables, [p.numSeqs, p.blockTableWidth]),
          kc: output([lim.numBlocks, bs, Hkv, D]), vc: output([lim.numBlocks, bs, Hkv, D]), out: output([n, Hq, D]),
        };
      };
      const program = (p: PackedStep, batchInvariant: boolean) => (t: Record<string, Tensor>): Command[] => [
        ops.kvCacheWrite({ k: t.ck, v: t.cv, kCache: t.kc, vCache: t.vc, slotMapping: t.cslots }),
        ops.ropeKvCacheWrite({ q: t.q, k: t.k, v: t.v, positions: t.pos, invFreq: t.freq, kCache: t.kc, vCache: t.vc, slotMapping: t.slots }),
        ops.pagedAttention({
          q: t.q, kCache: t.kc, vCache: t.vc, cuSeqlensQ: t.cuq, contextLens: t.ctx, blockTables: t.tables,
          maxContextLen: p.blockTableWidth * bs, out: t.out, scale: 1 / Math.sqrt(D), causal: true, batchInvariant,
        }),
      ];
      const what = `padded decode D=${D} Hq=${Hq} Hkv=${Hkv} seed ${seed}`;
      const realRows = R * Hq * D;

      const r = runBoth(a, specs(padded), program(padded, false));
      expectClose(r.dev.out.subarray(0, realRows), r.cpu.out.subarray(0, realRows), VS_CPU[a], `${what}: real rows vs cpu`);
      const written = new Set([...cachedSlots, ...Array.from(real.slotMapping)]);
      for (const c of ['kc', 'vc']) {
        const row = Hkv * D;
        for (let slot = 0; slot < lim.numBlocks * bs; slot++) {
          const dev = r.dev[c].subarray(slot * row, (slot + 1) * row), cpu = r.cpu[c].subarray(slot * row, (slot + 1) * row);
          if (written.has(slot)) expectClose(dev, cpu, VS_CPU[a], `${what}: ${c} slot ${slot}`);
          else expect({ slot, poisoned: dev.every(Number.isNaN) && cpu.every(Number.isNaN) }).toEqual({ slot, poisoned: true });
        }
      }

      const one = onDevice(a, specs(padded)), alone = onDevice(a, specs(real));
      runSync(program(padded, true)(one));
      runSync(program(real, true)(alone));
      for (const c of ['kc', 'vc']) expectSame(numbers(one[c]), numbers(alone[c]), `${what}: ${c}, padded vs unpadded`);
      expectSame(numbers(one.out).subarray(0, realRows), numbers(alone.out), `${what}: real rows, padded vs unpadded`);
    });
  });
});
