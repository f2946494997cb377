#!/usr/bin/env node
/**
 * CPU attention benchmark: prefill tokens/s and GFLOP/s of the fused (flash) attention op at MiniLM-like
 * (12 heads × 32, bidirectional) and Llama-like (9 query heads × 64, 3 kv heads, causal) shapes, and paged
 * decode tokens/s and GB/s (keys + values read from the cache) at batch 1/8/32 and context 512/4096.
 *
 *   node bench/kernels/cpu-attention.mjs [--threads 2] [--quick] [--out bench/results] [--label note]
 *
 * Uses the addon at GPUFORMER_ADDON (a development build) or the one node-gyp-build finds. Writes
 * <out>/cpu-attention-<date>[-<label>].json and .md with the command and the machine.
 *
 * Each case runs once to warm up, then repeats until 1 s (0.3 s with --quick) or 20 runs; the median wall
 * time is reported, with the process CPU time per run beside it: on a shared machine the CPU time shows how
 * much of the wall time the threads actually ran. FLOPs count the visible (query, key) pairs exactly
 * (causal: S(S+1)/2 per head), 4·D per pair (q·k and p·v).
 */
import * as os from 'os';
import { commandLine, cpuModel, kernelOptions, loadAddon, random, randomF32, timeProgram, writeResults } from './common.mjs';

const USAGE = 'usage: node bench/kernels/cpu-attention.mjs [--threads 2] [--quick] [--out bench/results] [--label note]';
const opts = kernelOptions(USAGE);
const { threads, quick, label } = opts;
const minSeconds = quick ? 0.3 : 1.0;
const maxRuns = 20;
const native = loadAddon(threads);

// ------------------------------------------------------------------------------------------------ helpers
function tensorF32(shape) {
  return native.Tensor.fromData('cpu', 'f32', shape, randomF32(shape.reduce((a, b) => a * b, 1)), 'activations');
}
const i32 = (values) => native.Tensor.fromData('cpu', 'i32', [values.length], Int32Array.from(values), 'other');

const time = (program) => timeProgram(native, program, { minSeconds, maxRuns });

// ------------------------------------------------------------------------------------------------ prefill
function prefill({ name, batch, seq, Hq, Hkv, D, causal }) {
  const T = batch * seq;
  const q = tensorF32([T, Hq, D]), k = tensorF32([T, Hkv, D]), v = tensorF32([T, Hkv, D]);
  const out = native.Tensor.empty('cpu', 'f32', [T, Hq, D], 'activations');
  const cu = i32(Array.from({ length: batch + 1 }, (_, b) => b * seq));
  const t = time([{ op: 'attention', q, k, v, cuSeqlens: cu, maxSeqlen: seq, out, scale: 1 / Math.sqrt(D), causal }]);
  const pairs = batch * (causal ? (seq * (seq + 1)) / 2 : seq * seq);
  const flops = pairs * Hq * 4 * D;
  [q, k, v, out, cu].forEach((x) => x.dispose());
  return {
    name, batch, seq, Hq, Hkv, D, causal, ms: t.wall * 1e3, cpuMs: t.cpu * 1e3, runs: t.runs,
    tokensPerS: T / t.wall, gflops: flops / t.wall / 1e9, gflopsPerCpuS: flops / t.cpu / 1e9,
  };
}

// ------------------------------------------------------------------------------------------------ decode
function decode({ name, batch, ctx, Hq, Hkv, D, blockSize = 16 }) {
  const blocksPer = Math.ceil(ctx / blockSize);
  const numBlocks = batch * blocksPer;
  const kc = tensorF32([numBlocks, blockSize, Hkv, D]), vc = tensorF32([numBlocks, blockSize, Hkv, D]);
  // Shuffled block tables, as a long-running cache hands them out.
  const ids = Array.from({ length: numBlocks }, (_, i) => i);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [ids[i], ids[j]] = [ids[j], ids[i]];
  }
  const tables = native.Tensor.fromData('cpu', 'i32', [batch, blocksPer], Int32Array.from(ids), 'other');
  const q = tensorF32([batch, Hq, D]);
  const out = native.Tensor.empty('cpu', 'f32', [batch, Hq, D], 'activations');
  const cuq = i32(Array.from({ length: batch + 1 }, (_, b) => b));
  const lens = i32(new Array(batch).fill(ctx));
  const t = time([{
    op: 'paged_attention', q, kCache: kc, vCache: vc, cuSeqlensQ: cuq, contextLens: lens, blockTables: tables,
    maxContextLen: ctx, out, scale: 1 / Math.sqrt(D), causal: true,
  }]);
  const bytes = batch * ctx * Hkv * D * 4 * 2;
  [kc, vc, tables, q, out, cuq, lens].forEach((x) => x.dispose());
  return {
    name, batch, ctx, Hq, Hkv, D, blockSize, ms: t.wall * 1e3, cpuMs: t.cpu * 1e3, runs: t.runs,
    tokensPerS: batch / t.wall, gbPerS: bytes / t.wall / 1e9, gbPerCpuS: bytes / t.cpu / 1e9,
  };
}

