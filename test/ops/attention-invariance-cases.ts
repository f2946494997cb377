/**
 * Batch invariance of the CPU attention ops (the contract in native/cpu/attention_flash.h): the output of a
 * query row is bit for bit the same however the row reaches the kernel. For each case, the rows of a fused
 * prefill of the whole batch are the reference, and every other way must reproduce them exactly:
 * - each sequence alone through attention();
 * - the whole prompt from the paged cache (paged_attention with every token new; shuffled block tables);
 * - chunked prefill over the cache at chunk sizes 1 (decode steps), 7, 64 and 300, all sequences advancing
 *   together, and a staggered schedule where every sequence has its own chunk size, so decode rows, prefill
 *   chunks and whole prompts share calls (a prefix-cache hit is such a chunk: its prefix is in the cache);
 * - all of it at several thread counts (which change how key ranges are split over tasks).
 * Plain code without jest globals, so that a child process with another kernel tier can run it
 * (attention-invariance.test.ts).
 */
import { DType, Tensor, native } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { normal, rng } from '../helpers/random';

export interface InvarianceCase {
  name: string;
  lens: number[];
  Hq: number;
  Hkv: number;
  D: number;
  causal?: boolean;
  windowLeft?: number;
  alibi?: boolean;
  blockSize?: number;
}

/** Shapes that reach every part of the loop: several key segments (256 keys each) and split blocks, GQA / MQA, a
 * head dim that is not a multiple of 16, tiny heads (llama2.c 260K), window, ALiBi, bidirectional. */
export const CASES: InvarianceCase[] = [
  { name: 'SmolLM2-like GQA 9/3 × 64', lens: [520, 1, 37, 260], Hq: 9, Hkv: 3, D: 64 },
  { name: 'MHA 4 × 32, window 100, ALiBi, block size 5', lens: [280, 90], Hq: 4, Hkv: 4, D: 32, windowLeft: 100, alibi: true, blockSize: 5 },
  { name: 'MQA 8/1 × 128', lens: [300, 5], Hq: 8, Hkv: 1, D: 128 },
  { name: 'GQA 8/4 × 8 (llama2.c 260K)', lens: [129, 3, 64], Hq: 8, Hkv: 4, D: 8 },
  { name: 'bidirectional 2 × 40', lens: [300, 17], Hq: 2, Hkv: 2, D: 40, causal: false },
];

const CHUNKS = [1, 7, 64, 300];

interface Made { tensors: Tensor[] }

function make(m: Made, dtype: DType, shape: number[], data: ArrayBufferView): Tensor {
  const t = Tensor.fromData('cpu', dtype, shape, data, 'other');
  m.tensors.push(t);
  return t;
}

function empty(m: Made, shape: number[]): Tensor {
  const t = Tensor.empty('cpu', 'f32', shape, 'other');
  m.tensors.push(t);
  t.write(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(NaN));
  return t;
}

const i32 = (m: Made, values: ArrayLike<number>) => make(m, 'i32', [values.length], Int32Array.from(values));

/** Elements whose bits differ (NaN in `got` always counts). */
function differing(got: Float32Array, want: Float32Array): number {
  const a = new Uint32Array(got.buffer, got.byteOffset, got.length), b = new Uint32Array(want.buffer, want.byteOffset, want.length);
  let n = 0;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i] || Number.isNaN(got[i])) n++;
  return n;
}

/** A case's inputs: packed q, k, v of all tokens and the paged cache holding every key. */
function setup(m: Made, c: InvarianceCase, seed: number) {
  const { Hq, Hkv, D } = c;
  const T = c.lens.reduce((a, b) => a + b, 0);
  const start = c.lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0]);
  const q = normal(T * Hq * D, seed, 1.5), k = normal(T * Hkv * D, seed + 1, 1.5), v = normal(T * Hkv * D, seed + 2);
  const bs = c.blockSize ?? 16;
  const need = c.lens.map((L) => Math.ceil(L / bs));
  const width = Math.max(...need);
  const numBlocks = need.reduce((a, n) => a + n, 0);
  const r = rng(seed + 3);
  const free = Array.from({ length: numBlocks }, (_, i) => i);
  for (let i = free.length - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    [free[i], free[j]] = [free[j], free[i]];
  }
  const tables = new Int32Array(c.lens.length * width);
  need.forEach((n, b) => { for (let i = 0; i < n; i++) tables[b * width + i] = free.pop()!; });
  const slots: number[] = [];
  c.lens.forEach((L, b) => { for (let i = 0; i < L; i++) slots.push(tables[b * width + Math.floor(i / bs)] * bs + (i % bs)); });
  const kCache = empty(m, [numBlocks, bs, Hkv, D]), vCache = empty(m, [numBlocks, bs, Hkv, D]);
  runSync([ops.kvCacheWrite({ k: make(m, 'f32', [T, Hkv, D], k), v: make(m, 'f32', [T, Hkv, D], v), kCache, vCache,
    slotMapping: i32(m, slots) })]);
  const slopes = c.alibi ? make(m, 'f32', [Hq], Float32Array.from({ length: Hq }, (_, h) => 2 ** (-8 * (h + 1) / Hq))) : null;
  const params = { scale: 1 / Math.sqrt(D), causal: c.causal ?? true, windowLeft: c.windowLeft ?? -1, alibiSlopes: slopes };
  return { T, start, q, k, v, kCache, vCache, tables, width, params };
}

type Setup = ReturnType<typeof setup>;

