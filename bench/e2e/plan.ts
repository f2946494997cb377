/**
 * Turns the command line into jobs: for every model of the run, gpuformer and each peer that runs on the
 * device, with the scenario sizes of a quick or a full run on that device.
 */
import type { BenchArgs } from './args';
import type { CatalogEntry } from './catalog';
import { FULL_POLICY, QUICK_POLICY } from './repeat';
import type { EmbedScenario, EngineName, GenerateScenario, Job } from './types';

export interface PlannedJob {
  entry: CatalogEntry;
  engine: EngineName;
  /** the model runs the quick run's sizes in a full run (CatalogEntry.reduced) */
  reduced: boolean;
  /** resolves the model path (making random models and GGUF files on demand) and builds the job */
  build: () => Promise<Job>;
}

/** Stream counts of the concurrency runs: 1, 8 and 64 are the points issue 6 asks for. */
export const CONCURRENCY = { quick: [1, 8], cpu: [1, 8, 64], cuda: [1, 4, 8, 16, 64] };

export function embedScenario(a: BenchArgs, quick = a.quick): EmbedScenario | undefined {
  if (!a.only.includes('embed')) return undefined;
  return { batchSizes: quick ? [1, 32] : [1, 32, 256], lengths: ['short', 'long'] };
}

export function generateScenario(a: BenchArgs, entry: CatalogEntry, quick = a.quick): GenerateScenario | undefined {
  const gpu = a.device === 'cuda';
  const maxModelLen = entry.maxModelLen;
  const prefill = quick ? [128] : gpu ? [128, 512, 2048] : [128, 512];
  const s: GenerateScenario = {
    prefillLens: a.only.includes('prefill') ? prefill.filter((n) => n < maxModelLen) : [],
    decode: a.only.includes('decode') ? { promptLen: 32, tokens: quick ? 32 : gpu ? 256 : 128 } : null,
    concurrency: a.only.includes('concurrency') ? (quick ? CONCURRENCY.quick : CONCURRENCY[a.device]) : [],
    mix: quick ? { promptRange: [16, 96], genRange: [8, 32] } : { promptRange: [16, 256], genRange: [16, 128] },
    vocabSize: entry.vocabSize(),
    maxModelLen,
  };
  if (s.prefillLens.length === 0 && !s.decode && s.concurrency.length === 0) return undefined;
  return s;
}

export function planJobs(a: BenchArgs, models: CatalogEntry[]): PlannedJob[] {
  const jobs: PlannedJob[] = [];
  for (const entry of models) {
    const reduced = !a.quick && !!entry.reduced?.includes(a.device);
    const quick = a.quick || reduced;
    const embed = entry.kind === 'encoder' ? embedScenario(a, quick) : undefined;
    const generate = entry.kind === 'decoder' ? generateScenario(a, entry, quick) : undefined;
    if (!embed && !generate) continue;
    const base = { device: a.device, threads: a.threads, policy: a.quick ? QUICK_POLICY : FULL_POLICY, embed, generate };
    const target = async (path: string) => ({
      id: entry.id, kind: entry.kind, path, weights: entry.weights, tokenizerDir: entry.tokenizerDir?.(),
    });
    if (a.engines.includes('gpuformer')) {
      jobs.push({ entry, engine: 'gpuformer', reduced, build: async () => ({ ...base, engine: 'gpuformer', model: await target(await entry.path()) }) });
    }
    for (const p of entry.peers) {
      if (!a.engines.includes(p.engine) || !p.devices.includes(a.device) || (p.fullOnly && a.quick)) continue;
      jobs.push({ entry, engine: p.engine, reduced, build: async () => ({ ...base, engine: p.engine, model: await target(await p.path()) }) });
    }
  }
  return jobs;
}
