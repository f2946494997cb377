/**
 * Cases for the CPU ops' tiered kernels, run in child processes started with GPUFORMER_CPU_ISA
 * (portable-kernels.test.ts): the attention tiles, softmax and the activations have a variant per CPU tier,
 * and a jest worker only ever loads one of them. Plain code, no jest globals.
 */
import { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { relError } from '../helpers/compare';
import { normal } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, f32t, i32t, out as empty, tensor } from './tensors';

export interface CaseResult { name: string; err: number }

const read = (t: Tensor) => new Float32Array(t.read());

function attentionCase(seed: number, lens: number[], Hq: number, Hkv: number, D: number, causal: boolean,
  windowLeft: number, alibi: boolean): CaseResult {
  const T = lens.reduce((a, b) => a + b, 0);
  const cu = lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0]);
  const q = normal(T * Hq * D, seed), k = normal(T * Hkv * D, seed + 1), v = normal(T * Hkv * D, seed + 2);
  const slopes = alibi ? Float32Array.from({ length: Hq }, (_, h) => 2 ** (-8 * (h + 1) / Hq)) : null;
  const out = empty([T, Hq, D]);
  const scale = 1 / Math.sqrt(D);
  runSync([ops.attention({ q: f32t([T, Hq, D], q), k: f32t([T, Hkv, D], k), v: f32t([T, Hkv, D], v), cuSeqlens: i32t(cu),
    maxSeqlen: Math.max(...lens), out, scale, causal, windowLeft, alibiSlopes: slopes ? f32t([Hq], slopes) : null })]);
  const want = ref.attentionPacked({ Hq, Hkv, D, scale, causal, windowLeft, slopes }, q, k, v, cu);
  return { name: `attention lens=${lens} Hq=${Hq} Hkv=${Hkv} D=${D} causal=${causal} window=${windowLeft} alibi=${alibi}`, err: relError(read(out), want) };
}

/** Decode of one query over ctx keys stored in a paged cache (block size 5, reversed block order). */
function pagedDecodeCase(seed: number, ctx: number, Hq: number, Hkv: number, D: number): CaseResult {
  const bs = 5, blocks = Math.ceil(ctx / bs);
  const k = normal(ctx * Hkv * D, seed), v = normal(ctx * Hkv * D, seed + 1), q = normal(Hq * D, seed + 2);
  const table = Array.from({ length: blocks }, (_, i) => blocks - 1 - i);
  const kc = empty([blocks, bs, Hkv, D]), vc = empty([blocks, bs, Hkv, D]);
  const slots = Array.from({ length: ctx }, (_, i) => table[Math.floor(i / bs)] * bs + (i % bs));
  runSync([ops.kvCacheWrite({ k: f32t([ctx, Hkv, D], k), v: f32t([ctx, Hkv, D], v), kCache: kc, vCache: vc, slotMapping: i32t(slots) })]);
  const out = empty([1, Hq, D]);
  const scale = 1 / Math.sqrt(D);
  runSync([ops.pagedAttention({ q: f32t([1, Hq, D], q), kCache: kc, vCache: vc, cuSeqlensQ: i32t([0, 1]), contextLens: i32t([ctx]),
    blockTables: tensor('i32', [1, blocks], Int32Array.from(table)), maxContextLen: ctx, out, scale, causal: true })]);
  const want = ref.attentionSeq({ Hq, Hkv, D, scale, causal: true, windowLeft: -1, slopes: null }, q, 1, ctx - 1, k, v, ctx);
  return { name: `paged decode ctx=${ctx} Hq=${Hq} Hkv=${Hkv} D=${D}`, err: relError(read(out), want) };
}

function pointwiseCases(seed: number): CaseResult[] {
  const n = 1037;
  const x = normal(n, seed, 3), u = normal(n, seed + 1);
  const run = (cmd: (o: Tensor) => ReturnType<typeof ops.silu>) => {
    const o = empty([n]);
    runSync([cmd(o)]);
    return read(o);
  };
  const xt = f32t([n], x);
  const sm = empty([11, 97]);
  const xs = normal(11 * 97, seed + 2, 4);
  runSync([ops.softmax({ x: f32t([11, 97], xs), out: sm })]);
  const swiglu = empty([1, n]);
  runSync([ops.swiglu({ gate: f32t([1, n], x), up: f32t([1, n], u), out: swiglu })]);
  return [
    { name: 'gelu erf', err: relError(run((o) => ops.gelu({ x: xt, out: o })), Array.from(x, ref.geluErf)) },
    { name: 'gelu tanh', err: relError(run((o) => ops.gelu({ x: xt, out: o, tanh: true })), Array.from(x, ref.geluTanh)) },
    { name: 'silu', err: relError(run((o) => ops.silu({ x: xt, out: o })), Array.from(x, ref.silu)) },
    { name: 'tanh', err: relError(run((o) => ops.tanh({ x: xt, out: o })), Array.from(x, Math.tanh)) },
    { name: 'swiglu', err: relError(read(swiglu), Array.from(x, (g, i) => ref.silu(g) * u[i])) },
    { name: 'softmax', err: relError(read(sm), ref.softmaxRows(xs, 11, 97)) },
  ];
}

/** Every case; the tensors are freed at the end (the memory totals other tests check are the process's). */
export function runCases(seed: number): CaseResult[] {
  try {
    return [
      attentionCase(seed, [17, 70], 4, 2, 64, true, -1, false),
      attentionCase(seed + 10, [33], 2, 1, 80, false, -1, true),
      attentionCase(seed + 20, [100], 4, 4, 32, true, 20, false),
      attentionCase(seed + 30, [9], 2, 2, 256, true, -1, false),
      pagedDecodeCase(seed + 40, 700, 6, 2, 96),
      pagedDecodeCase(seed + 50, 33, 8, 1, 128),
      ...pointwiseCases(seed + 60),
    ];
  } finally {
    disposeAll();
  }
}
