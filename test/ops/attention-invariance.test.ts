/**
 * Batch invariance of the CPU attention ops, bit for bit (attention-invariance-cases.ts says what is compared):
 * on the kernels this machine picks, and on the portable kernels in a child process (GPUFORMER_CPU_BASELINE=1
 * is read once per process).
 */
import { spawnSync } from 'child_process';
import * as path from 'path';
import { nextSeed } from '../helpers/random';
import { attentionInvariance } from './attention-invariance-cases';

const THREADS = [1, 3];

describe('attention rows do not depend on batching, chunking, the cache or the thread count', () => {
  test(`this machine's kernels, ${THREADS.join(', ')} threads`, () => {
    expect(attentionInvariance({ seed: nextSeed(), threads: THREADS })).toEqual([]);
  });

  test('the portable kernels (child process), 2 threads', () => {
    const child = spawnSync(process.execPath, [
      path.join(__dirname, 'baseline-child.js'), path.join(__dirname, 'attention-invariance-cases.ts'), 'attentionInvariance',
      JSON.stringify({ seed: nextSeed(), threads: [2] }),
    ], { env: { ...process.env, GPUFORMER_CPU_BASELINE: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(child.stderr).toBe('');
    const reply = JSON.parse(child.stdout) as { ok: boolean; result?: string[]; error?: string };
    if (!reply.ok) throw new Error(`baseline child failed: ${reply.error}`);
    expect(reply.result).toEqual([]);
  });
});