const miniLM = { Hq: 12, Hkv: 12, D: 32, causal: false };
const llama = { Hq: 9, Hkv: 3, D: 64 };
const prefillCases = [
  { name: 'MiniLM-like', batch: 8, seq: 128, ...miniLM },
  { name: 'MiniLM-like', batch: 4, seq: 256, ...miniLM },
  { name: 'Llama-like', batch: 1, seq: 512, ...llama, causal: true },
  { name: 'Llama-like', batch: 1, seq: 2048, ...llama, causal: true },
];
const decodeCases = [];
for (const ctx of [512, 4096]) for (const batch of [1, 8, 32]) decodeCases.push({ name: 'Llama-like', batch, ctx, ...llama });

const loadBefore = os.loadavg();
const prefillResults = prefillCases.map((c) => {
  const r = prefill(c);
  console.log(`prefill ${r.name} B=${r.batch} S=${r.seq}: ${r.ms.toFixed(2)} ms, ${Math.round(r.tokensPerS)} tok/s, ${r.gflops.toFixed(1)} GFLOP/s`);
  return r;
});
const decodeResults = decodeCases.map((c) => {
  const r = decode(c);
  console.log(`decode ${r.name} B=${r.batch} ctx=${r.ctx}: ${r.ms.toFixed(3)} ms, ${Math.round(r.tokensPerS)} tok/s, ${r.gbPerS.toFixed(2)} GB/s`);
  return r;
});

// ------------------------------------------------------------------------------------------------ report
const command = commandLine('cpu-attention.mjs', opts.argv);
const date = new Date().toISOString();
const report = {
  bench: 'cpu-attention', date, command, label, threads, quick,
  machine: { cpu: cpuModel(), cores: os.cpus().length, loadavgBefore: loadBefore, loadavgAfter: os.loadavg() },
  prefill: prefillResults, decode: decodeResults,
};
const f = (x, d = 1) => x.toFixed(d);
const md = [
  `# CPU attention — ${date.slice(0, 10)}${label ? ` (${label})` : ''}`,
  '',
  `Command: \`${command}\``,
  '',
  `Machine: ${cpuModel()}, ${os.cpus().length} logical cores, ${threads} threads; load average ${loadBefore.map((x) => f(x, 2)).join(' / ')} before,`
    + ` ${os.loadavg().map((x) => f(x, 2)).join(' / ')} after. f32 throughout. Median wall time; "CPU ms" is the process CPU time per run.`,
  '',
  '## Prefill (fused flash attention, packed varlen)',
  '',
  '| shape | batch × seq | heads (q/kv) × D | causal | ms | CPU ms | tokens/s | GFLOP/s | GFLOP per CPU-s |',
  '|---|---|---|---|---:|---:|---:|---:|---:|',
  ...prefillResults.map((r) => `| ${r.name} | ${r.batch} × ${r.seq} | ${r.Hq}/${r.Hkv} × ${r.D} | ${r.causal ? 'yes' : 'no'} | ${f(r.ms, 2)} | ${f(r.cpuMs, 2)} | ${Math.round(r.tokensPerS)} | ${f(r.gflops)} | ${f(r.gflopsPerCpuS)} |`),
  '',
  '## Paged decode (one query per sequence, block size 16, shuffled block tables)',
  '',
  '| shape | batch | context | heads (q/kv) × D | ms | CPU ms | tokens/s | GB/s (K+V read) | GB per CPU-s |',
  '|---|---:|---:|---|---:|---:|---:|---:|---:|',
  ...decodeResults.map((r) => `| ${r.name} | ${r.batch} | ${r.ctx} | ${r.Hq}/${r.Hkv} × ${r.D} | ${f(r.ms, 3)} | ${f(r.cpuMs, 3)} | ${Math.round(r.tokensPerS)} | ${f(r.gbPerS, 2)} | ${f(r.gbPerCpuS, 2)} |`),
  '',
];
writeResults(opts, 'cpu-attention', date, report, md.join('\n'));
