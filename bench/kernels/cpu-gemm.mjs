#!/usr/bin/env node
/**
 * CPU matmul benchmark (the linear op): GFLOP/s at all-MiniLM-L6-v2 and SmolLM2 prefill shapes, GB/s of
 * decode (one row) at SmolLM2-135M shapes, per weight dtype, and a layer's q/k/v and gate/up as one linears
 * command against one linear each, with the CPU kernel tier in use.
 *
 *   node bench/kernels/cpu-gemm.mjs [--threads 2] [--quick] [--out bench/results] [--label note] [--ghz G] [--flops-per-cycle N]
 *
 * Uses the addon at GPUFORMER_ADDON (a development build) or the one node-gyp-build finds. Writes
 * <out>/cpu-gemm-<date>[-<label>].json and .md (with the command, the machine and the assumed peak).
 *
 * Peak: cores × FMA flops per cycle per core × clock. The flops per cycle are those of the core's
 * microarchitecture (--flops-per-cycle; default 16 = AMD Zen/Zen+ with two 128-bit FMA pipes, which a 256-bit
 * FMA occupies both of; Zen 2+ and Intel Haswell+ have 32); the clock is /proc/cpuinfo's "cpu MHz" unless
 * --ghz is given.
 *
 * Decode GEMVs cycle through enough weight copies (≥ 64 MB) that the weights come from DRAM, as they do in a
 * real decode step, rather than from the caches.
 */
import * as fs from 'fs';
import * as os from 'os';
import { usageError } from '../options.mjs';
import { commandLine, cpuFlags, cpuIsa, cpuModel, kernelOptions, loadAddon, random, randomF32, writeResults } from './common.mjs';

const USAGE = `usage: node bench/kernels/cpu-gemm.mjs [--threads 2] [--quick] [--out bench/results] [--label note]
                                    [--ghz GHZ] [--flops-per-cycle N]`;
const opts = kernelOptions(USAGE, { ghz: { type: 'string' }, 'flops-per-cycle': { type: 'string', default: '16' } });
const { threads, quick, label } = opts;
const native = loadAddon(threads);

/** The clock /proc/cpuinfo reports (the nominal one under a hypervisor), else what os.cpus() says. */
function cpuMhz() {
  const text = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  return Number((text.match(/^cpu MHz\s*:\s*(.*)$/m) || [])[1] || os.cpus()[0]?.speed);
}
const cpu = { model: cpuModel(), mhz: cpuMhz(), isa: cpuIsa(native), flags: cpuFlags() };
console.log(`${cpu.model}, kernels ${cpu.isa}; flags ${cpu.flags.join(' ')}`);
const ghz = Number(opts.ghz ?? cpu.mhz / 1000);
const flopsPerCycle = Number(opts['flops-per-cycle']);
if (!(ghz > 0) || !(flopsPerCycle > 0)) usageError('--ghz and --flops-per-cycle must be positive numbers', USAGE);
const peakGflops = threads * flopsPerCycle * ghz;

// ------------------------------------------------------------------------------------------------ tensors
const BLOCK_BYTES = { q8_0: 34, q4_0: 18, q4_1: 20 };
const weightBytes = (dtype, N, K) =>
  dtype in BLOCK_BYTES ? (N * K / 32) * BLOCK_BYTES[dtype] : N * K * (dtype === 'f32' ? 4 : 2);

/**
 * A weight tensor of random values: floats in [-1, 1); quantized blocks with sane f16 scales. Packed where the
 * tier reads a packed layout faster (Tensor.packForLinear), as a CPU engine's loader does.
 */
function weight(dtype, N, K) {
  const packed = (t) => {
    t.packForLinear();
    return t;
  };
  if (dtype === 'f32' || dtype === 'f16' || dtype === 'bf16') {
    return packed(native.Tensor.fromData('cpu', dtype, [N, K], randomF32(N * K), 'weights', 'f32'));
  }
  const bytes = new Uint8Array(weightBytes(dtype, N, K));
  for (let i = 0; i < bytes.length; i++) bytes[i] = (random() * 256) | 0;
  const view = new DataView(bytes.buffer);
  const bb = BLOCK_BYTES[dtype];
  for (let o = 0; o < bytes.length; o += bb) {
    view.setUint16(o, 0x2000, true); // d ≈ 0.0078
    if (dtype === 'q4_1') view.setUint16(o + 2, 0xa000, true); // m ≈ −0.0078
  }
  return packed(native.Tensor.fromData('cpu', dtype, [N, K], bytes, 'weights'));
}

