/**
 * Running op cases on the portable (baseline x86-64) kernels in a fresh Node process (the CPU tier is fixed
 * when the addon loads). tiers.ts runs cases under every tier the machine has; this is its portable case.
 */
import { CPU_TIERS, runInTier } from './tiers';

/**
 * Calls `exportName(arg)` of `caseModule` (a file of test/ops) in a child process on the portable kernels and
 * returns its result; the child's error (with its stack) fails the test.
 */
export function runOnBaseline<R>(caseModule: string, exportName: string, arg: unknown): R {
  return runInTier<R>(CPU_TIERS.plain[0], caseModule, exportName, arg);
}
