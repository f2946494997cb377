#!/usr/bin/env node
/**
 * CUDA kernel benchmark: the device's own ceilings first (device-to-device copy bandwidth through the `copy`
 * op, and the f16 / bf16 GEMM rate of the `linear` op at 8192³), then
 *   - fused prefill attention TFLOP/s (f16 and bf16; sequence 512…8192; head dim 64 and 128; causal and not),
 *     beside PyTorch's scaled_dot_product_attention on the same shapes (bench/peers/torch_sdpa.py) when python3
 *     has torch;
 *   - paged decode attention: K+V bytes read per second as a fraction of the copy bandwidth (Llama-3-8B heads,
 *     32 query / 8 key-value heads × 128, f16, block size 16, shuffled block tables; batch 1…128, context
 *     512…32768);
 *   - embedding lookup: bytes read and written per second as a fraction of the copy bandwidth (Llama-3 tables,
 *     128256 rows of 4096 and 2048 f16, distinct random rows per call);
 *   - gemv: the decode matmul (the `linear` op with M = 1, 4 and 16 rows) at every weight shape of Llama-2-7B and
 *     Llama-3.2-1B, weights f16 / bf16 / GGUF Q8_0 / Q4_0 / Q4_1: weight bytes read per second as a fraction of the
 *     copy bandwidth, and the matmul time of one decode step (every layer's matrices and the LM head) beside its
 *     floor (those weight bytes ÷ the copy bandwidth).
 *
 *   node bench/kernels/cuda-kernels.mjs [--device cuda:0] [--quick] [--only attention,decode,embedding,gemv]
 *     [--dtypes f16,bf16] [--min-ms 25] [--repeats 11] [--no-torch] [--python python3] [--dry-run]
 *     [--out bench/results] [--label note]
 *
 * Writes <out>/cuda-kernels-<date>[-<label>].json and .md with the command, the device and the goals of the
 * issue judged on this run. --dry-run runs every code path on the CPU with f32 and tiny shapes (a check of the
 * script on a machine without a GPU; its numbers mean nothing) and writes into the system's temp folder unless
 * --out is given.
 *
 * Timing (bench/kernels/device-timing.mjs): a program repeats one command until it runs ≥ --min-ms, host
 * clock from the end of parsing to the drained stream; median of --repeats programs. Small inputs rotate
 * among several input sets covering ≥ 256 MiB, so that repeated runs read device memory, not the L2 cache.
 * Bytes of the copy count read + written (the convention the bandwidth fractions use). Attention FLOPs count
 * the visible (query, key) pairs exactly (causal: S(S+1)/2 per head), 4·D per pair, for both engines.
 */
import { execFileSync, spawn } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { commandLine, kernelOptions, loadAddon, random, randomF32, root, writeResults } from './common.mjs';
import { positiveInt, usageError } from '../options.mjs';
import { fillRepeating, nonFinite, poison, QUANT_BLOCK_BYTES, rotationSets, syncOverhead, timeCommands } from './device-timing.mjs';

const USAGE = `usage: node bench/kernels/cuda-kernels.mjs [--device cuda:0] [--quick] [--only attention,decode,embedding,gemv]
    [--dtypes f16,bf16] [--min-ms 25] [--repeats 11] [--no-torch] [--python python3] [--dry-run]
    [--out bench/results] [--label note] [--threads 2]
  --dry-run   every code path on the CPU in f32 at tiny shapes (no GPU needed; the numbers mean nothing)
  --no-torch  skip PyTorch's scaled_dot_product_attention (bench/peers/torch_sdpa.py)`;

const SECTIONS = ['attention', 'decode', 'embedding', 'gemv'];
const ATTENTION_DTYPES = ['f16', 'bf16'];

const opts = kernelOptions(USAGE, {
  device: { type: 'string', default: 'cuda:0' },
  only: { type: 'string', default: SECTIONS.join(',') },
  dtypes: { type: 'string', default: ATTENTION_DTYPES.join(',') },
  'min-ms': { type: 'string', default: '25' },
  repeats: { type: 'string', default: '11' },
  'no-torch': { type: 'boolean', default: false },
  python: { type: 'string', default: process.env.PYTHON ?? 'python3' },
  'dry-run': { type: 'boolean', default: false },
});

const listOption = (name, value, allowed) => {
  const items = value.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = items.filter((x) => !allowed.includes(x));
  if (bad.length || items.length === 0) usageError(`--${name} takes a comma list of ${allowed.join(', ')}; got ${value}`, USAGE);
  return items;
};
const dryRun = opts['dry-run'];
const quick = opts.quick;
const sections = listOption('only', opts.only, SECTIONS);
const attentionDtypes = dryRun ? ['f32'] : listOption('dtypes', opts.dtypes, ATTENTION_DTYPES);
const minMs = Number(opts['min-ms']) * (quick ? 0.4 : 1);
const repeatsAsked = positiveInt(opts, 'repeats', 11, USAGE);
const repeats = quick ? Math.min(5, repeatsAsked) : repeatsAsked;
if (!(minMs > 0)) usageError(`--min-ms must be a positive number, got ${opts['min-ms']}`, USAGE);
if (repeats < 3) usageError(`--repeats must be at least 3 (a median of fewer says little), got ${opts.repeats}`, USAGE);
if (!dryRun && !/^cuda:\d+$/.test(opts.device)) usageError(`--device must be cuda:N, got ${opts.device}`, USAGE);
const device = dryRun ? 'cpu' : opts.device;
// a dry run writes where it harms nothing unless told otherwise
const outDir = dryRun && !opts.argv.some((a) => a === '--out' || a.startsWith('--out='))
  ? path.join(os.tmpdir(), 'gpuformer-cuda-kernels-dry-run') : opts.outDir;
