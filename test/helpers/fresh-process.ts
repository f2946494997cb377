/**
 * Running a test's cases in a fresh Node process (fresh-process-child.js): for an environment read once per
 * process (GPUFORMER_CPU_ISA, GPUFORMER_CPU_BASELINE), or for measurements no other test's leftovers may
 * disturb (the memory a process holds). The results come back as JSON.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

import type { CpuIsa } from '../../lib/native';

export interface ChildReply<T> { ok: boolean; result?: T; error?: string; code?: string; isa?: CpuIsa }

/**
 * The command that starts a child Node process: this one's, or GPUFORMER_TEST_NODE's (a JSON array: a command
 * and its first arguments). scripts/test-arm64.sh sets it to qemu-aarch64 and the arm64 node, since an emulated
 * process cannot start another arm64 program by itself.
 */
function nodeCommand(): [string, string[]] {
  const given = process.env.GPUFORMER_TEST_NODE;
  if (!given) return [process.execPath, []];
  const argv = JSON.parse(given) as string[];
  return [argv[0], argv.slice(1)];
}

/**
 * Calls `exportName(arg)` of the TypeScript module `modulePath` in a child process with `env` added to this
 * one's and returns its reply (the result awaited when it is a promise); a child that writes to stderr fails.
 */
export function spawnFreshProcess<T>(modulePath: string, exportName: string, arg: unknown,
  env: Record<string, string> = {}): ChildReply<T> {
  const [command, prefix] = nodeCommand();
  const child = spawnSync(command, [...prefix, path.join(__dirname, 'fresh-process-child.js'), modulePath, exportName, JSON.stringify(arg ?? null)], {
    env: { ...process.env, ...env }, encoding: 'utf8', maxBuffer: 1 << 26,
  });
  if (child.stderr) throw new Error(`child (${JSON.stringify(env)}) wrote to stderr: ${child.stderr}`);
  return JSON.parse(child.stdout) as ChildReply<T>;
}

/** spawnFreshProcess's result; the child's error (with its stack) fails the test. */
export function runInFreshProcess<R>(modulePath: string, exportName: string, arg: unknown, env: Record<string, string> = {}): R {
  const reply = spawnFreshProcess<R>(modulePath, exportName, arg, env);
  if (!reply.ok) throw new Error(`the child process failed: ${reply.error}`);
  return reply.result as R;
}