/**
 * Runs `program` (an array of commands) until ≥ minSeconds have passed; returns seconds per command. The
 * program is prepared once, as an engine's are, so the time is the ops' own and not that of reading the
 * commands' JavaScript objects again on every run (2-5 µs per linear command on a Zen 4: SmolLM2's Q4_1
 * q / o GEMV read 8.7 µs that way and 5.8 µs prepared).
 */
function time(program, minSeconds) {
  const prepared = native.prepare(program);
  try {
    native.execSync(prepared); // warm-up (page faults, packing buffers)
    let reps = 0;
    const start = process.hrtime.bigint();
    let elapsed = 0;
    let best = Infinity;
    while (elapsed < minSeconds || reps < 3) {
      const t0 = process.hrtime.bigint();
      native.execSync(prepared);
      const dt = Number(process.hrtime.bigint() - t0) / 1e9 / program.length;
      best = Math.min(best, dt);
      reps++;
      elapsed = Number(process.hrtime.bigint() - start) / 1e9;
    }
    return best; // best of the repetitions: the least disturbed by other processes on a shared machine
  } finally {
    prepared.dispose();
  }
}

// ------------------------------------------------------------------------------------------------ GEMM
const gemmDtypes = quick ? ['f32', 'bf16', 'q4_1'] : ['f32', 'f16', 'bf16', 'q8_0', 'q4_1'];
const gemmShapes = [
  // all-MiniLM-L6-v2: hidden 384, FFN 1536; M = tokens in the batch (256 = 8 sequences of 32, 1024 = 32)
  ...(quick ? [256] : [256, 1024]).flatMap((M) => [
    { M, K: 384, N: 384, what: 'attention q/k/v/o' },
    { M, K: 384, N: 1152, what: 'fused qkv' },
    { M, K: 384, N: 1536, what: 'FFN up' },
    { M, K: 1536, N: 384, what: 'FFN down' },
  ]),
  // SmolLM2-135M prefill of a 128-token prompt: hidden 576, FFN 1536
  { M: 128, K: 576, N: 1536, what: 'SmolLM2 prefill gate/up' },
  { M: 128, K: 1536, N: 576, what: 'SmolLM2 prefill down' },
];

const loadBefore = os.loadavg().map((v) => +v.toFixed(2));
// The f32 FMA rate these threads reach on registers at the kernels' tier: the machine's real peak, whatever
// the clock (the addon's cpuFmaPeak); its clock follows from the lanes (2 FMA pipes assumed).
const fmaPeak = native.cpuFmaPeak(0.5);
const measuredGhz = fmaPeak.gflops / (threads * 2 * 2 * fmaPeak.lanes);
// (AMD Zen 4 runs a 512-bit FMA on its two 256-bit pipes together: one a cycle, so twice that clock.)
const clockNote = `≈ ${measuredGhz.toFixed(2)} GHz with two FMA pipes per core` +
  (fmaPeak.lanes === 16 ? `, ${(2 * measuredGhz).toFixed(2)} GHz with one (16-lane FMAs on AMD Zen 4)` : '');
console.log(`measured FMA peak: ${fmaPeak.gflops.toFixed(1)} GFLOP/s on ${fmaPeak.threads} threads at ${fmaPeak.lanes}-lane FMAs ` +
  `(${clockNote})`);
