/**
 * Timing and input helpers for kernel benchmarks that run on a device (bench/kernels/cuda-kernels.mjs).
 *
 * The addon exposes no device events, so time is read on the host around `native.exec(program)`: exec parses
 * the whole program on the calling thread, then runs its steps on a worker thread and settles only after the
 * device stream has drained (native/addon/exec.cc). The clock starts when exec returns (parsing done) and stops
 * when the promise settles, so what is timed is the launches plus the device work plus one synchronization.
 * A program repeats the command n times, with n grown until one program runs at least `minMs`: the fixed cost
 * of the synchronization and the promise (measured by `syncOverhead`) is then a small share of it, and the
 * per-command time is the program's time ÷ n. Each case reports the median over `repeats` programs and the
 * spread (min, max) beside it.
 */

const now = () => process.hrtime.bigint();
/** more commands than this in one program only add parsing time: the fixed cost is long amortized by then */
const MAX_STEPS = 20000;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

/** Seconds from the end of parsing to the settled promise of one exec. */
async function runTimed(native, program) {
  const pending = native.exec(program);
  const t0 = now();
  await pending;
  return Number(now() - t0) / 1e9;
}

/** A program of n commands taken round-robin from `commands` (each one an input set: see rotationSets). */
const programOf = (commands, n) => Array.from({ length: n }, (_, i) => commands[i % commands.length]);

/**
 * Seconds per command: one warm-up pass over every command (first-use allocations, module load), then n grown
 * until a program takes minMs, then `repeats` programs of n commands. Answers { seconds (median per command),
 * min, max, steps (n), repeats, programMs (median time of one program) }.
 */
export async function timeCommands(native, commands, { minMs, repeats }) {
  let n = commands.length;
  await runTimed(native, programOf(commands, n));
  for (;;) {
    // the faster of two programs: one slow program (a page fault, a clock ramping up) must not stop the growth early
    const program = programOf(commands, n);
    const s = Math.min(await runTimed(native, program), await runTimed(native, program));
    if (s * 1e3 >= minMs || n >= MAX_STEPS) break;
    // aim 20 % past minMs so that one more round is rarely needed; at least double
    const want = Math.ceil((n * minMs * 1.2) / Math.max(s * 1e3, 1e-3));
    n = Math.min(MAX_STEPS, Math.max(2 * n, want));
  }
  const program = programOf(commands, n);
  const per = [];
  for (let r = 0; r < repeats; r++) per.push((await runTimed(native, program)) / n);
  return {
    seconds: median(per), min: Math.min(...per), max: Math.max(...per), steps: n, repeats,
    programMs: median(per) * n * 1e3,
  };
}

/** Seconds of one exec of a single tiny copy: the launch + synchronization + promise cost every program pays once. */
export async function syncOverhead(native, device, repeats) {
  const a = native.Tensor.fromData(device, 'f32', [64], new Float32Array(64).fill(1), 'other');
  const b = native.Tensor.empty(device, 'f32', [64], 'other');
  const program = [{ op: 'copy', x: a, out: b }];
  await runTimed(native, program);
  const times = [];
  for (let r = 0; r < repeats; r++) times.push(await runTimed(native, program));
  a.dispose();
  b.dispose();
  return median(times);
}

/**
 * How many input sets a case rotates through so that the bytes one pass touches are at least `minBytes`
 * (several times the L2 cache): repeated runs over one small buffer would time the cache, not device memory.
 */
export function rotationSets(bytesPerCall, minBytes, maxSets = 256) {
  return Math.max(1, Math.min(maxSets, Math.ceil(minBytes / Math.max(1, bytesPerCall))));
}

/** Bytes of one 32-element block of each GGUF block dtype (native/include/gpuformer/dtype.h). */
export const QUANT_BLOCK_BYTES = { q8_0: 34, q4_0: 18, q4_1: 20 };

/**
 * Fills tensor t with `data` (elements of srcDtype; for a GGUF block dtype, the bytes of whole blocks) repeated
 * to its length: `data` is uploaded once, then device copies double the filled prefix (log2 steps), so a
 * many-GB cache fills in milliseconds without a host array of its size.
 */
export function fillRepeating(native, t, data, srcDtype) {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const bb = QUANT_BLOCK_BYTES[srcDtype];
  const len = Math.min(bb ? (data.byteLength / bb) * 32 : data.length, n);
  t.write(bb ? new Uint8Array(data.buffer, data.byteOffset, (len / 32) * bb) : data.subarray(0, len), 0, srcDtype);
  for (let done = len; done < n;) {
    const m = Math.min(done, n - done);
    const x = t.view(0, [m]);
    const out = t.view(done, [m]);
    native.execSync([{ op: 'copy', x, out }]);
    x.dispose();
    out.dispose();
    done += m;
  }
}

/** Writes NaN over a float tensor (f32, f16 or bf16), so that elements a kernel leaves unwritten show. */
export function poison(native, t) {
  if (t.dtype === 'f32') fillRepeating(native, t, new Float32Array(1 << 16).fill(NaN), 'f32');
  // 0x7fff is a NaN in f16 and in bf16 alike
  else fillRepeating(native, t, new Uint16Array(1 << 16).fill(0x7fff), t.dtype);
}

/** Elements of a float tensor that are NaN or infinite (read back from the device). */
export function nonFinite(t) {
  const buf = t.read();
  let bad = 0;
  if (t.dtype === 'f32') {
    for (const x of new Float32Array(buf)) if (!Number.isFinite(x)) bad++;
  } else {
    // all exponent bits set: f16 0x7c00, bf16 0x7f80
    const mask = t.dtype === 'f16' ? 0x7c00 : 0x7f80;
    for (const h of new Uint16Array(buf)) if ((h & mask) === mask) bad++;
  }
  return bad;
}