const timing = { minMs, repeats };

const native = loadAddon(opts.threads);

// ------------------------------------------------------------------------------------------------ shapes
// Prefill shapes as FlashAttention's own benchmark sets them: 16k tokens per call, model width 2048, so that
// every sequence length fills the GPU and the tensors are the same size at every point.
const SHAPES = dryRun ? {
  totalTokens: 512, modelDim: 256, seqs: [128, 256], headDims: [32, 64], gemm: 64,
  decode: { Hq: 4, Hkv: 2, D: 32, batches: [1, 4], ctxs: [64, 256] },
  embedding: { tables: [{ name: 'tiny', V: 1000, C: 64 }], tokens: [16, 128], judgeFrom: 128 },
  gemv: {
    models: [{ name: 'tiny', layers: 2, mats: [{ name: 'qo', n: 64, k: 96, count: 2 }, { name: 'down', n: 96, k: 160, count: 1 }], head: { n: 200, k: 96 } }],
    rows: [1, 4], dtypes: ['f32', 'q8_0', 'q4_0', 'q4_1'],
  },
  copyElems: 1 << 22, rotateBytes: 1 << 20,
} : {
  totalTokens: 16384, modelDim: 2048, seqs: quick ? [512, 2048, 8192] : [512, 1024, 2048, 4096, 8192], headDims: [64, 128],
  gemm: 8192,
  decode: {
    Hq: 32, Hkv: 8, D: 128,
    batches: quick ? [1, 32, 128] : [1, 8, 32, 64, 128], ctxs: quick ? [512, 4096, 32768] : [512, 2048, 4096, 8192, 16384, 32768],
  },
  embedding: {
    tables: [{ name: 'Llama-3-8B', V: 128256, C: 4096 }, { name: 'Llama-3.2-1B', V: 128256, C: 2048 }],
    tokens: quick ? [1024, 16384] : [1024, 4096, 16384, 65536],
    // below this a lookup is a few microseconds and the gaps between launches decide, not the kernel
    judgeFrom: 16384,
  },
  gemv: {
    // each distinct weight shape of a layer once, with how many matrices of the layer have it; then the LM head
    models: [
      { name: 'Llama-2-7B', layers: 32, head: { n: 32000, k: 4096 }, mats: [
        { name: 'q, k, v, o', n: 4096, k: 4096, count: 4 }, { name: 'gate, up', n: 11008, k: 4096, count: 2 },
        { name: 'down', n: 4096, k: 11008, count: 1 }] },
      { name: 'Llama-3.2-1B', layers: 16, head: { n: 128256, k: 2048 }, mats: [
        { name: 'q, o', n: 2048, k: 2048, count: 2 }, { name: 'k, v', n: 512, k: 2048, count: 2 },
        { name: 'gate, up', n: 8192, k: 2048, count: 2 }, { name: 'down', n: 2048, k: 8192, count: 1 }] },
    ],
    rows: [1, 4, 16],
    dtypes: quick ? ['f16', 'q8_0', 'q4_0'] : ['f16', 'bf16', 'q8_0', 'q4_0', 'q4_1'],
  },
  copyElems: 1 << 28, // 1 GiB of f32 each way
  rotateBytes: 256 << 20, // over 4× the L2 of an H100 (50 MB) or H200 (60 MB)
};
const BLOCK_SIZE = 16; // the engine's (bench/e2e/gpuformer.ts)
const DECODE_DTYPE = dryRun ? 'f32' : 'f16';
const EMBED_DTYPE = dryRun ? 'f32' : 'f16';
// issue 18: ≥ 1.0× PyTorch SDPA from sequence 2048 on, ≥ 0.8× at 512, 1.1× the moonshot (both dtypes, head dims 64
// and 128, causal and not)
const GOALS = {
  attentionVsTorch: 1, attentionShortVsTorch: 0.8, attentionMoonshot: 1.1, attentionSeq: 2048, attentionShortSeq: 512,
  decodeOfCopy: 0.8, embeddingOfCopy: 0.85, decodeBatch: 32, decodeCtx: 4096, gemvOfCopy: 0.85,
};

// ------------------------------------------------------------------------------------------------ helpers
const bytesOf = (dtype) => ({ f32: 4, f16: 2, bf16: 2, i32: 4 })[dtype];
/** Bytes of a [n, k] weight matrix of `dtype` (GGUF blocks hold 32 elements each). */
const matrixBytes = (dtype, n, k) => (QUANT_BLOCK_BYTES[dtype] ? (n * k / 32) * QUANT_BLOCK_BYTES[dtype] : n * k * bytesOf(dtype));
const numel = (shape) => shape.reduce((a, b) => a * b, 1);
const i32 = (values) => native.Tensor.fromData(device, 'i32', [values.length], Int32Array.from(values), 'other');
const log = (m) => console.log(m);

/** A float tensor of uniform [-1, 1) values (a 4M-element random pattern repeated: see fillRepeating). */
function randomTensor(dtype, shape, tag = 'activations') {
  const t = native.Tensor.empty(device, dtype, shape, tag);
  fillRepeating(native, t, randomF32(Math.min(numel(shape), 1 << 22)), 'f32');
  return t;
}

/** k distinct integers from [0, n) in random order (a partial Fisher–Yates shuffle), or k draws when k > n. */
function distinct(n, k) {
  if (k > n) return Array.from({ length: k }, () => Math.floor(random() * n));
  const a = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(random() * (n - i));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return Array.from(a.subarray(0, k));
}