const gemm = [];
for (const dtype of gemmDtypes) {
  for (const s of gemmShapes) {
    if (dtype !== 'f32' && s.what.startsWith('fused')) continue;
    const x = native.Tensor.fromData('cpu', 'f32', [s.M, s.K], randomF32(s.M * s.K), 'activations');
    const w = weight(dtype, s.N, s.K);
    const out = native.Tensor.empty('cpu', 'f32', [s.M, s.N], 'activations');
    const sec = time([{ op: 'linear', x, w, out }], quick ? 0.3 : 1.0);
    const gflops = (2 * s.M * s.N * s.K) / sec / 1e9;
    gemm.push({ dtype, ...s, ms: +(sec * 1e3).toFixed(3), gflops: +gflops.toFixed(1), fractionOfPeak: +(gflops / peakGflops).toFixed(3),
      fractionOfMeasuredPeak: +(gflops / fmaPeak.gflops).toFixed(3) });
    console.log(`gemm ${dtype.padEnd(5)} M=${s.M} K=${s.K} N=${s.N} (${s.what}): ${gflops.toFixed(1)} GFLOP/s, ` +
      `${(100 * gflops / peakGflops).toFixed(0)}% of ${peakGflops.toFixed(0)}, ${(100 * gflops / fmaPeak.gflops).toFixed(0)}% of the measured FMA peak`);
    for (const t of [x, w, out]) t.dispose();
  }
}

// ------------------------------------------------------------------------------------------------ rows sweep
// GFLOP/s against the number of rows at the FFN-up shape: the same tiles serve every M (a row's result may
// not depend on M), so the curve shows what few rows cost next to many.
const sweepRows = quick ? [1, 8, 48, 256] : [1, 2, 4, 8, 9, 16, 32, 48, 49, 64, 128, 256];
const rowsSweep = [];
for (const dtype of quick ? ['f32'] : ['f32', 'f16', 'q4_1']) {
  const K = 384, N = 1536;
  const w = weight(dtype, N, K);
  for (const M of sweepRows) {
    const x = native.Tensor.fromData('cpu', 'f32', [M, K], randomF32(M * K), 'activations');
    const out = native.Tensor.empty('cpu', 'f32', [M, N], 'activations');
    const sec = time([{ op: 'linear', x, w, out }], quick ? 0.1 : 0.3);
    const gflops = (2 * M * N * K) / sec / 1e9;
    rowsSweep.push({ dtype, M, K, N, us: +(sec * 1e6).toFixed(1), gflops: +gflops.toFixed(1) });
    console.log(`rows ${dtype.padEnd(5)} M=${M} K=${K} N=${N}: ${gflops.toFixed(1)} GFLOP/s`);
    for (const t of [x, out]) t.dispose();
  }
  w.dispose();
}

// ------------------------------------------------------------------------------------------------ GEMV
const gemvDtypes = quick ? ['f32', 'q8_0', 'q4_1'] : ['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1'];
// SmolLM2-135M: hidden 576, 9 heads / 3 KV heads of 64, FFN 1536, vocab 49152 (tied head, Q8_0 in the GGUF)
const gemvShapes = [
  { K: 576, N: 576, what: 'q / o proj', perToken: 60 },
  { K: 576, N: 192, what: 'k / v proj', perToken: 60 },
  { K: 576, N: 1536, what: 'gate / up', perToken: 60 },
  { K: 1536, N: 576, what: 'down', perToken: 30 },
  { K: 576, N: 49152, what: 'LM head', perToken: 1 },
];
const gemv = [];
for (const dtype of gemvDtypes) {
  for (const s of gemvShapes) {
    for (const M of quick ? [1] : [1, 4]) {
      const bytes = weightBytes(dtype, s.N, s.K);
      const copies = Math.max(1, Math.ceil((64 << 20) / bytes));
      const ws = Array.from({ length: copies }, () => weight(dtype, s.N, s.K));
      const x = native.Tensor.fromData('cpu', 'f32', [M, s.K], randomF32(M * s.K), 'activations');
      const out = native.Tensor.empty('cpu', 'f32', [M, s.N], 'activations');
      const program = ws.map((w) => ({ op: 'linear', x, w, out }));
      const sec = time(program, quick ? 0.2 : 0.5);
      gemv.push({
        dtype, M, ...s, us: +(sec * 1e6).toFixed(1), gbPerS: +(bytes / sec / 1e9).toFixed(2),
        gflops: +((2 * M * s.N * s.K) / sec / 1e9).toFixed(2),
      });
      console.log(`gemv ${dtype.padEnd(5)} M=${M} K=${s.K} N=${s.N} (${s.what}): ${(sec * 1e6).toFixed(1)} µs, ${(bytes / sec / 1e9).toFixed(2)} GB/s of weights`);
      for (const t of [...ws, x, out]) t.dispose();
    }
  }
}

