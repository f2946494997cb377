/**
 * Rewrites BENCHMARKS.md and the plots from every run record in bench/results (newest first). Run by
 * `npm run bench` after a run, and by itself after editing or removing a record:
 *
 *   node bench/.cache/build/bench/report/write.js
 */
import { readdirSync, readFileSync, writeFileSync } from 'fs';
import { basename, join, relative } from 'path';
import { REPO_ROOT, RESULTS_DIR } from '../e2e/paths';
import { renderGoals, renderRun, runTitle, type RunRecord } from './markdown';
import { concurrencySpec, embedSpec, renderPng } from './plots';

export function readRuns(dir = RESULTS_DIR): Array<{ file: string; run: RunRecord }> {
  let files: string[] = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.json'));
  } catch {
    return [];
  }
  return files.map((f) => ({ file: join(dir, f), run: JSON.parse(readFileSync(join(dir, f), 'utf8')) as RunRecord }))
    .filter((x) => x.run.schema === 1)
    .sort((a, b) => b.run.startedAt.localeCompare(a.run.startedAt));
}

export function renderBenchmarks(runs: RunRecord[], runSections: string[]): string {
  return `# Benchmarks

End-to-end speed of gpuformer against its peers on the same weights, the same inputs and the same machine,
measured by \`npm run bench\` (bench/run.ts; how to run it and what each number means: bench/README.md). Every
engine × model runs in a worker process of its own, so peak RSS is that engine's. Ratios are gpuformer ÷ peer
within one run; above 1 means gpuformer is faster. Benchmarks are never timed tests: nothing here is asserted.

## Goals

${runs.length ? renderGoals(runs) : 'No run recorded yet.\n'}
## Runs (newest first)

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
  writeFileSync(md, renderBenchmarks(runs.map((r) => r.run), sections));
  written.push(md);
  return written;
}

if (require.main === module) {
  writeReport().then((files) => files.forEach((f) => console.log(`wrote ${f}`)), (e) => { console.error(e); process.exit(1); });
}