function cudaInfo() {
  const d = native.devices();
  if (dryRun) return { id: 'cpu', name: `${os.cpus()[0]?.model.trim() ?? 'CPU'} (dry run)` };
  const info = d.devices.find((x) => x.id === device);
  if (!info) {
    console.error(`${device} is not available: ${d.cuda.reason ?? `the addon sees ${d.devices.map((x) => x.id).join(', ')}`}` +
      `${d.cuda.compiled ? '' : ' (this addon was built without CUDA)'}\n--dry-run checks the script on the CPU.`);
    process.exit(1);
  }
  return info;
}

/** Whether `bytes` more fit on the device with room to spare; on the CPU (dry run) always. */
function fits(bytes) {
  if (dryRun) return true;
  const info = native.devices().devices.find((x) => x.id === device);
  return bytes <= 0.8 * info.freeBytes;
}

/** Runs a case's commands under the timing policy and checks that every output element was written. */
async function timeChecked(commands, outputs) {
  outputs.forEach((o) => poison(native, o));
  const t = await timeCommands(native, commands, timing);
  const bad = outputs.reduce((n, o) => n + nonFinite(o), 0);
  if (bad) log(`  warning: ${bad} output elements are NaN/Inf after the runs (unwritten or overflowed)`);
  return { ...t, nonFiniteOutputs: bad };
}

const disposeAll = (...ts) => ts.flat().forEach((t) => t.dispose());

/**
 * Runs one case: fn(own) allocates through own (an array it pushes its tensors onto) and answers the result.
 * Whatever happens the case's tensors are freed, and an error becomes the case's `error` (the run goes on to
 * the next case: one failing shape must not cost the whole lease of a GPU machine).
 */
async function runCase(what, base, fn) {
  const own = [];
  try {
    return await fn(own);
  } catch (e) {
    const error = `${e.code ? `${e.code}: ` : ''}${e.message}`;
    log(`${what}: failed: ${error}`);
    return { ...base, error };
  } finally {
    disposeAll(own);
  }
}
const owned = (own, t) => (own.push(t), t);

/** runCase, or a skipped row when the case's `bytes` would not fit in the device's free memory. */
function runCaseIfFits(what, base, bytes, fn) {
  if (fits(bytes)) return runCase(what, base, fn);
  log(`${what}: skipped (needs ${(bytes / 2 ** 30).toFixed(1)} GiB)`);
  return { ...base, skipped: `needs ${(bytes / 2 ** 30).toFixed(1)} GiB` };
}

/** A memory-bound case's row: `bytes` moved per command, its rate and its fraction of the copy bandwidth. */
function ofCopy(what, base, t, bytes, copyBytesPerSec) {
  const bytesPerSec = bytes / t.seconds;
  log(`${what}: ${(t.seconds * 1e6).toFixed(1)} µs, ${(bytesPerSec / 1e9).toFixed(0)} GB/s, ${(100 * bytesPerSec / copyBytesPerSec).toFixed(1)} % of copy`);
  return { ...base, ...t, bytesPerSec, ofCopy: bytesPerSec / copyBytesPerSec };
}
/** What a row that did not run says instead of its numbers. */
const notRun = (r) => (r.skipped ? `skipped: ${r.skipped}` : r.error ? `failed: ${r.error}` : null);

// ------------------------------------------------------------------------------------------------ ceilings
async function copyBandwidth() {
  const n = SHAPES.copyElems;
  const x = randomTensor('f32', [n], 'other');
  const out = native.Tensor.empty(device, 'f32', [n], 'other');
  const t = await timeChecked([{ op: 'copy', x, out }], [out]);
  disposeAll(x, out);
  const bytes = 2 * n * 4;
  return { bytes, ...t, bytesPerSec: bytes / t.seconds };
}

function gemmRate(dtype) {
  const n = SHAPES.gemm;
  return runCase(`gemm ${dtype}`, { dtype, m: n, n, k: n }, async (own) => {
    const x = owned(own, randomTensor(dtype, [n, n])), w = owned(own, randomTensor(dtype, [n, n], 'weights'));
    const out = owned(own, native.Tensor.empty(device, dtype, [n, n], 'activations'));
    const t = await timeChecked([{ op: 'linear', x, w, bias: null, out }], [out]);
    const r = { dtype, m: n, n, k: n, ...t, tflops: (2 * n ** 3) / t.seconds / 1e12 };
    log(`gemm ${dtype} ${n}³: ${r.tflops.toFixed(1)} TFLOP/s`);
    return r;
  });
}

// ------------------------------------------------------------------------------------------------ prefill
const attentionFlops = ({ batch, seq, heads, headDim, causal }) =>
  4 * headDim * heads * batch * (causal ? (seq * (seq + 1)) / 2 : seq * seq);

function attentionCases() {
  const cases = [];
  for (const dtype of attentionDtypes) {
    for (const headDim of SHAPES.headDims) {
      for (const causal of [false, true]) {
        for (const seq of SHAPES.seqs) {
          cases.push({ dtype, headDim, causal, seq, batch: SHAPES.totalTokens / seq, heads: SHAPES.modelDim / headDim });
        }
      }
    }
  }
  return cases;
}

