/**
 * Batch invariance of the CPU attention ops, bit for bit (attention-invariance-cases.ts says what is compared):
 * on the kernels this machine picks, and on the portable kernels in a child process (GPUFORMER_CPU_BASELINE=1
 * is read once per process).
 */
import { nextSeed } from '../helpers/random';
import { attentionInvariance } from './attention-invariance-cases';
import { runOnBaseline } from './baseline';

const THREADS = [1, 3];

describe('attention rows do not depend on batching, chunking, the cache or the thread count', () => {
  test(`this machine's kernels, ${THREADS.join(', ')} threads`, () => {
    expect(attentionInvariance({ seed: nextSeed(), threads: THREADS })).toEqual([]);
  });

  test('the portable kernels (child process), 2 threads', () => {
    expect(runOnBaseline<string[]>('attention-invariance-cases.ts', 'attentionInvariance', { seed: nextSeed(), threads: [2] })).toEqual([]);
  });
});
