#!/usr/bin/env node
/**
 * CPU sampling benchmark: time per row of the `sample` op (temperature, min-p, top-k, top-p; one row per
 * thread task) at SmolLM2's vocabulary (49,152) and Llama 3's (128,256), one row and a batch of 8.
 *
 *   node bench/kernels/cpu-sampling.mjs [--threads 2] [--quick] [--out bench/results] [--label note]
 *
 * Uses the addon at GPUFORMER_ADDON (a development build) or the one node-gyp-build finds. Writes
 * <out>/cpu-sampling-<date>[-<label>].json and .md with the command, the machine, its CPU flags and load.
 *
 * The logits are seeded random rows of two shapes: "flat" (normal, sd 3: a nucleus of thousands of tokens
 * at top-p 0.9, the costly case) and "peaked" (normal, sd 1.5, plus 20 tokens 6-10 above the rest: tens of
 * tokens, as a confident model gives). Each case runs once to warm up, then repeats until 1 s (0.3 s with
 * --quick) or 50 runs; the median wall time per row is reported with the process CPU time beside it.
 */
import * as os from 'os';
import { commandLine, cpuFlags, cpuIsa, cpuModel, kernelOptions, loadAddon, random, timeProgram, writeResults } from './common.mjs';

const USAGE = 'usage: node bench/kernels/cpu-sampling.mjs [--threads 2] [--quick] [--out bench/results] [--label note]';
const opts = kernelOptions(USAGE);
const { threads, quick, label } = opts;
const native = loadAddon(threads);

/** n normal deviates with standard deviation sd (Box-Muller over the seeded generator). */
function normal(n, sd) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = sd * Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return a;
}

const SHAPES = {
  flat: (V) => normal(V, 3),
  peaked: (V) => {
    const x = normal(V, 1.5);
    for (let j = 0; j < 20; j++) x[Math.floor(random() * V)] += 6 + 4 * random();
    return x;
  },
};

/** Tokens the sampler may draw from (after min-p, top-k, top-p), from the row's float64 weights. */
function supportSize(row, { T, topK, topP, minP }) {
  let m = -Infinity;
  for (const v of row) m = Math.max(m, v);
  const w = Array.from(row, (v) => Math.exp((v - m) / T)).map((x) => (x < Math.min(minP, 1) ? 0 : x)).sort((a, b) => b - a);
  const k = topK <= 0 || topK >= w.length ? w.length : topK;
  let mass = 0;
  for (let i = 0; i < k; i++) mass += w[i];
  let cum = 0;
  let keep = 0;
  while (keep < k && (topP >= 1 ? w[keep] > 0 : cum < topP * mass)) cum += w[keep++];
  return keep;
}

function run({ V, B, shape, T, topK, topP, minP }) {
  const rows = Array.from({ length: B }, () => SHAPES[shape](V));
  const logits = native.Tensor.fromData('cpu', 'f32', [B, V], Float32Array.from(rows.flatMap((r) => Array.from(r))), 'activations');
  const f32 = (v) => native.Tensor.fromData('cpu', 'f32', [B], new Float32Array(B).fill(v), 'other');
  const i32 = (v) => native.Tensor.fromData('cpu', 'i32', [B], new Int32Array(B).fill(v), 'other');
  const tensors = {
    logits, temperature: f32(T), topK: i32(topK), topP: f32(topP), minP: f32(minP),
    seeds: native.Tensor.fromData('cpu', 'i64', [B], BigInt64Array.from({ length: B }, (_, b) => BigInt(b + 1)), 'other'),
    steps: i32(0), out: native.Tensor.empty('cpu', 'i32', [B], 'other'),
  };
  const t = timeProgram(native, [{ op: 'sample', ...tensors }], { minSeconds: quick ? 0.3 : 1.0, maxRuns: 50 });
  Object.values(tensors).forEach((x) => x.dispose());
  return { V, B, shape, T, topK, topP, minP, support: supportSize(rows[0], { T, topK, topP, minP }), msPerRow: (t.wall * 1e3) / B, cpuMsPerRow: (t.cpu * 1e3) / B, runs: t.runs };
}

const settings = [
  { T: 0.7, topK: 0, topP: 0.9, minP: 0 },
  { T: 1.0, topK: 0, topP: 0.95, minP: 0 },
  { T: 0.8, topK: 50, topP: 0.9, minP: 0 },
  { T: 1.0, topK: 0, topP: 1, minP: 0.05 },
  { T: 1.0, topK: 0, topP: 1, minP: 0 },
];
const cases = [];
for (const V of quick ? [49152] : [49152, 128256]) {
  for (const B of [1, 8]) for (const shape of Object.keys(SHAPES)) for (const s of settings) cases.push({ V, B, shape, ...s });
}

const loadBefore = os.loadavg();
const results = cases.map((c) => {
  const r = run(c);
  console.log(`V=${r.V} B=${r.B} ${r.shape} T=${r.T} top-k ${r.topK} top-p ${r.topP} min-p ${r.minP}: ${r.msPerRow.toFixed(3)} ms/row ` +
    `(CPU ${r.cpuMsPerRow.toFixed(3)}), ${r.support} tokens kept`);
  return r;
});

const command = commandLine('cpu-sampling.mjs', opts.argv);
const date = new Date().toISOString();
const machine = { cpu: cpuModel(), cores: os.cpus().length, flags: cpuFlags(), isa: cpuIsa(native), loadavgBefore: loadBefore, loadavgAfter: os.loadavg() };
const f = (x, d = 3) => x.toFixed(d);
const md = [
  `# CPU sampling — ${date.slice(0, 10)}${label ? ` (${label})` : ''}`,
  '',
  `Command: \`${command}\``,
  '',
  `Machine: ${machine.cpu}, ${machine.cores} logical cores, ${threads} threads, flags ${machine.flags.join(' ')}; load average`
    + ` ${loadBefore.map((x) => f(x, 2)).join(' / ')} before, ${os.loadavg().map((x) => f(x, 2)).join(' / ')} after. f32 logits.`
    + ' Median wall time per row; "CPU ms" is the process CPU time per row.',
  '',
  '| vocabulary | rows | logits | T | top-k | top-p | min-p | tokens kept | ms/row | CPU ms/row |',
  '|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|',
  ...results.map((r) => `| ${r.V} | ${r.B} | ${r.shape} | ${r.T} | ${r.topK || '—'} | ${r.topP < 1 ? r.topP : '—'} | ${r.minP || '—'} | ${r.support} | ${f(r.msPerRow)} | ${f(r.cpuMsPerRow)} |`),
  '',
];
writeResults(opts, 'cpu-sampling', date, { bench: 'cpu-sampling', date, command, label, threads, quick, machine, results }, md.join('\n'));