// Decode matmul time per token of SmolLM2-135M-Instruct.Q4_1.gguf (Q4_1 layers, Q8_0 head), from the rows above.
const perTokenUs = (layerDtype, headDtype) => gemvShapes.reduce((acc, s) => {
  const row = gemv.find((r) => r.M === 1 && r.K === s.K && r.N === s.N && r.dtype === (s.what === 'LM head' ? headDtype : layerDtype));
  return row ? acc + row.us * s.perToken : NaN;
}, 0);
const decode = {
  q4_1_layers_q8_0_head_us: +perTokenUs('q4_1', 'q8_0').toFixed(0),
  f32_us: +perTokenUs('f32', 'f32').toFixed(0),
};
console.log(`SmolLM2-135M decode matmuls per token: Q4_1 + Q8_0 head ${decode.q4_1_layers_q8_0_head_us} µs, f32 ${decode.f32_us} µs`);

// Grouped projections: a layer's q/k/v and gate/up as one linears command against one linear per weight
// (the same bits), each layer's weights a copy of its own so they stream from DRAM as in a decode step; the
// two programs alternate so that a disturbance hits both alike.
const groupShapes = [
  { Ns: [576, 192, 192], K: 576, what: 'q / k / v' },
  { Ns: [1536, 1536], K: 576, what: 'gate / up' },
];
const grouped = [];
for (const dtype of quick ? ['q4_1'] : ['f32', 'q8_0', 'q4_1']) {
  for (const s of groupShapes) {
    const bytes = s.Ns.reduce((sum, N) => sum + weightBytes(dtype, N, s.K), 0);
    const layers = Array.from({ length: Math.max(1, Math.ceil((64 << 20) / bytes)) }, () => s.Ns.map((N) => weight(dtype, N, s.K)));
    const x = native.Tensor.fromData('cpu', 'f32', [1, s.K], randomF32(s.K), 'activations');
    const outs = s.Ns.map((N) => native.Tensor.empty('cpu', 'f32', [1, N], 'activations'));
    const separate = layers.flatMap((ws) => ws.map((w, i) => ({ op: 'linear', x, w, out: outs[i] })));
    const together = layers.map((ws) => ({ op: 'linears', x, w: ws, out: outs }));
    let separateSec = Infinity, togetherSec = Infinity;
    for (let round = 0; round < 3; round++) {
      separateSec = Math.min(separateSec, time(separate, quick ? 0.1 : 0.3) * separate.length / layers.length);
      togetherSec = Math.min(togetherSec, time(together, quick ? 0.1 : 0.3));
    }
    grouped.push({ dtype, K: s.K, Ns: s.Ns, what: s.what, separateUs: +(separateSec * 1e6).toFixed(1), linearsUs: +(togetherSec * 1e6).toFixed(1) });
    console.log(`grouped ${dtype} ${s.what}: one linear each ${(separateSec * 1e6).toFixed(1)} µs, linears ${(togetherSec * 1e6).toFixed(1)} µs per layer`);
    for (const t of [...layers.flat(), x, ...outs]) t.dispose();
  }
}

// ------------------------------------------------------------------------------------------------ output
const date = new Date().toISOString();
const command = commandLine('cpu-gemm.mjs', opts.argv);
const load = os.loadavg().map((v) => +v.toFixed(2));
// A measurement above the assumed peak means the assumption understates the machine: under a hypervisor
// "cpu MHz" is the nominal clock, not the boost clock the cores run at. The least clock that explains the
// best measurement (at the assumed flops per cycle) is then the better denominator, and the report says so.
// f32 / f16 GEMMs only: bf16 and quantized weights run on dot-product instructions that do more than one FMA's
// work per lane, so they may pass a true f32 FMA peak.
const bestGflops = Math.max(...gemm.filter((r) => r.dtype === 'f32' || r.dtype === 'f16').map((r) => r.gflops));
const impliedGhz = bestGflops / (threads * flopsPerCycle);
const peakNote = bestGflops > peakGflops
  ? `The best f32 GEMM (${bestGflops} GFLOP/s) exceeds this assumed peak, so the cores run faster than the ${ghz.toFixed(2)} GHz ` +
    `/proc/cpuinfo reports (a hypervisor's nominal clock; the boost clock is higher): at ${flopsPerCycle} flops/cycle it implies at ` +
    `least ${impliedGhz.toFixed(2)} GHz, and the "of peak" column overstates the share of the true peak. Pass --ghz with the real clock.`
  : '';
