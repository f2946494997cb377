/**
 * `npm run bench` — the end-to-end benchmark: gpuformer and its peers on the same models and inputs, each
 * engine × model in a worker process of its own (clean peak RSS), results into
 * bench/results/<date>-<machine>.json and BENCHMARKS.md (tables and PNG plots). See bench/README.md.
 *
 *   npm run bench                          CPU, every section, peers included (minutes on 2 cores)
 *   npm run bench -- --quick --only embed  a quick look at one section
 *   npm run bench -- --device cuda         on a GPU machine (PyTorch peer via bench/peers/torch_e2e.py)
 */
import { fork } from 'child_process';
import { existsSync, mkdirSync, writeFileSync } from 'fs';
import * as os from 'os';
import { join } from 'path';
import { addonPath } from './e2e/addon';
import { parseArgs, USAGE, type BenchArgs } from './e2e/args';
import { selectModels } from './e2e/catalog';
import { describeMachine, machineSlug, otherCpuShare, readCpu } from './e2e/machine';
import { RESULTS_DIR } from './e2e/paths';
import { planJobs } from './e2e/plan';
import type { Job, JobResult } from './e2e/types';
import { measureCopyBandwidth, runPytorchJob } from './peers/pytorch';
import { writeReport } from './report/write';
import { renderRun, type RunRecord } from './report/markdown';

function runWorker(job: Job, a: BenchArgs): Promise<JobResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, GPUFORMER_NUM_THREADS: String(a.threads), ONNXRUNTIME_NODE_INSTALL: 'skip' };
  const addon = addonPath();
  if (addon) env.GPUFORMER_ADDON = addon;
  return new Promise((resolve) => {
    const child = fork(join(__dirname, 'e2e', 'worker.js'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: JobResult | undefined;
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, a.jobTimeoutSeconds * 1000);
    child.once('message', (r) => { result = r as JobResult; });
    // settle on exit, not on the message: the worker's CPU time only counts as ours once it is reaped
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(result ?? {
        engine: job.engine, engineVersion: '?', device: job.device, threads: job.threads, model: job.model, ok: false, notes: [], wallSeconds: NaN,
        error: timedOut ? `ran past the ${a.jobTimeoutSeconds} s job timeout` : `worker exited (${signal ?? `code ${code}`}) without a result`,
      });
    });
    child.send(job);
  });
}

function resultsPath(dir: string, date: string, slug: string): string {
  mkdirSync(dir, { recursive: true });
  let p = join(dir, `${date}-${slug}.json`);
  for (let i = 2; existsSync(p); i++) p = join(dir, `${date}-${slug}-${i}.json`);
  return p;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  if (args.help) {
    console.log(USAGE);
    return;
  }
  const machine = describeMachine(args.device);
  const started = new Date();
  const quoted = process.argv.slice(2).map((x) => (/[\s'"]/.test(x) ? `'${x.replace(/'/g, `'\\''`)}'` : x));
  const command = ['npm run bench', ...(quoted.length ? ['--', ...quoted] : [])].join(' ');
  console.log(`${command}\n${machine.cpuModel} (gpuformer CPU kernels ${machine.cpuKernels}), ${machine.cores} cores, ${(machine.memoryBytes / 2 ** 30).toFixed(0)} GiB` +
    `${machine.gpu ? `, ${machine.gpu.name}` : ''}; gpuformer ${machine.gpuformerCommit}${machine.dirty ? ' (uncommitted changes)' : ''}`);
  if (machine.loadAverage.start > machine.cores / 2) {
    console.log(`warning: load average ${machine.loadAverage.start.toFixed(1)} on ${machine.cores} cores — other work competes, numbers will be noisy`);
  }
  const models = selectModels(args.device, args.quick ? 'quick' : 'full', args.models);
  if (models.length === 0) throw new Error(`no model of the catalog matches --models ${args.models.join(',')} on ${args.device}`);
  const planned = planJobs(args, models);
  const runStart = readCpu();
  const results: JobResult[] = [];
  for (const p of planned) {
    console.log(`\n${p.engine} · ${p.entry.id}`);
    let job: Job;
    try {
      job = await p.build();
    } catch (e) {
      console.log(`  could not prepare the model: ${(e as Error).message}`);
      continue;
    }
    const before = readCpu();
    const r = job.engine === 'pytorch'
      ? await runPytorchJob(job, args.jobTimeoutSeconds).catch((e): JobResult => ({
        engine: 'pytorch', engineVersion: '?', device: job.device, threads: job.threads, model: job.model, ok: false,
        error: (e as Error).message, notes: [], wallSeconds: NaN,
      }))
      : await runWorker(job, args);
    r.otherCpuShare = otherCpuShare(before, readCpu(), machine.cores);
    if (p.reduced) r.notes.push(`${p.entry.id} ran the quick sizes (reduced on ${args.device}, bench/e2e/catalog.ts)`);
    if (!r.ok) console.log(`  failed: ${r.error}`);
    results.push(r);
  }
  let copyBytesPerSec: number | undefined;
  if (args.device === 'cuda') copyBytesPerSec = await measureCopyBandwidth().catch(() => undefined);
  machine.loadAverage.end = os.loadavg()[0];
  machine.otherCpuShare = otherCpuShare(runStart, readCpu(), machine.cores);
  const record: RunRecord = {
    schema: 1, command, args, machine, startedAt: started.toISOString(), finishedAt: new Date().toISOString(),
    copyBytesPerSec, note: args.note, results,
  };
  console.log(`\n${renderRun(record, 'results.png')}`);
  if (!args.save) return;
  const out = resultsPath(args.outDir ?? RESULTS_DIR, started.toISOString().slice(0, 10), machineSlug(machine, args.device));
  writeFileSync(out, JSON.stringify(record, null, 1) + '\n');
  console.log(`wrote ${out}`);
  if (!args.outDir) for (const f of await writeReport()) console.log(`wrote ${f}`);
}

main().catch((e) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
