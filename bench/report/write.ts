/**
 * Rewrites BENCHMARKS.md and the plots from every run record in bench/results (newest first). Run by
 * `npm run bench` after a run, and by itself after editing or removing a record:
 *
 *   node bench/.cache/build/bench/report/write.js
 */
import { type Dirent, existsSync, readdirSync, readFileSync, writeFileSync } from 'fs';
import { basename, join, relative } from 'path';
import { REPO_ROOT, RESULTS_DIR } from '../e2e/paths';
import { renderGpuFloors } from './gpu';
import { renderGoals, renderRun, runTitle, type RunRecord } from './markdown';
import { concurrencySpec, embedSpec, renderPng } from './plots';
import { renderFaultTests, renderKernelLinks, renderLoadTests, type FaultTestRecord, type KernelRecord, type LoadTestRecord } from './side-results';

/**
 * Every JSON record in the results folder and in its folders one level down (a GPU machine's run keeps its
 * records, logs and the commands that made them together, e.g. bench/results/gpu-2026-12-04-h200/), parsed.
 */
function readRecords(dir: string, depth = 1): Array<{ file: string; record: Record<string, unknown> }> {
  let entries: Dirent[] = [];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) => {
    const file = join(dir, e.name);
    if (e.isDirectory()) return depth > 0 ? readRecords(file, depth - 1) : [];
    return e.name.endsWith('.json') ? [{ file, record: JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown> }] : [];
  });
}

/** The end-to-end run records (npm run bench), newest first. */
export function readRuns(dir = RESULTS_DIR): Array<{ file: string; run: RunRecord }> {
  return readRecords(dir).filter((x) => x.record.schema === 1)
    .map(({ file, record }) => ({ file, run: record as unknown as RunRecord }))
    .sort((a, b) => b.run.startedAt.localeCompare(a.run.startedAt));
}

/** Folders of `dir` that hold a whole machine run (a README.md beside its records), newest (by name) first. */
function runFolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && existsSync(join(dir, e.name, 'README.md')))
      .map((e) => join(dir, e.name)).sort().reverse();
  } catch {
    return [];
  }
}

type Records<R> = Array<{ file: string; record: R }>;
export interface SideResults {
  loadTests: Records<LoadTestRecord>;
  faultTests: Records<FaultTestRecord>;
  kernels: Records<KernelRecord>;
  gpuKernels: Records<KernelRecord>;
  /** folders of bench/results holding one GPU machine run each (with a README.md), newest first, relative paths */
  gpuRunFolders: string[];
}

/** Load-test and kernel records (told apart by their `bench` field), newest first, paths relative to the repository. */
export function readSideResults(dir = RESULTS_DIR): SideResults {
  const all = readRecords(dir).map(({ file, record }) => ({ file: relative(REPO_ROOT, file), record }))
    .sort((a, b) => String(b.record.date).localeCompare(String(a.record.date)));
  return {
    loadTests: all.filter((x) => x.record.bench === 'load-test') as unknown as Array<{ file: string; record: LoadTestRecord }>,
    faultTests: all.filter((x) => x.record.bench === 'fault-test') as unknown as Array<{ file: string; record: FaultTestRecord }>,
    kernels: all.filter((x) => ['cpu-gemm', 'cpu-attention', 'cpu-sampling'].includes(x.record.bench as string)) as unknown as Array<{ file: string; record: KernelRecord }>,
    gpuKernels: all.filter((x) => x.record.bench === 'cuda-kernels' && !x.record.dryRun) as unknown as Array<{ file: string; record: KernelRecord }>,
    gpuRunFolders: runFolders(dir).map((f) => relative(REPO_ROOT, f)),
  };
}

export function renderBenchmarks(runs: RunRecord[], runSections: string[], side: SideResults = { loadTests: [], faultTests: [], kernels: [], gpuKernels: [], gpuRunFolders: [] }): string {
  const load = renderLoadTests(side.loadTests);
  const faults = renderFaultTests(side.faultTests);
  const kernels = renderKernelLinks(side.kernels);
  const gpuKernels = renderKernelLinks(side.gpuKernels);
  const floors = renderGpuFloors(runs);
  const folders = side.gpuRunFolders.map((f) => `- [${basename(f)}](${f}/README.md)`).join('\n');
  const gpu = floors || gpuKernels || folders
    ? `## GPU: decode against the bandwidth floor\n\n${floors}` +
      `${gpuKernels ? `\nGPU kernel benchmarks (bench/kernels/cuda-kernels.mjs):\n\n${gpuKernels}` : ''}` +
      `${folders ? `\nEach GPU machine run in full (commands, logs, test/gpu results, the ncu step breakdown of a decode step):\n\n${folders}\n` : ''}\n`
    : '';
  return `# Benchmarks

End-to-end speed of gpuformer against its peers on the same weights, the same inputs and the same machine,
measured by \`npm run bench\` (bench/run.ts; how to run it and what each number means: bench/README.md). Every
engine × model runs in a worker process of its own, so peak RSS is that engine's. Ratios are gpuformer ÷ peer
within one run; above 1 means gpuformer is faster. Benchmarks are never timed tests: nothing here is asserted.

No linux-arm64 numbers: CI tests the linux-arm64 binary only under qemu-aarch64 emulation (npm run test:arm64),
which translates every instruction, so its timings say nothing about an Arm CPU. Arm numbers will come from runs
on Arm hardware.

## Goals

${runs.length ? renderGoals(runs) : 'No run recorded yet.\n'}
${gpu}${load ? `## Load test of \`gpuformer serve\` (bench/e2e/load-test.mjs)\n\n${load}\n` : ''}${faults ? `## Load-and-fault test of \`gpuformer serve\` (bench/e2e/fault-test.mjs)\n\n${faults}\n` : ''}${kernels ? `## CPU kernel benchmarks (bench/kernels)\n\n${kernels}\n` : ''}## Runs (newest first)

${runSections.join('\n---\n\n')}`;
}

/** Writes the plots of every run and BENCHMARKS.md; returns the files written. */
export async function writeReport(): Promise<string[]> {
  const runs = readRuns();
  const written: string[] = [];
  const sections: string[] = [];
  for (const { file, run } of runs) {
    const stem = file.replace(/\.json$/, '');
    const plots: string[] = [];
    for (const [suffix, spec] of [['embed', embedSpec(run, runTitle(run))], ['concurrency', concurrencySpec(run, runTitle(run))]] as const) {
      if (!spec) continue;
      const png = `${stem}-${suffix}.png`;
      writeFileSync(png, await renderPng(spec));
      written.push(png);
      plots.push(relative(REPO_ROOT, png));
    }
    sections.push(renderRun(run, basename(stem), plots) + `\nRecord: [${relative(REPO_ROOT, file)}](${relative(REPO_ROOT, file)})\n`);
  }
  const md = join(REPO_ROOT, 'BENCHMARKS.md');
  writeFileSync(md, renderBenchmarks(runs.map((r) => r.run), sections, readSideResults()));
  written.push(md);
  return written;
}

if (require.main === module) {
  writeReport().then((files) => files.forEach((f) => console.log(`wrote ${f}`)), (e) => { console.error(e); process.exit(1); });
}
