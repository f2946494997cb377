/**
 * Running op test cases under every CPU kernel tier this machine has (native/core/cpu_isa.h): each tier in a
 * child process started with GPUFORMER_CPU_ISA (test/helpers/fresh-process.ts), because the tier is fixed
 * when the addon loads. A tier the machine lacks becomes a skipped test whose name says so, so the jest output lists which
 * tiers ran.
 *
 *   forEachTier(CPU_TIERS.all, (tier) => { const r = runInTier(tier, 'linear-cases.ts', 'runCases', cases); … });
 */
import * as path from 'path';

import type { CpuIsaLevel } from '../../lib/native';
import { ChildReply, spawnFreshProcess } from '../helpers/fresh-process';

export interface CpuTierCase {
  /** the GPUFORMER_CPU_ISA value */
  cap: string;
  /** the level the kernels must then run at */
  level: CpuIsaLevel;
  /** the process.arch whose CPUs can have it (every one, for portable) */
  arch?: 'x64' | 'arm64';
}

const level = (tier: CpuIsaLevel['tier'], vnni = false, bf16 = false, dotprod = false): CpuIsaLevel =>
  ({ tier, vnni, bf16, dotprod });

/** Every distinct set of CPU kernels, each only where the machine has it. */
const ALL: CpuTierCase[] = [
  { cap: 'portable', level: level('portable') },
  { cap: 'avx2,novnni', level: level('avx2'), arch: 'x64' },
  { cap: 'avx2', level: level('avx2', true), arch: 'x64' },                        // AVX-VNNI
  { cap: 'avx512,novnni,nobf16', level: level('avx512'), arch: 'x64' },
  { cap: 'avx512,nobf16', level: level('avx512', true), arch: 'x64' },             // AVX512-VNNI
  { cap: 'avx512', level: level('avx512', true, true), arch: 'x64' },              // AVX512-VNNI + AVX512-BF16
  { cap: 'neon,nodotprod', level: level('neon'), arch: 'arm64' },
  { cap: 'neon', level: level('neon', false, false, true), arch: 'arm64' },       // SDOT
];

export const CPU_TIERS = {
  /** for ops whose kernels use every sub-feature (the quantized matmul uses VNNI / SDOT, the bf16 matmul BF16) */
  all: ALL,
  /** for ops with one kernel per tier and no VNNI / BF16 / SDOT variants */
  plain: ALL.filter((t) => ['portable', 'avx2,novnni', 'avx512,novnni,nobf16', 'neon,nodotprod'].includes(t.cap)),
};

/** Runs `exportName(arg)` of `modulePath` (relative to test/ops) in a fresh Node process with these CPU variables. */
export function runChild<T>(cpuEnv: { GPUFORMER_CPU_ISA?: string; GPUFORMER_CPU_BASELINE?: string }, modulePath: string,
  exportName: string, arg: unknown): ChildReply<T> {
  return spawnFreshProcess<T>(path.resolve(__dirname, modulePath), exportName, arg,
    { GPUFORMER_CPU_BASELINE: '', GPUFORMER_CPU_ISA: '', ...cpuEnv });
}

const spawnChild = <T>(cap: string, modulePath: string, exportName: string, arg: unknown): ChildReply<T> =>
  runChild<T>({ GPUFORMER_CPU_ISA: cap }, modulePath, exportName, arg);

const sameLevel = (a: CpuIsaLevel, b: CpuIsaLevel): boolean =>
  a.tier === b.tier && a.vnni === b.vnni && a.bf16 === b.bf16 && a.dotprod === b.dotprod;

/** Whether this machine runs the tier as asked (a probe child per tier of its architecture, asked once per test file). */
const probed = new Map<string, boolean>();
export function machineHas(t: CpuTierCase): boolean {
  if (t.arch && t.arch !== process.arch) return false;
  if (!probed.has(t.cap)) {
    const reply = spawnChild<number>(t.cap, 'tiers.ts', 'probe', 0);
    if (!reply.ok) throw new Error(`probe of GPUFORMER_CPU_ISA=${t.cap} failed: ${reply.error}`);
    probed.set(t.cap, sameLevel(reply.isa!, t.level));
  }
  return probed.get(t.cap)!;
}

/** The probe child's entry point (the reply carries the level it ran at). */
export function probe(): number {
  return 0;
}

/**
 * Defines one test per tier: `fn(tier)` where the machine has it, a skipped test saying why elsewhere. With
 * GPUFORMER_TEST_ALL_TIERS=1 (scripts/test-arm64.sh, whose emulated CPU has every extension) a tier of this
 * architecture that the machine lacks fails instead: a detection that went wrong must not pass as a skip.
 */
export function forEachTier(tiers: CpuTierCase[], fn: (tier: CpuTierCase) => void): void {
  const mustHave = process.env.GPUFORMER_TEST_ALL_TIERS === '1';
  for (const t of tiers) {
    if (machineHas(t)) test(`GPUFORMER_CPU_ISA=${t.cap}`, () => fn(t));
    else if (mustHave && (!t.arch || t.arch === process.arch)) {
      test(`GPUFORMER_CPU_ISA=${t.cap}`, () => {
        throw new Error(`GPUFORMER_TEST_ALL_TIERS=1, but this machine does not run GPUFORMER_CPU_ISA=${t.cap} as ${JSON.stringify(t.level)}`);
      });
    } else test.skip(`GPUFORMER_CPU_ISA=${t.cap} (skipped: this machine lacks it)`, () => undefined);
  }
}

/** Runs `exportName(arg)` of `modulePath` (relative to test/ops) in a child at this tier; checks the tier held. */
export function runInTier<T>(t: CpuTierCase, modulePath: string, exportName: string, arg: unknown): T {
  const reply = spawnChild<T>(t.cap, modulePath, exportName, arg);
  if (!reply.ok) throw new Error(`GPUFORMER_CPU_ISA=${t.cap} child failed: ${reply.error}`);
  if (!sameLevel(reply.isa!, t.level)) {
    throw new Error(`GPUFORMER_CPU_ISA=${t.cap} child ran at ${JSON.stringify(reply.isa)}, not ${JSON.stringify(t.level)}`);
  }
  return reply.result as T;
}

/**
 * Cases that must give the same bits on every tier: each tier runs `exportName(cases)` of `modulePath` in a
 * child, `check` judges its results, and its digests must equal those of `here()` (the cases run in this
 * process, computed once by the caller).
 */
export function expectSameDigestsOnEveryTier<R extends { digest: number }>(tiers: CpuTierCase[], modulePath: string,
  exportName: string, cases: unknown, here: () => R[], check: (results: R[]) => void): void {
  forEachTier(tiers, (tier) => {
    const results = runInTier<R[]>(tier, modulePath, exportName, cases);
    check(results);
    expect(results.map((r) => r.digest)).toEqual(here().map((r) => r.digest));
  });
}