/** attention() over the given sequences packed together; returns their rows in the order given. */
function fused(m: Made, c: InvarianceCase, s: Setup, seqs: number[]): Float32Array {
  const row = c.Hq * c.D, krow = c.Hkv * c.D;
  const lens = seqs.map((b) => c.lens[b]);
  const T = lens.reduce((a, n) => a + n, 0);
  const q = new Float32Array(T * row), k = new Float32Array(T * krow), v = new Float32Array(T * krow);
  let off = 0;
  for (const b of seqs) {
    q.set(s.q.subarray(s.start[b] * row, s.start[b + 1] * row), off * row);
    k.set(s.k.subarray(s.start[b] * krow, s.start[b + 1] * krow), off * krow);
    v.set(s.v.subarray(s.start[b] * krow, s.start[b + 1] * krow), off * krow);
    off += c.lens[b];
  }
  const out = empty(m, [T, c.Hq, c.D]);
  runSync([ops.attention({ q: make(m, 'f32', [T, c.Hq, c.D], q), k: make(m, 'f32', [T, c.Hkv, c.D], k),
    v: make(m, 'f32', [T, c.Hkv, c.D], v), cuSeqlens: i32(m, lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0])),
    maxSeqlen: Math.max(...lens), out, ...s.params })]);
  return new Float32Array(out.read());
}

/**
 * Every row computed from the paged cache, step after step: in each step sequence b contributes its next
 * chunk[b] tokens (fewer at its end); returns all rows in packed order.
 */
function chunked(m: Made, c: InvarianceCase, s: Setup, chunk: number[]): Float32Array {
  const row = c.Hq * c.D;
  const result = new Float32Array(s.T * row).fill(NaN);
  const done = c.lens.map(() => 0);
  while (done.some((n, b) => n < c.lens[b])) {
    const batch = c.lens.map((L, b) => b).filter((b) => done[b] < c.lens[b]);
    const news = batch.map((b) => Math.min(chunk[b], c.lens[b] - done[b]));
    const Tq = news.reduce((a, n) => a + n, 0);
    const q = new Float32Array(Tq * row);
    let off = 0;
    batch.forEach((b, i) => {
      q.set(s.q.subarray((s.start[b] + done[b]) * row, (s.start[b] + done[b] + news[i]) * row), off * row);
      off += news[i];
    });
    const tables = new Int32Array(batch.length * s.width);
    batch.forEach((b, i) => tables.set(s.tables.subarray(b * s.width, (b + 1) * s.width), i * s.width));
    const ctx = batch.map((b, i) => done[b] + news[i]);
    const out = empty(m, [Tq, c.Hq, c.D]);
    runSync([ops.pagedAttention({ q: make(m, 'f32', [Tq, c.Hq, c.D], q), kCache: s.kCache, vCache: s.vCache,
      cuSeqlensQ: i32(m, news.reduce((a, n) => [...a, a[a.length - 1] + n], [0])), contextLens: i32(m, ctx),
      blockTables: make(m, 'i32', [batch.length, s.width], tables), maxContextLen: Math.max(...ctx), out, ...s.params })]);
    const got = new Float32Array(out.read());
    off = 0;
    batch.forEach((b, i) => {
      result.set(got.subarray(off * row, (off + news[i]) * row), (s.start[b] + done[b]) * row);
      off += news[i];
      done[b] += news[i];
    });
  }
  return result;
}

/**
 * Runs every case every way at each thread count; returns one line per way whose rows differ from the
 * reference (the fused prefill of the whole batch at the first thread count), so [] means invariant.
 */
export function attentionInvariance(arg: { seed: number; threads: number[] }): string[] {
  const failures: string[] = [];
  const references = new Map<string, Float32Array>(); // by case: the fused whole batch at the first thread count
  const initial = native.numThreads();
  try {
    for (const threads of arg.threads) {
      native.setNumThreads(threads);
      CASES.forEach((c, ci) => {
        const m: Made = { tensors: [] };
        try {
          const s = setup(m, c, arg.seed + 10 * ci);
          const row = c.Hq * c.D;
          const all = c.lens.map((_, b) => b);
          const whole = fused(m, c, s, all);
          if (!references.has(c.name)) {
            if (whole.some(Number.isNaN)) failures.push(`${c.name}: the fused prefill left rows unwritten (NaN)`);
            references.set(c.name, whole);
          }
          const ways: Array<[string, Float32Array]> = [['attention(), whole batch', whole]];
          const alone = new Float32Array(s.T * row);
          all.forEach((b) => alone.set(fused(m, c, s, [b]), s.start[b] * row));
          ways.push(['attention(), each sequence alone', alone]);
          const reversed = fused(m, c, s, [...all].reverse());
          const unreversed = new Float32Array(s.T * row);
          let off = 0;
          [...all].reverse().forEach((b) => {
            unreversed.set(reversed.subarray(off * row, (off + c.lens[b]) * row), s.start[b] * row);
            off += c.lens[b];
          });
          ways.push(['attention(), sequences in reverse order', unreversed]);
          ways.push(['paged_attention(), whole prompts', chunked(m, c, s, c.lens)]);
          if (c.causal ?? true) { // a chunk of a bidirectional sequence sees fewer keys than its prompt: no identity
            for (const n of CHUNKS) ways.push([`paged_attention(), chunks of ${n}`, chunked(m, c, s, c.lens.map(() => n))]);
            ways.push(['paged_attention(), staggered chunk sizes', chunked(m, c, s, c.lens.map((_, b) => CHUNKS[b % CHUNKS.length]))]);
          }
          const want = references.get(c.name)!;
          for (const [way, got] of ways) {
            const n = differing(got, want);
            if (n > 0) failures.push(`${c.name}, ${threads} thread(s): ${way}: ${n} of ${got.length} elements differ`);
          }
        } finally {
          for (const t of m.tensors) t.dispose();
        }
      });
    }
  } finally {
    native.setNumThreads(initial);
  }
  return failures;
}