if (peakNote) console.log(peakNote);
const result = {
  bench: 'cpu-gemm', date, command, label, threads, quick, cpu: cpu.model, isa: cpu.isa, cpuFlags: cpu.flags, cores: os.cpus().length, ghz, flopsPerCycle,
  peakGflops, impliedMinGhz: peakNote ? +impliedGhz.toFixed(3) : undefined, peakNote: peakNote || undefined,
  measuredFmaPeak: { ...fmaPeak, gflops: +fmaPeak.gflops.toFixed(1), impliedGhz: +measuredGhz.toFixed(3) },
  loadAverage: { before: loadBefore, after: load }, gemm, rowsSweep, gemv, decode, grouped,
};

const md = [
  `# CPU matmul (linear) — ${date.slice(0, 10)}${label ? ` (${label})` : ''}`,
  '',
  `Command: \`${command}\` · ${threads} threads · ${cpu.model} · load average ${loadBefore.join(' / ')} before, ${load.join(' / ')} after`,
  '',
  `CPU kernels: ${cpu.isa} · CPU flags: ${cpu.flags.join(' ')}`,
  '',
  `Assumed peak: ${threads} cores × ${flopsPerCycle} f32 flops/cycle × ${ghz.toFixed(2)} GHz = ${peakGflops.toFixed(1)} GFLOP/s`,
  '',
  ...(peakNote ? [peakNote, ''] : []),
  `Measured FMA peak (the addon's cpuFmaPeak: independent ${fmaPeak.lanes}-lane FMA chains on registers, every thread): ` +
    `${fmaPeak.gflops.toFixed(1)} GFLOP/s (${clockNote}). bf16 weights ` +
    'run on vdpbf16ps where the CPU has AVX512-BF16 (two multiply-adds per lane and instruction), and quantized weights on ' +
    'int8 dot products (vpdpbusd: four per lane; maddubs + madd without VNNI) with one f32 step per block of 32, so their ' +
    'shares can pass 100 %.',
  '',
  '## GEMM — all-MiniLM-L6-v2 and SmolLM2 prefill shapes',
  '',
  '| weights | M | K | N | layer | ms | GFLOP/s | of assumed peak | of measured FMA peak |',
  '|---|---|---|---|---|---|---|---|---|',
  ...gemm.map((r) => `| ${r.dtype} | ${r.M} | ${r.K} | ${r.N} | ${r.what} | ${r.ms} | ${r.gflops} | ${(100 * r.fractionOfPeak).toFixed(0)}% | ${(100 * r.fractionOfMeasuredPeak).toFixed(0)}% |`),
  '',
  '## Rows sweep — FFN up (K 384, N 1536): the same kernels for every M (native/cpu/linear_kernels.h)',
  '',
  '| weights | M | µs | GFLOP/s |',
  '|---|---|---|---|',
  ...rowsSweep.map((r) => `| ${r.dtype} | ${r.M} | ${r.us} | ${r.gflops} |`),
  '',
  '## GEMV (decode) — SmolLM2-135M shapes, weights streamed from DRAM',
  '',
  '| weights | M | K | N | layer | µs | GB/s (weights) | GFLOP/s |',
  '|---|---|---|---|---|---|---|---|',
  ...gemv.map((r) => `| ${r.dtype} | ${r.M} | ${r.K} | ${r.N} | ${r.what} | ${r.us} | ${r.gbPerS} | ${r.gflops} |`),
  '',
  `Decode matmuls per token (30 layers + head, M = 1): Q4_1 layers + Q8_0 head ${decode.q4_1_layers_q8_0_head_us} µs; f32 ${decode.f32_us} µs.`,
  '',
  '## Grouped projections (decode, M = 1) — one linears command against one linear per weight, weights from DRAM',
  '',
  '| weights | K | N | layer | one linear each, µs | linears, µs |',
  '|---|---|---|---|---|---|',
  ...grouped.map((r) => `| ${r.dtype} | ${r.K} | ${r.Ns.join(' + ')} | ${r.what} | ${r.separateUs} | ${r.linearsUs} |`),
  '',
].join('\n');
writeResults(opts, 'cpu-gemm', date, result, md);