async function attention(cases) {
  const results = [];
  const T = SHAPES.totalTokens, width = SHAPES.modelDim;
  for (const dtype of attentionDtypes) {
    // every case has T × width elements per tensor: one set of buffers, viewed per head dim
    const [q, k, v] = [0, 1, 2].map(() => randomTensor(dtype, [T * width]));
    const out = native.Tensor.empty(device, dtype, [T * width], 'activations');
    for (const c of cases.filter((x) => x.dtype === dtype)) {
      const what = `attention ${dtype} D=${c.headDim} ${c.causal ? 'causal' : 'full'} S=${c.seq} (${c.batch}×${c.heads} heads)`;
      results.push(await runCase(what, c, async (own) => {
        const [qv, kv, vv, ov] = [q, k, v, out].map((t) => owned(own, t.view(0, [T, c.heads, c.headDim])));
        const cu = owned(own, i32(Array.from({ length: c.batch + 1 }, (_, b) => b * c.seq)));
        const cmd = { op: 'attention', q: qv, k: kv, v: vv, cuSeqlens: cu, maxSeqlen: c.seq, out: ov, scale: 1 / Math.sqrt(c.headDim), causal: c.causal };
        const t = await timeChecked([cmd], [ov]);
        const r = { ...c, ...t, tflops: attentionFlops(c) / t.seconds / 1e12 };
        log(`${what}: ${(t.seconds * 1e3).toFixed(3)} ms, ${r.tflops.toFixed(1)} TFLOP/s`);
        return r;
      }));
    }
    disposeAll(q, k, v, out);
  }
  return results;
}

// ------------------------------------------------------------------------------------------------ decode
function decodeCase({ batch, ctx }, copyBytesPerSec) {
  const { Hq, Hkv, D } = SHAPES.decode;
  const el = bytesOf(DECODE_DTYPE);
  const kvBytes = batch * ctx * Hkv * D * el * 2;
  const sets = rotationSets(kvBytes, SHAPES.rotateBytes);
  const blocksPer = Math.ceil(ctx / BLOCK_SIZE);
  const perSet = batch * blocksPer;
  const base = { batch, ctx, Hq, Hkv, D, dtype: DECODE_DTYPE, blockSize: BLOCK_SIZE, kvBytes, sets };
  const what = `decode B=${batch} ctx=${ctx}`;
  const cacheBytes = 2 * sets * perSet * BLOCK_SIZE * Hkv * D * el;
  return runCaseIfFits(what, base, cacheBytes, async (own) => {
    const cacheShape = [sets * perSet, BLOCK_SIZE, Hkv, D];
    const kCache = owned(own, randomTensor(DECODE_DTYPE, cacheShape, 'kv'));
    const vCache = owned(own, randomTensor(DECODE_DTYPE, cacheShape, 'kv'));
    const q = owned(own, randomTensor(DECODE_DTYPE, [batch, Hq, D]));
    const out = owned(own, native.Tensor.empty(device, DECODE_DTYPE, [batch, Hq, D], 'activations'));
    const cuSeqlensQ = owned(own, i32(Array.from({ length: batch + 1 }, (_, b) => b)));
    const contextLens = owned(own, i32(new Array(batch).fill(ctx)));
    // each set owns its own blocks, shuffled, as a long-running cache hands them out
    const tables = Array.from({ length: sets }, (_, s) => owned(own, native.Tensor.fromData(device, 'i32', [batch, blocksPer],
      Int32Array.from(distinct(perSet, perSet), (b) => s * perSet + b), 'other')));
    const commands = tables.map((blockTables) => ({
      op: 'paged_attention', q, kCache, vCache, cuSeqlensQ, contextLens, blockTables, maxContextLen: ctx, out,
      scale: 1 / Math.sqrt(D), causal: true,
    }));
    return ofCopy(what, base, await timeChecked(commands, [out]), kvBytes, copyBytesPerSec);
  });
}

async function decode(copyBytesPerSec) {
  const results = [];
  for (const ctx of SHAPES.decode.ctxs) {
    for (const batch of SHAPES.decode.batches) results.push(await decodeCase({ batch, ctx }, copyBytesPerSec));
  }
  return results;
}

// ------------------------------------------------------------------------------------------------ embedding
function embeddingCase({ name, V, C }, tokens, copyBytesPerSec) {
  const el = bytesOf(EMBED_DTYPE);
  const bytes = 2 * tokens * C * el + 4 * tokens; // rows read, rows written, ids read
  const sets = rotationSets(bytes, SHAPES.rotateBytes, 64);
  const base = { table: name, V, C, tokens, dtype: EMBED_DTYPE, bytes, sets };
  const what = `embedding ${name} T=${tokens}`;
  const need = V * C * el + sets * tokens * (C * el + 4);
  return runCaseIfFits(what, base, need, async (own) => {
    const tok = owned(own, randomTensor(EMBED_DTYPE, [V, C], 'weights'));
    const ids = Array.from({ length: sets }, () => owned(own, i32(distinct(V, tokens))));
    const outs = ids.map(() => owned(own, native.Tensor.empty(device, EMBED_DTYPE, [tokens, C], 'activations')));
    const t = await timeChecked(ids.map((x, s) => ({ op: 'embedding', ids: x, tok, out: outs[s] })), outs);
    return ofCopy(what, base, t, bytes, copyBytesPerSec);
  });
}

async function embedding(copyBytesPerSec) {
  const results = [];
  for (const table of SHAPES.embedding.tables) {
    for (const tokens of SHAPES.embedding.tokens) results.push(await embeddingCase(table, tokens, copyBytesPerSec));
  }
  return results;
}

// ------------------------------------------------------------------------------------------------ gemv
/** The activation dtype a weight dtype is multiplied with on the device (quantized weights: f16 activations). */
const gemvActivation = (dtype) => (dryRun ? 'f32' : dtype === 'bf16' ? 'bf16' : dtype === 'f32' ? 'f32' : 'f16');

/**
 * `blocks` random GGUF blocks of `dtype` (QUANT_BLOCK_BYTES): scales d (and Q4_1's offsets m) finite f16 of about
 * 1e-3 so that sums of thousands of products stay well inside f16, quants uniform random bytes.
 */
