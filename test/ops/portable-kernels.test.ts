/**
 * The kernels of attention, softmax and the activations under every CPU tier the machine has (the portable,
 * AVX2 and AVX-512 variants, in child processes with GPUFORMER_CPU_ISA; tiers.ts), and the attention ops at
 * other thread counts (which changes how key ranges are split and merged).
 */
import { native } from '../../lib/native';
import { TOLERANCE } from '../helpers/compare';
import { nextSeed } from '../helpers/random';
import { CaseResult, runCases } from './portable-cases';
import { CPU_TIERS, forEachTier, runInTier } from './tiers';

describe('attention, paged decode, softmax and activations on every CPU kernel tier (GPUFORMER_CPU_ISA)', () => {
  forEachTier(CPU_TIERS.plain, (tier) => {
    const results = runInTier<CaseResult[]>(tier, 'portable-cases.ts', 'runCases', nextSeed());
    expect(results.length).toBeGreaterThan(8);
    for (const r of results) expect({ name: r.name, ok: r.err <= TOLERANCE.f32 }).toEqual({ name: r.name, ok: true });
  });
});

describe('CPU attention at other thread counts', () => {
  const initial = native.numThreads();
  afterAll(() => native.setNumThreads(initial));
  test.each([1, 3, 8])('%i thread(s)', (threads) => {
    native.setNumThreads(threads);
    for (const r of runCases(nextSeed())) expect({ name: r.name, ok: r.err <= TOLERANCE.f32 }).toEqual({ name: r.name, ok: true });
  });
});
