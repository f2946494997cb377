/**
 * What the CPU kernel benchmarks (cpu-gemm.mjs, cpu-attention.mjs, cpu-sampling.mjs) share: their common
 * options, the addon with its thread count set, a seeded generator (every run times the same inputs), timing
 * a program, the command line as it was typed, and where the results go (<out>/<name>-<date>[-<label>].json
 * and .md).
 */
import { createRequire } from 'module';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { fileURLToPath } from 'url';
import { parseOptions, positiveInt } from '../options.mjs';

const require = createRequire(import.meta.url);
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

const COMMON_OPTIONS = {
  threads: { type: 'string', default: '2' },
  quick: { type: 'boolean', default: false },
  out: { type: 'string', default: 'bench/results' },
  label: { type: 'string', default: '' },
};

/**
 * Parses the common options (--threads N, --quick, --out DIR, --label NOTE) and the script's own
 * (`extra`, string options in util.parseArgs form). A bad or unknown option prints the usage and exits 2.
 */
export function kernelOptions(usage, extra = {}) {
  const argv = process.argv.slice(2);
  const values = parseOptions(usage, { ...COMMON_OPTIONS, ...extra }, argv);
  const threads = positiveInt(values, 'threads', 2, usage);
  return { ...values, threads, outDir: path.resolve(root, values.out), argv };
}

/** The addon at GPUFORMER_ADDON (a development build) or the one node-gyp-build finds, with `threads` workers. */
export function loadAddon(threads) {
  const native = process.env.GPUFORMER_ADDON
    ? require(path.resolve(process.env.GPUFORMER_ADDON))
    : require('node-gyp-build')(root);
  native.setNumThreads(threads);
  return native;
}

let seed = 12345;
/** A small LCG, uniform in [0, 1): the same sequence every run. */
export function random() {
  seed = (seed * 1103515245 + 12345) >>> 0;
  return seed / 4294967296;
}

/** n floats uniform in [-1, 1). */
export function randomF32(n) {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = random() * 2 - 1;
  return a;
}

/**
 * Times `program` (an array of commands): once to warm up, then repeated until `minSeconds` have passed or
 * `maxRuns` runs (at least 3). Returns the median wall seconds and the mean process CPU seconds per run: on
 * a shared machine the CPU time shows how much of the wall time the threads actually ran.
 */
export function timeProgram(native, program, { minSeconds, maxRuns = 20 }) {
  native.execSync(program);
  const walls = [];
  let cpu = 0;
  const start = process.hrtime.bigint();
  while (walls.length < maxRuns && (walls.length < 3 || Number(process.hrtime.bigint() - start) / 1e9 < minSeconds)) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    native.execSync(program);
    walls.push(Number(process.hrtime.bigint() - t0) / 1e9);
    const c = process.cpuUsage(c0);
    cpu += (c.user + c.system) / 1e6;
  }
  walls.sort((a, b) => a - b);
  return { wall: walls[walls.length >> 1], cpu: cpu / walls.length, runs: walls.length };
}

export const cpuModel = () => os.cpus()[0]?.model.trim() ?? 'unknown CPU';

/** The vector-unit flags of /proc/cpuinfo that decide the kernels (avx2, fma, f16c, avx512*, avx_vnni, amx*). */
export function cpuFlags() {
  const text = fs.existsSync('/proc/cpuinfo') ? fs.readFileSync('/proc/cpuinfo', 'utf8') : '';
  const flags = ((text.match(/^flags\s*:\s*(.*)$/m) || [])[1] || '').split(/\s+/);
  return flags.filter((f) => /^(avx2|fma|f16c|avx512.*|avx_vnni|amx.*)$/.test(f)).sort();
}

/** The CPU kernels' tier in use, e.g. 'avx512 + vnni + bf16' (with what capped it, if anything). */
export function cpuIsa(native) {
  const isa = native.devices().devices[0].isa;
  const words = (l) => [l.tier, ...(l.vnni ? ['vnni'] : []), ...(l.bf16 ? ['bf16'] : []), ...(l.dotprod ? ['dotprod'] : [])].join(' + ');
  return isa.cap ? `${words(isa)} (${isa.cap})` : words(isa);
}

/** The command that reproduces this run, the addon override included. */
export function commandLine(script, argv) {
  const addon = process.env.GPUFORMER_ADDON ? `GPUFORMER_ADDON=${process.env.GPUFORMER_ADDON} ` : '';
  return `${addon}node bench/kernels/${script} ${argv.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`.trim();
}

/** Writes <outDir>/<name>-<date>[-<label>].json and .md; returns the path without extension. */
export function writeResults({ outDir, label }, name, date, json, markdown) {
  fs.mkdirSync(outDir, { recursive: true });
  const stem = path.join(outDir, `${name}-${date.slice(0, 10)}${label ? `-${label.replace(/[^A-Za-z0-9._-]+/g, '-')}` : ''}`);
  fs.writeFileSync(`${stem}.json`, `${JSON.stringify(json, null, 2)}\n`);
  fs.writeFileSync(`${stem}.md`, markdown);
  console.log(`wrote ${stem}.json and .md`);
  return stem;
}
