/**
 * Random-weight GGUF files in the block formats (Q8_0, Q4_0, Q4_1) with the shapes of real models
 * (bench/models/shapes.ts), written straight from random numbers by the project's quantizer (the native
 * reference quantizer weights quantized at load go through, lib/ops/quantize.ts), without a float checkpoint in
 * between: a Llama-2-7B shape in Q4_0 is 3.8 GB of blocks from 6.7 billion random values, drawn by one worker
 * thread per core and quantized across the cores by the native thread pool. Matrices are quantized; norms stay F32 (ones), as llama.cpp's converter keeps 1-D tensors.
 * Tensor names, metadata and the (synthetic) tokenizer come from bench/peers/hf-to-gguf.ts, so gpuformer and
 * llama.cpp read it as any converted model. Written into bench/.cache/models/<name>-<type>.gguf (git-ignored).
 *
 *   node bench/.cache/build/bench/models/random-gguf.js NAME q4_0|q8_0|q4_1 [--out FILE]
 */
import { existsSync, mkdirSync, renameSync } from 'fs';
import { cpus } from 'os';
import { dirname, join } from 'path';
import { Worker } from 'worker_threads';
import { CACHE_DIR } from '../e2e/paths';
import { describeForGguf, type Config } from '../peers/hf-to-gguf';
import { GgufWriter } from '../peers/gguf-writer';
import type { QuantizedDType } from '../../lib/core/dtype';
import { quantizer } from '../e2e/addon';
import type { GgufTensorType } from '../peers/gguf-writer';
import { shapeByName, tensorShapes } from './shapes';

/** Weights uniform in ±0.02·√3 (standard deviation 0.02), as make-random.ts draws them. */
const SPREAD = 0.02 * Math.sqrt(3);
/** Values per worker job: 1 Mi (a multiple of every row length's 32-element blocks). */
const CHUNK = 1 << 20;

export const QUANT_TYPES: Record<QuantizedDType, GgufTensorType> = { q8_0: 'Q8_0', q4_0: 'Q4_0', q4_1: 'Q4_1' };

export function randomGgufPath(name: string, type: string): string {
  return join(CACHE_DIR, 'models', `${name}-${type}.gguf`);
}

/** Workers that draw random chunks; each comes back quantized, in the order it was asked for. */
class Pool {
  private readonly workers: Worker[];
  private readonly pending = new Map<number, { resolve: (v: Float32Array) => void; reject: (e: Error) => void }>();
  private next = 0;
  private turn = 0;

  constructor(size: number) {
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(join(__dirname, 'random-blocks-worker.js'));
      w.on('message', (m: { id: number; values: Float32Array }) => {
        this.pending.get(m.id)!.resolve(m.values);
        this.pending.delete(m.id);
      });
      // a worker that fails fails every chunk still waiting
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      return w;
    });
  }

  async run(type: QuantizedDType, seed: number, n: number): Promise<Uint8Array> {
    const id = this.next++;
    const values = await new Promise<Float32Array>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.workers[this.turn++ % this.workers.length].postMessage({ id, seed, n, spread: SPREAD });
    });
    return quantizer()(type, values);
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

/** Makes (or reuses) the file; returns its path. */
export async function makeRandomGguf(name: string, type: string, out = randomGgufPath(name, type), log = (_: string) => {}): Promise<string> {
  const q = QUANT_TYPES[type as QuantizedDType];
  if (!q) throw new Error(`random-gguf: type must be one of ${Object.keys(QUANT_TYPES).join(', ')}, got ${type}`);
  if (existsSync(out)) return out;
  const shape = shapeByName(name);
  if (shape.kind !== 'decoder' || shape.config.model_type !== 'llama') throw new Error(`random-gguf: ${name} is not a llama shape`);
  const config = shape.config as Config;
  const shapes = new Map(tensorShapes(shape).map((t) => [t.name, t]));
  const w = new GgufWriter();
  // no tokenizer.json in the (non-existent) source directory: the synthetic vocabulary, as make-random's
  const { mappings } = describeForGguf(config, join(CACHE_DIR, 'none'), `${name} (random, ${type})`, q, w);
  const pool = new Pool(Math.max(1, cpus().length));
  log(`making ${out}: random ${shape.like} shape in ${q} with ${cpus().length} workers`);
  try {
    mappings.forEach((m, i) => {
      const t = shapes.get(m.src);
      if (!t) throw new Error(`random-gguf: ${name} has no tensor ${m.src}`);
      if (t.shape.length === 1) {
        const v = new Float32Array(t.shape[0]).fill(t.init === 'ones' ? 1 : 0);
        w.addTensor({ name: m.gguf, shape: t.shape, type: 'F32', chunks: () => [new Uint8Array(v.buffer)] });
        return;
      }
      const n = t.shape.reduce((a, b) => a * b, 1);
      w.addTensor({
        name: m.gguf, shape: t.shape, type: q,
        // a window of chunks in flight on the pool, yielded in order
        chunks: async function* () {
          const window: Array<Promise<Uint8Array>> = [];
          const ask = (start: number) => window.push(pool.run(type as QuantizedDType, 1000003 * (i + 1) + start / CHUNK, Math.min(CHUNK, n - start)));
          let start = 0;
          for (; start < n && window.length < 4 * cpus().length; start += CHUNK) ask(start);
          while (window.length) {
            const bytes = await window.shift()!;
            if (start < n) { ask(start); start += CHUNK; }
            yield bytes;
          }
        },
      });
    });
    mkdirSync(dirname(out), { recursive: true });
    await w.write(`${out}.partial`);
    renameSync(`${out}.partial`, out);
  } finally {
    await pool.close();
  }
  return out;
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const at = args.indexOf('--out');
  const out = at >= 0 ? args.splice(at, 2)[1] : undefined;
  if (args.length !== 2) {
    console.error('usage: node bench/.cache/build/bench/models/random-gguf.js NAME q4_0|q8_0|q4_1 [--out FILE]');
    process.exit(2);
  }
  const t0 = performance.now();
  console.log(await makeRandomGguf(args[0], args[1], out ?? randomGgufPath(args[0], args[1]), console.log));
  console.log(`${((performance.now() - t0) / 1e3).toFixed(1)} s`);
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
