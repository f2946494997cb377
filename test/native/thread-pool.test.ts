/**
 * The CPU thread pool: a parallel region that starts right after the pool's workers were (re)started must
 * complete; regions end when their chunks are done, whether or not a worker woke for them (more threads than
 * cores: workers often come late); an exception inside a region reaches the caller and the pool goes on. A
 * region that never ends blocks the caller forever, so each case runs in a child process with a deadline
 * rather than in jest's own thread.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

const root = path.resolve(__dirname, '../..');

/**
 * Runs `body` (JavaScript, with `native` bound to the addon, printing "ok" at the end) in a fresh Node process
 * and expects it to finish within `timeoutMs`, print nothing on stderr and end with "ok".
 */
function expectChildOk(body: string, timeoutMs: number): void {
  const explicit = process.env.GPUFORMER_ADDON;
  const load = explicit
    ? `require(${JSON.stringify(path.resolve(explicit))})`
    : `require('node-gyp-build')(${JSON.stringify(root)})`;
  const script = `const native = ${load};\n${body}`;
  const r = spawnSync(process.execPath, ['-e', script], { cwd: root, timeout: timeoutMs, encoding: 'utf8' });
  expect({ hung: r.signal === 'SIGTERM', stderr: r.stderr }).toEqual({ hung: false, stderr: '' });
  expect(r.stdout.trim()).toBe('ok');
}

describe('CPU thread pool', () => {
  test('regions started right after the workers (re)start always complete', () => {
    // A linear op big enough to be split across threads; the pool is rebuilt before every call, so each
    // region races the start of its workers.
    expectChildOk(`
      const K = 256, N = 512, M = 32;
      const x = native.Tensor.fromData('cpu', 'f32', [M, K], new Float32Array(M * K).fill(0.5), 'activations');
      const w = native.Tensor.fromData('cpu', 'f32', [N, K], new Float32Array(N * K).fill(0.25), 'weights');
      const out = native.Tensor.empty('cpu', 'f32', [M, N], 'activations');
      for (let i = 0; i < 300; i++) {
        native.setNumThreads(2 + (i % 3));
        native.execSync([{ op: 'linear', x, w, out }]);
      }
      const got = new Float32Array(out.read());
      if (got.some((v) => v !== K * 0.125)) throw new Error('wrong result ' + got[0]);
      console.log('ok');
    `, 60_000);
  });

  test('thousands of short regions on more threads than cores: each writes every output once, correctly', () => {
    expectChildOk(`
      native.setNumThreads(6);
      const K = 64, N = 96, M = 3;
      const x = native.Tensor.fromData('cpu', 'f32', [M, K], new Float32Array(M * K).fill(0.5), 'activations');
      const w = native.Tensor.fromData('cpu', 'f32', [N, K], new Float32Array(N * K).fill(0.25), 'weights');
      const out = native.Tensor.empty('cpu', 'f32', [M, N], 'activations');
      const poison = new Float32Array(M * N).fill(NaN);
      for (let i = 0; i < 3000; i++) {
        out.write(poison);
        native.execSync([{ op: 'linear', x, w, out }, { op: 'linear', x, w, out }]);
        const got = new Float32Array(out.read());
        if (got.some((v) => v !== K * 0.125)) throw new Error('wrong result at ' + i + ': ' + got.find((v) => v !== K * 0.125));
      }
      console.log('ok');
    `, 120_000);
  });

  test('an exception inside a region reaches the caller, and the pool keeps working', () => {
    // casting to Q8_0 quantizes blocks in parallel chunks and refuses a NaN in one of them
    expectChildOk(`
      native.setNumThreads(4);
      const n = 32 * 4096;
      const good = new Float32Array(n).map((_, i) => Math.sin(i));
      const bad = good.slice();
      bad[n - 40] = NaN;
      const out = native.Tensor.empty('cpu', 'q8_0', [n], 'weights');
      for (let i = 0; i < 50; i++) {
        const x = native.Tensor.fromData('cpu', 'f32', [n], i % 2 ? bad : good, 'activations');
        let code = null;
        try { native.execSync([{ op: 'cast', x, out }]); } catch (e) { code = e.code; }
        if (code !== (i % 2 ? 'ERR_GPUFORMER_INPUT' : null)) throw new Error('call ' + i + ': ' + code);
        x.dispose();
      }
      console.log('ok');
    `, 60_000);
  });
});