function quantBlocks(dtype, blocks) {
  const bb = QUANT_BLOCK_BYTES[dtype];
  const a = new Uint8Array(blocks * bb);
  const f16 = (sign) => sign | (0x1400 + Math.floor(random() * 0x400)); // 2^-10 ≤ |x| < 2^-9
  for (let b = 0; b < blocks; b++) {
    const o = b * bb;
    const d = f16(0);
    a[o] = d & 255; a[o + 1] = d >> 8;
    let q = o + 2;
    if (dtype === 'q4_1') {
      const m = f16(0x8000);
      a[q] = m & 255; a[q + 1] = m >> 8;
      q += 2;
    }
    for (; q < o + bb; q++) a[q] = Math.floor(random() * 256);
  }
  return a;
}

/** One gemv case: out [m, n] = x [m, k] · wᵀ, weights rotated among sets that together exceed the L2. */
function gemvCase(model, mat, dtype, m, copyBytesPerSec) {
  const act = gemvActivation(dtype);
  const wBytes = matrixBytes(dtype, mat.n, mat.k);
  const sets = rotationSets(wBytes, SHAPES.rotateBytes);
  const base = { model: model.name, matrix: mat.name, n: mat.n, k: mat.k, dtype, activation: act, rows: m, weightBytes: wBytes, sets };
  const what = `gemv ${model.name} ${mat.name} [${mat.n}×${mat.k}] ${dtype} M=${m}`;
  return runCaseIfFits(what, base, sets * wBytes, async (own) => {
    const w = owned(own, native.Tensor.empty(device, dtype, [sets * mat.n, mat.k], 'weights'));
    if (QUANT_BLOCK_BYTES[dtype]) fillRepeating(native, w, quantBlocks(dtype, Math.min(1 << 16, (sets * mat.n * mat.k) / 32)), dtype);
    else fillRepeating(native, w, randomF32(Math.min(sets * mat.n * mat.k, 1 << 22)), 'f32');
    const x = owned(own, randomTensor(act, [m, mat.k]));
    const out = owned(own, native.Tensor.empty(device, act, [m, mat.n], 'activations'));
    const views = Array.from({ length: sets }, (_, i) => owned(own, w.view(i * mat.n * mat.k, [mat.n, mat.k])));
    const commands = views.map((wv) => ({ op: 'linear', x, w: wv, bias: null, out }));
    const r = ofCopy(what, base, await timeChecked(commands, [out]), wBytes, copyBytesPerSec);
    if (dryRun) return r;
    // the same product on the library paths (cuBLASLt; dequantize + GEMM for GGUF blocks), as before the row kernels
    native.setCudaDecodeKernels(false);
    try {
      const lib = await timeChecked(commands, [out]);
      log(`  library path: ${(lib.seconds * 1e6).toFixed(1)} µs (${(r.seconds > 0 ? lib.seconds / r.seconds : NaN).toFixed(2)}× the row kernels' time)`);
      return { ...r, library: { seconds: lib.seconds, ofCopy: wBytes / lib.seconds / copyBytesPerSec } };
    } finally {
      native.setCudaDecodeKernels(true);
    }
  });
}

/**
 * Every weight shape of each model at each dtype and row count, then per (model, dtype, rows) the matmul time of
 * one decode step: Σ layers × count × time of each shape + the LM head, against those bytes ÷ copy bandwidth.
 */
async function gemv(copyBytesPerSec) {
  const cases = [];
  const steps = [];
  for (const model of SHAPES.gemv.models) {
    const mats = [...model.mats.map((x) => ({ ...x, times: x.count * model.layers })), { name: 'LM head', ...model.head, times: 1 }];
    for (const dtype of SHAPES.gemv.dtypes) {
      for (const m of SHAPES.gemv.rows) {
        const rows = [];
        for (const mat of mats) rows.push(await gemvCase(model, mat, dtype, m, copyBytesPerSec));
        cases.push(...rows);
        if (rows.some((r) => r.error || r.skipped)) continue;
        const seconds = rows.reduce((acc, r, i) => acc + r.seconds * mats[i].times, 0);
        const bytes = rows.reduce((acc, r, i) => acc + r.weightBytes * mats[i].times, 0);
        const step = { model: model.name, dtype, rows: m, seconds, weightBytes: bytes, floorSeconds: bytes / copyBytesPerSec, ofCopy: bytes / seconds / copyBytesPerSec };
        log(`gemv ${model.name} ${dtype} M=${m}: matmuls of one step ${(seconds * 1e3).toFixed(3)} ms, floor ${(step.floorSeconds * 1e3).toFixed(3)} ms (${pct(step.ofCopy)} of copy)`);
        steps.push(step);
      }
    }
  }
  return { cases, steps };
}

// ------------------------------------------------------------------------------------------------ PyTorch
const TORCH_SCRIPT = path.join(root, 'bench', 'peers', 'torch_sdpa.py');

/** Runs python on args with `input` on stdin; its stderr shows as it comes, and its last lines are kept for the report. */
function runPython(args, input, timeoutMs) {
  return new Promise((resolve) => {
    const child = spawn(opts.python, args, { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '', errTail = '', timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
    child.stdout.on('data', (d) => { out += d; });
    child.stderr.on('data', (d) => { process.stderr.write(d); errTail = (errTail + d).slice(-4000); });
    child.on('error', (error) => { clearTimeout(timer); resolve({ error }); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, timedOut, out, errTail }); });
    child.stdin.on('error', () => {}); // a child that exits before reading its input
    child.stdin.end(input);
  });
}

