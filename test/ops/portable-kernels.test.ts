/**
 * The portable (baseline x86-64) kernels of attention, softmax and the activations, run in a child process
 * with GPUFORMER_CPU_BASELINE=1, and the attention ops at other thread counts (which changes how key
 * ranges are split and merged).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { native } from '../../lib/native';
import { TOLERANCE } from '../helpers/compare';
import { nextSeed } from '../helpers/random';
import { CaseResult, runCases } from './portable-cases';

describe('CPU ops on the portable kernels (GPUFORMER_CPU_BASELINE=1, child process)', () => {
  test('attention, paged decode, softmax and activations match the float64 references', () => {
    const child = spawnSync(process.execPath, [
      path.join(__dirname, 'baseline-child.js'), path.join(__dirname, 'portable-cases.ts'), 'runCases', JSON.stringify(nextSeed()),
    ], { env: { ...process.env, GPUFORMER_CPU_BASELINE: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(child.stderr).toBe('');
    const reply = JSON.parse(child.stdout) as { ok: boolean; result?: CaseResult[]; error?: string };
    if (!reply.ok) throw new Error(`baseline child failed: ${reply.error}`);
    expect(reply.result!.length).toBeGreaterThan(8);
    for (const r of reply.result!) expect({ name: r.name, ok: r.err <= TOLERANCE.f32 }).toEqual({ name: r.name, ok: true });
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
