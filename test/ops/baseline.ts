/**
 * Running op cases on the portable (baseline x86-64) kernels: GPUFORMER_CPU_BASELINE=1 is read once per
 * process, so the cases run in a fresh Node process (baseline-child.js) and their results come back as JSON.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

/**
 * Calls `exportName(arg)` of `caseModule` (a file of test/ops) in a child process on the portable kernels and
 * returns its result; the child's error (with its stack) fails the test.
 */
export function runOnBaseline<R>(caseModule: string, exportName: string, arg: unknown): R {
  const child = spawnSync(process.execPath, [
    path.join(__dirname, 'baseline-child.js'), path.join(__dirname, caseModule), exportName, JSON.stringify(arg),
  ], { env: { ...process.env, GPUFORMER_CPU_BASELINE: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 });
  expect(child.stderr).toBe('');
  const reply = JSON.parse(child.stdout) as { ok: boolean; result?: R; error?: string };
  if (!reply.ok) throw new Error(`baseline child failed: ${reply.error}`);
  return reply.result as R;
}