/** PyTorch SDPA on the same cases, in its own process, after our runs (it must not share the GPU with them). */
async function torchSdpa(cases) {
  if (opts['no-torch']) return { ran: false, reason: '--no-torch' };
  if (!fs.existsSync(TORCH_SCRIPT)) return { ran: false, reason: `${path.relative(root, TORCH_SCRIPT)} is missing` };
  const args = [TORCH_SCRIPT, '--cases', '-', '--device', dryRun ? 'cpu' : device, '--min-ms', String(minMs), '--repeats', String(repeats)];
  if (quick) args.push('--backends', 'default');
  const command = `${opts.python} ${args.map((a) => (path.isAbsolute(a) ? path.relative(root, a) : a)).join(' ')}`;
  log(`running ${command}`);
  const input = JSON.stringify(cases.map(({ dtype, headDim, causal, seq, batch, heads }) => ({ dtype, headDim, causal, seq, batch, heads })));
  const p = await runPython(args, input, 1_800_000);
  if (p.error) return { ran: false, command, reason: p.error.message };
  if (p.code !== 0) {
    const last = p.errTail.trim().split('\n').pop() ?? '';
    return { ran: false, command, reason: `${p.timedOut ? 'ran past 30 minutes' : `exited with ${p.code ?? p.signal}`}${last ? `: ${last}` : ''}` };
  }
  try {
    return { ran: true, command, ...JSON.parse(p.out.trim().split('\n').pop()) };
  } catch (e) {
    return { ran: false, command, reason: `unreadable output: ${e.message}` };
  }
}

const caseKey = (c) => `${c.dtype}/${c.headDim}/${c.causal}/${c.seq}`;

/** Puts torch's numbers beside ours: its default dispatch, and its fastest backend that took the case. */
function joinTorch(results, torch) {
  if (!torch.ran) return results;
  const byKey = new Map(torch.cases.map((c) => [caseKey(c), c]));
  return results.map((r) => {
    const t = byKey.get(caseKey(r));
    if (!t || r.error) return r;
    const ok = Object.entries(t.results).filter(([, x]) => x.tflops != null);
    const best = ok.reduce((b, [name, x]) => (!b || x.tflops > b.tflops ? { backend: name, tflops: x.tflops } : b), null);
    const def = t.results.default?.tflops ?? null;
    return { ...r, torch: t.results, torchDefaultTflops: def, torchBest: best, vsTorch: def ? r.tflops / def : null, vsTorchBest: best ? r.tflops / best.tflops : null };
  });
}

// ------------------------------------------------------------------------------------------------ goals
/** Worst value of the rows a goal covers; a row that failed (or wrote NaN) fails the goal, a skipped one is left out. */
function verdict(rows, value, threshold) {
  const judged = rows.filter((r) => !r.skipped);
  const failed = judged.filter((r) => r.error || r.nonFiniteOutputs);
  const values = judged.filter((r) => !r.error && !r.nonFiniteOutputs).map(value).filter((v) => v != null);
  if (failed.length) return { status: `not met (${failed.length} cases failed)`, worst: values.length ? Math.min(...values) : null };
  if (values.length === 0) return { status: 'not measured', worst: null };
  const worst = Math.min(...values);
  return { status: worst >= threshold ? 'met' : 'not met', worst, n: values.length };
}

function goals(att, dec, emb, gemvSteps, torchRan) {
  const judged = att.filter((r) => r.headDim === 64 || r.headDim === 128);
  const long = judged.filter((r) => r.seq >= GOALS.attentionSeq);
  const short = judged.filter((r) => r.seq === GOALS.attentionShortSeq);
  const decBig = dec.filter((r) => r.batch >= GOALS.decodeBatch && r.ctx >= GOALS.decodeCtx);
  const embBig = emb.filter((r) => r.tokens >= SHAPES.embedding.judgeFrom);
  const vsTorch = (rows, threshold) => (torchRan ? verdict(rows, (r) => r.vsTorch, threshold) : { status: 'not measured (no PyTorch)', worst: null });
  const cases = `${attentionDtypes.join(' and ')}, head dims 64 and 128, causal and not`;
  return [
    { goal: `fused attention ≥ PyTorch SDPA (default dispatch), ${cases}, sequence ≥ ${GOALS.attentionSeq}`,
      ...vsTorch(long, GOALS.attentionVsTorch), unit: '× torch' },
    { goal: `fused attention ≥ ${GOALS.attentionShortVsTorch} × PyTorch SDPA (default dispatch), ${cases}, sequence ${GOALS.attentionShortSeq}`,
      ...vsTorch(short, GOALS.attentionShortVsTorch), unit: '× torch' },
    { goal: `moonshot: fused attention ≥ ${GOALS.attentionMoonshot} × PyTorch SDPA (default dispatch), ${cases}, sequence ≥ ${GOALS.attentionSeq}`,
      ...vsTorch(long, GOALS.attentionMoonshot), unit: '× torch' },
    { goal: `paged decode ≥ ${GOALS.decodeOfCopy * 100} % of copy bandwidth at batch ≥ ${GOALS.decodeBatch} and context ≥ ${GOALS.decodeCtx}`,
      ...verdict(decBig, (r) => r.ofCopy, GOALS.decodeOfCopy), unit: 'of copy' },
    { goal: `embedding lookup ≥ ${GOALS.embeddingOfCopy * 100} % of copy bandwidth at ≥ ${SHAPES.embedding.judgeFrom} tokens`,
      ...verdict(embBig, (r) => r.ofCopy, GOALS.embeddingOfCopy), unit: 'of copy' },
    { goal: `decode matmuls (gemv, M ≤ 16) of a whole step ≥ ${GOALS.gemvOfCopy * 100} % of copy bandwidth, every model, dtype and row count`,
      ...verdict(gemvSteps, (r) => r.ofCopy, GOALS.gemvOfCopy), unit: 'of copy' },
  ];
}

