/**
 * The portable (baseline x86-64) kernels of attention, softmax and the activations, run in a child process
 * with GPUFORMER_CPU_BASELINE=1, and the attention ops at other thread counts (which changes how key
 * ranges are split and merged).
 */
import { native } from '../../lib/native';
import { TOLERANCE } from '../helpers/compare';
import { nextSeed } from '../helpers/random';
import { runOnBaseline } from './baseline';
import { CaseResult, runCases } from './portable-cases';

describe('CPU ops on the portable kernels (GPUFORMER_CPU_BASELINE=1, child process)', () => {
  test('attention, paged decode, softmax and activations match the float64 references', () => {
    const results = runOnBaseline<CaseResult[]>('portable-cases.ts', 'runCases', nextSeed());
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
