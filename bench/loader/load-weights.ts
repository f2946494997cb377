/**
 * Weight loading throughput on the CPU: source bytes per second of lib/loader/weights.loadWeights for the
 * real models in ../shared/models, per target dtype, next to the ceiling a plain read of the same file
 * reaches (page cache warm: both read from memory, so the ratio is the loader's own overhead: native
 * reads, dtype conversion, allocation). Also the time to open each model (headers, config, tokenizer).
 *
 * Compiled with the rest of bench/ (npx tsc -p bench/tsconfig.json, or npm run bench); the models are read
 * from ../shared/models beside the repository:
 *   node bench/.cache/build/bench/loader/load-weights.js [--repeat 5]
 * (GPUFORMER_ADDON=path/to/gpuformer.node picks a development build of the addon.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { openModel } from '../../lib/loader/open';
import type { ModelSource, WeightRequest } from '../../lib/core/source';
import { loadWeights } from '../../lib/loader/weights';
import type { DType } from '../../lib/native';
import { SHARED_MODELS as MODELS } from '../e2e/paths';

const repeatArg = process.argv.indexOf('--repeat');
const REPEAT = repeatArg > 0 ? Number(process.argv[repeatArg + 1]) : 5;
if (!(Number.isInteger(REPEAT) && REPEAT >= 1)) {
  console.error(`--repeat must be a positive integer, got ${process.argv[repeatArg + 1]}`);
  process.exit(2);
}

const nowMs = () => Number(process.hrtime.bigint()) / 1e6;

/** Best of REPEAT runs, in ms (the least disturbed by the other work on a shared machine). */
async function best(fn: () => Promise<void>): Promise<number> {
  let min = Infinity;
  for (let i = 0; i < REPEAT; i++) {
    const t0 = nowMs();
    await fn();
    min = Math.min(min, nowMs() - t0);
  }
  return min;
}

function requests(src: ModelSource, dtype: DType | 'keep'): Map<string, WeightRequest> {
  return new Map([...src.tensors.values()].filter((t) => t.dtype !== 'i64').map((t) => [t.name, { dtype }]));
}

async function plainRead(files: string[]): Promise<void> {
  for (const f of files) {
    const fh = await fs.promises.open(f, 'r');
    const buf = Buffer.allocUnsafe(8 << 20);
    let pos = 0;
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      pos += bytesRead;
    }
    await fh.close();
  }
}

async function main(): Promise<void> {
  const cases: Array<[string, string, Array<DType | 'keep'>]> = [
    ['all-MiniLM-L6-v2 (f32)', path.join(MODELS, 'all-MiniLM-L6-v2'), ['keep', 'f16', 'bf16']],
    ['SmolLM2-135M Q4_1 GGUF', path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf'), ['keep', 'f32']],
  ];
  console.log(`| model | open (ms) | target | load (ms) | MB/s | plain read MB/s | ratio |`);
  console.log(`|---|---|---|---|---|---|---|`);
  for (const [label, where, dtypes] of cases) {
    let src: ModelSource | undefined;
    const openMs = await best(async () => {
      src = await openModel(where);
    });
    const files = [...new Set([...src!.tensors.values()].map((t) => t.file))];
    const bytes = [...src!.tensors.values()].filter((t) => t.dtype !== 'i64').reduce((a, t) => a + t.nbytes, 0);
    const readMs = await best(() => plainRead(files));
    const fileBytes = files.reduce((a, f) => a + fs.statSync(f).size, 0);
    for (const dtype of dtypes) {
      const ms = await best(async () => {
        const loaded = await loadWeights(src!.tensors, requests(src!, dtype), { device: 'cpu' });
        loaded.forEach((t) => t.dispose());
      });
      const mbs = bytes / ms / 1e3;
      const readMbs = fileBytes / readMs / 1e3;
      console.log(`| ${label} | ${openMs.toFixed(1)} | ${dtype} | ${ms.toFixed(1)} | ${mbs.toFixed(0)} | ${readMbs.toFixed(0)} | ${(mbs / readMbs).toFixed(2)} |`);
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