// ------------------------------------------------------------------------------------------------ report
function gitCommit() {
  try {
    const head = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: root, encoding: 'utf8' }).trim() !== '';
    return `${head}${dirty ? ' (uncommitted changes)' : ''}`;
  } catch {
    return 'unknown';
  }
}

const f = (x, d = 1) => (Number.isFinite(x) ? x.toFixed(d) : '—');
const pct = (x) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)} %` : '—');
const gb = (x) => (x / 1e9).toFixed(0);

function markdown(report) {
  const { date, command, label, device: dev, overheadUs, copy, gemm, attention: att, decode: dec, embedding: emb, gemv: gv, torch, goals: g } = report;
  const lines = [
    `# CUDA kernels — ${date.slice(0, 10)}${label ? ` (${label})` : ''}${dryRun ? ' — DRY RUN on the CPU, numbers meaningless' : ''}`,
    '',
    `Command: \`${command}\``,
    '',
    `Device: ${dev.name}${dev.computeCapability ? `, compute capability ${dev.computeCapability}, ${dev.multiprocessors} SMs, ${f(dev.totalBytes / 2 ** 30, 0)} GiB` : ''}; ` +
      `gpuformer ${report.commit}; node ${process.version}.`,
    '',
    `Timing: host clock around programs that repeat one command until they run ≥ ${f(minMs, 0)} ms, synchronized at the end; ` +
      `median of ${repeats} programs (min–max beside it). One program's fixed cost (launch, synchronize, promise) is ${f(overheadUs)} µs. ` +
      `Small cases rotate among input sets covering ≥ ${f(SHAPES.rotateBytes / 2 ** 20, 0)} MiB. Each output is poisoned with NaN before the runs and checked after.`,
    '',
    '## Ceilings',
    '',
    '| what | time | rate |',
    '|---|---:|---:|',
    `| device-to-device copy, ${f(copy.bytes / 2 / 2 ** 30, 2)} GiB (\`copy\` op, read + write counted) | ${f(copy.seconds * 1e3, 3)} ms | ${gb(copy.bytesPerSec)} GB/s |`,
    ...gemm.map((r) => `| GEMM ${r.m}×${r.n}×${r.k} ${r.dtype} (\`linear\` op) | ${notRun(r) ?? `${f(r.seconds * 1e3, 3)} ms`} | ${f(r.tflops)} TFLOP/s |`),
    '',
  ];
  if (att.length) {
    const peak = Object.fromEntries(gemm.map((r) => [r.dtype, r.tflops]));
    lines.push('## Fused prefill attention', '',
      `${SHAPES.totalTokens} tokens per call (batch × sequence), width ${SHAPES.modelDim}: ${SHAPES.headDims.map((d) => `${SHAPES.modelDim / d} heads × ${d}`).join(' or ')}, ` +
        'as many key/value heads as query heads. ' +
      (torch.ran ? `PyTorch ${torch.torch} (CUDA ${torch.cuda}) on ${torch.device}: \`torch.nn.functional.scaled_dot_product_attention\`, [B, H, S, D] tensors, ${dryRun ? 'host-clock' : 'CUDA-event'} timing of as many calls; "best" is its fastest backend that took the case.`
        : `PyTorch did not run: ${torch.reason}.`),
      '',
      '| dtype | D | causal | seq × batch | ms (min–max) | TFLOP/s | of GEMM | torch default | torch best (backend) | × torch | × torch best |',
      '|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|',
      ...att.map((r) => `| ${r.dtype} | ${r.headDim} | ${r.causal ? 'yes' : 'no'} | ${r.seq} × ${r.batch} | ${notRun(r) ?? `${f(r.seconds * 1e3, 3)} (${f(r.min * 1e3, 3)}–${f(r.max * 1e3, 3)})`} | ` +
        `${f(r.tflops)} | ${pct(peak[r.dtype] ? r.tflops / peak[r.dtype] : null)} | ${f(r.torchDefaultTflops)} | ` +
        `${r.torchBest ? `${f(r.torchBest.tflops)} (${r.torchBest.backend})` : '—'} | ${f(r.vsTorch, 2)} | ${f(r.vsTorchBest, 2)} |`),
      '');
  }
  if (dec.length) {
    const { Hq, Hkv, D } = SHAPES.decode;
    lines.push('## Paged decode attention', '',
      `One query per sequence, ${Hq} query / ${Hkv} key-value heads × ${D}, ${DECODE_DTYPE}, block size ${BLOCK_SIZE}, shuffled block tables, every sequence at the full context. ` +
      'Bytes = K + V read from the cache.', '',
      '| batch | context | K+V MiB | sets | µs (min–max) | GB/s | of copy |',
      '|---:|---:|---:|---:|---:|---:|---:|',
      ...dec.map((r) => (notRun(r) ? `| ${r.batch} | ${r.ctx} | ${f(r.kvBytes / 2 ** 20)} | ${r.sets} | ${notRun(r)} | — | — |`
        : `| ${r.batch} | ${r.ctx} | ${f(r.kvBytes / 2 ** 20)} | ${r.sets} | ${f(r.seconds * 1e6)} (${f(r.min * 1e6)}–${f(r.max * 1e6)}) | ${gb(r.bytesPerSec)} | ${pct(r.ofCopy)} |`)),
      '');
  }
  if (emb.length) {
    lines.push('## Embedding lookup', '',
      `${EMBED_DTYPE} tables, distinct random rows per call; bytes = rows read + rows written + ids.`, '',
      '| table | rows × width | tokens | MiB moved | sets | µs (min–max) | GB/s | of copy |',
      '|---|---|---:|---:|---:|---:|---:|---:|',
      ...emb.map((r) => (notRun(r) ? `| ${r.table} | ${r.V} × ${r.C} | ${r.tokens} | ${f(r.bytes / 2 ** 20)} | ${r.sets} | ${notRun(r)} | — | — |`
        : `| ${r.table} | ${r.V} × ${r.C} | ${r.tokens} | ${f(r.bytes / 2 ** 20)} | ${r.sets} | ${f(r.seconds * 1e6)} (${f(r.min * 1e6)}–${f(r.max * 1e6)}) | ${gb(r.bytesPerSec)} | ${pct(r.ofCopy)} |`)),
      '');
  }
  if (gv.cases.length) {
    lines.push('## Decode matmuls (gemv)', '',
      'The `linear` op with M rows of activations (f16; bf16 for bf16 weights) at each weight shape of the models; weights rotate among ' +
      'sets larger than the L2 cache. Bytes = the weight matrix (GGUF blocks as stored); "of copy" = those bytes per second ÷ the copy bandwidth. ' +
      '"library" = the same product with the row kernels switched off (setCudaDecodeKernels(false): cuBLASLt, or dequantize + GEMM for GGUF blocks), as before them.', '',
      '| model | step matmuls | dtype | M | ms | floor ms | of copy |', '|---|---|---|---:|---:|---:|---:|',
      ...gv.steps.map((r) => `| ${r.model} | every layer + LM head | ${r.dtype} | ${r.rows} | ${f(r.seconds * 1e3, 3)} | ${f(r.floorSeconds * 1e3, 3)} | ${pct(r.ofCopy)} |`),
      '', '| model | matrix | n × k | dtype | M | MiB | sets | µs (min–max) | GB/s | of copy | library µs (of copy) |', '|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|',
      ...gv.cases.map((r) => `| ${r.model} | ${r.matrix} | ${r.n} × ${r.k} | ${r.dtype} | ${r.rows} | ${f(r.weightBytes / 2 ** 20)} | ${r.sets} | ` +
        (notRun(r) ? `${notRun(r)} | — | — | — |` : `${f(r.seconds * 1e6)} (${f(r.min * 1e6)}–${f(r.max * 1e6)}) | ${gb(r.bytesPerSec)} | ${pct(r.ofCopy)} | ` +
          `${r.library ? `${f(r.library.seconds * 1e6)} (${pct(r.library.ofCopy)})` : '—'} |`)),
      '');
  }
  lines.push('## Goals', '', '| goal | status | worst |', '|---|---|---:|',
    ...g.map((x) => `| ${x.goal} | ${x.status} | ${x.worst == null ? '—' : x.unit === 'of copy' ? pct(x.worst) : `${f(x.worst, 2)} ${x.unit}`} |`), '');
  const bad = [...gemm, ...att, ...dec, ...emb, ...gv.cases].filter((r) => r.nonFiniteOutputs);
  if (bad.length) lines.push(`**Warning:** ${bad.length} cases left NaN/Inf in their outputs (see nonFiniteOutputs in the JSON).`, '');
  const failed = [...gemm, ...att, ...dec, ...emb, ...gv.cases].filter((r) => r.error);
  if (failed.length) lines.push(`**Warning:** ${failed.length} cases failed (their errors are in the tables).`, '');
  return lines.join('\n');
}

