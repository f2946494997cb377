/**
 * The GPU peer: bench/peers/torch_e2e.py (PyTorch + Hugging Face transformers + sentence-transformers) in a
 * Python process of its own, given the same Job on stdin and answering a JobResult on stdout, so its
 * numbers sit beside gpuformer's in the same report.
 */
import { spawn } from 'child_process';
import { join } from 'path';
import { REPO_ROOT } from '../e2e/paths';
import type { Job, JobResult } from '../e2e/types';

const SCRIPT = join(REPO_ROOT, 'bench', 'peers', 'torch_e2e.py');
const PYTHON = process.env.PYTHON ?? 'python3';

function runPython(args: string[], input: string, timeoutSeconds: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, [SCRIPT, ...args], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`torch_e2e.py ran past ${timeoutSeconds} s`)); }, timeoutSeconds * 1000);
    child.stdout.on('data', (d) => { out += d; });
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`torch_e2e.py exited with ${code}`));
    });
    child.stdin.end(input);
  });
}

export async function runPytorchJob(job: Job, timeoutSeconds: number): Promise<JobResult> {
  const out = await runPython(['--job', '-'], JSON.stringify(job), timeoutSeconds);
  return JSON.parse(out.trim().split('\n').pop()!) as JobResult;
}

/** Device-to-device copy bandwidth in bytes/s (read + write), the bound single-stream decode is held to. */
export async function measureCopyBandwidth(): Promise<number> {
  const out = await runPython(['--bandwidth'], '', 300);
  return JSON.parse(out.trim().split('\n').pop()!).copyBytesPerSec as number;
}
