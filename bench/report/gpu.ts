/**
 * The GPU part of BENCHMARKS.md: decode against its floor. A decode step reads every weight once, so one
 * stream cannot beat weight bytes ÷ copy bandwidth per token (the bandwidth measured in the same run, read +
 * write, as bench/kernels/cuda-kernels.mjs and bench/peers/torch_e2e.py --bandwidth measure it); N streams
 * share one read of the weights per step, so their floor is N tokens per that time (the KV cache they also
 * read is small next to the weights at these lengths). Pure functions of the run records, like markdown.ts.
 */
import { readdirSync, readFileSync } from 'fs';
import { join } from 'path';
import type { RunRecord } from './markdown';
import type { JobResult } from '../e2e/types';

interface EngineMemoryLike { weightsBytes?: number }

const fmt = (x: number | null | undefined, digits = 3): string => {
  if (x == null || !Number.isFinite(x)) return '—';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
};
const pct = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(0)} %`);
const gb = (b: number) => `${(b / 1e9).toFixed(2)} GB`;

/** The weight bytes one decode step reads: the engine's own count (gpuformer's and PyTorch's records both carry it). */
export function weightBytes(r: JobResult): number | undefined {
  const w = (r.engineMemory as EngineMemoryLike | undefined)?.weightsBytes;
  return typeof w === 'number' && w > 0 ? w : undefined;
}

export interface FloorRow {
  run: RunRecord;
  model: string;
  weights: string;
  weightBytes: number;
  /** seconds per token at the copy bandwidth */
  floorSeconds: number;
  gpuformerTokensPerSec?: number;
  pytorchTokensPerSec?: number;
  /** gpuformer's tokens/s ÷ the floor's */
  ofFloor?: number;
  /** all-streams points of gpuformer: streams, tokens/s, ITL p50 ms, fraction of the N-stream floor */
  streams: Array<{ n: number; tokensPerSec: number; itlP50Ms: number; ofFloor: number }>;
}

/** One row per CUDA run × decoder model that gpuformer decoded, newest run first. */
export function floorRows(runs: RunRecord[]): FloorRow[] {
  const rows: FloorRow[] = [];
  for (const run of runs) {
    if (run.args.device !== 'cuda' || !run.copyBytesPerSec) continue;
    const ok = run.results.filter((r) => r.ok);
    for (const g of ok.filter((r) => r.engine === 'gpuformer' && (r.decode || r.concurrency?.length))) {
      const w = weightBytes(g);
      if (!w) continue;
      const floorSeconds = w / run.copyBytesPerSec;
      const torch = ok.find((r) => r.engine === 'pytorch' && r.model.id === g.model.id);
      const tps = g.decode?.tokensPerSec.median;
      rows.push({
        run, model: g.model.id, weights: g.model.weights, weightBytes: w, floorSeconds,
        gpuformerTokensPerSec: tps, pytorchTokensPerSec: torch?.decode?.tokensPerSec.median,
        ofFloor: tps != null ? tps * floorSeconds : undefined,
        streams: (g.concurrency ?? []).map((c) => ({
          n: c.concurrency, tokensPerSec: c.tokensPerSec, itlP50Ms: c.interTokenMs.median, ofFloor: (c.tokensPerSec * floorSeconds) / c.concurrency,
        })),
      });
    }
  }
  return rows;
}

/** The GPU section: floors beside the numbers, one stream and concurrent streams. '' when no CUDA run decoded. */
export function renderGpuFloors(runs: RunRecord[]): string {
  const rows = floorRows(runs);
  if (rows.length === 0) return '';
  const when = (r: RunRecord) => `${r.startedAt.slice(0, 16).replace('T', ' ')}${r.args.quick ? ' quick' : ''}`;
  const one = rows.filter((r) => r.gpuformerTokensPerSec != null).map((r) => `| ${when(r.run)} | ${r.run.machine.gpu?.name ?? 'GPU'} | ${r.model} | ` +
    `${gb(r.weightBytes)} | ${fmt(r.run.copyBytesPerSec! / 1e9)} GB/s | ${fmt(r.floorSeconds * 1e3)} ms (${fmt(1 / r.floorSeconds)}) | ` +
    `${fmt(1e3 / r.gpuformerTokensPerSec!)} ms (${fmt(r.gpuformerTokensPerSec)}) | ${pct(r.ofFloor)} | ${fmt(r.pytorchTokensPerSec)} |`);
  const many = rows.flatMap((r) => r.streams.filter((s) => s.n > 1).map((s) => `| ${when(r.run)} | ${r.model} | ${s.n} | ` +
    `${fmt(s.tokensPerSec)} | ${fmt((s.n / r.floorSeconds))} | ${pct(s.ofFloor)} | ${fmt(s.itlP50Ms)} ms | ${fmt(r.floorSeconds * 1e3)} ms |`));
  const parts = [
    'A decode step reads every weight once, so one stream\'s floor is weight bytes ÷ copy bandwidth per token (the copy ' +
      'bandwidth measured in the same run, read + write counted); N streams share that read, so their floor is N tokens per ' +
      'that time (their KV cache adds little at these lengths). "of floor" = measured ÷ floor rate.',
    '',
    '| run (UTC) | GPU | model | weights | copy bandwidth | floor: ms/token (tokens/s) | gpuformer: ms/token (tokens/s) | of floor | PyTorch tokens/s |',
    '|---|---|---|---|---|---|---|---|---|',
    ...one,
  ];
  if (many.length) {
    parts.push('', '| run (UTC) | model | streams | gpuformer tokens/s (all streams) | floor tokens/s | of floor | ITL p50 | floor step |',
      '|---|---|---|---|---|---|---|---|', ...many);
  }
  return parts.join('\n') + '\n';
}

/** `node bench/.cache/build/bench/report/gpu.js DIR`: the floors table of the run records in DIR (scripts/gpu-check.sh). */
function main(): void {
  const dir = process.argv[2];
  if (!dir) {
    console.error('usage: node bench/.cache/build/bench/report/gpu.js DIR');
    process.exit(2);
  }
  const runs = readdirSync(dir).filter((f) => f.endsWith('.json'))
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord).filter((r) => r.schema === 1);
  const md = renderGpuFloors(runs);
  if (md) console.log(md);
}

if (require.main === module) main();
