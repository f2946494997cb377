/**
 * `gpuformer bench`: the end-to-end benchmark suite (bench/run.ts, `npm run bench`) and the server load test
 * (bench/e2e/load-test.mjs). Both live in the source repository, not in the published package.
 */
import { spawn } from 'child_process';
import { existsSync } from 'fs';
import * as path from 'path';
import { UsageError } from '../args';
import type { CliIO } from '../io';
import type { Command } from './command';

/** The repository root: the nearest parent holding gpuformer's package.json. */
function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    if (existsSync(pkg) && require(pkg).name === 'gpuformer') return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new UsageError('cannot find the gpuformer package root');
    dir = up;
  }
}

function runChild(cmd: string, args: string[], cwd: string, io: CliIO): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: 'inherit' });
    io.interrupted?.then(() => child.kill('SIGINT'));
    child.once('error', reject);
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

export const bench: Command = {
  name: 'bench',
  summary: 'run the benchmark suite, or `bench load` for the server load test',
  usage: `usage: gpuformer bench [BENCH OPTIONS]      the end-to-end benchmarks (same as npm run bench -- OPTIONS)
       gpuformer bench load [LOAD OPTIONS]  N concurrent streaming clients against a server on loopback
                                            (bench/e2e/load-test.mjs; --help there lists its options)
both need the source repository (the benchmarks are not part of the published package)`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const root = packageRoot();
    if (argv[0] === 'load') {
      const script = path.join(root, 'bench', 'e2e', 'load-test.mjs');
      if (!existsSync(script)) throw new UsageError(`the load test is not here (${script}); it lives in the gpuformer source repository`);
      return runChild(process.execPath, [script, ...argv.slice(1)], root, io);
    }
    if (!existsSync(path.join(root, 'bench', 'run.ts'))) {
      throw new UsageError(`the benchmark suite is not here (${path.join(root, 'bench')}); it lives in the gpuformer source repository`);
    }
    const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
    return runChild(npm, ['run', '--silent', 'bench', '--', ...argv], root, io);
  },
};