// ------------------------------------------------------------------------------------------------ main
const dev = cudaInfo();
log(`${dev.name}${dryRun ? '' : ` (${device})`}`);
const overhead = await syncOverhead(native, device, repeats);
const copy = await copyBandwidth();
log(`copy: ${gb(copy.bytesPerSec)} GB/s (read + write); fixed cost per program ${(overhead * 1e6).toFixed(1)} µs`);
const gemm = [];
if (sections.includes('attention')) {
  for (const dtype of attentionDtypes) gemm.push(await gemmRate(dtype));
}
const cases = sections.includes('attention') ? attentionCases() : [];
const ours = await attention(cases);
const decodeResults = sections.includes('decode') ? await decode(copy.bytesPerSec) : [];
const embeddingResults = sections.includes('embedding') ? await embedding(copy.bytesPerSec) : [];
const gemvResults = sections.includes('gemv') ? await gemv(copy.bytesPerSec) : { cases: [], steps: [] };
const torch = cases.length ? await torchSdpa(cases) : { ran: false, reason: 'no attention cases' };
if (!torch.ran) log(`PyTorch SDPA did not run: ${torch.reason}`);
const attentionResults = joinTorch(ours, torch);

const date = new Date().toISOString();
const command = commandLine('cuda-kernels.mjs', opts.argv);
const report = {
  bench: 'cuda-kernels', date, command, label: opts.label, dryRun, quick, commit: gitCommit(), device: dev,
  timing: { ...timing, method: 'host clock, parse excluded, stream drained; median per command' },
  overheadUs: overhead * 1e6, copy, gemm, attention: attentionResults, decode: decodeResults, embedding: embeddingResults, gemv: gemvResults,
  torch: torch.ran ? { ran: true, command: torch.command, torch: torch.torch, cuda: torch.cuda, device: torch.device } : torch,
};
report.goals = goals(attentionResults, decodeResults, embeddingResults, gemvResults.steps, torch.ran);
for (const g of report.goals) log(`goal: ${g.goal}: ${g.status}${g.worst == null ? '' : ` (worst ${g.worst.toFixed(3)})`}`);
writeResults({ outDir, label: opts.label }, 'cuda-kernels', date, report, markdown(report));
