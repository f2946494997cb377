/**
 * The load-and-fault script's quick run (bench/e2e/fault-test.mjs --quick, in a child process) against this
 * process's server over a model-free engine, a generator and an embedding model: concurrent streams,
 * mid-stream disconnects, slow bodies and headers, oversized and malformed requests while /health is polled;
 * every check of the script must pass (KV blocks, queues and memory back to their starting values, RSS
 * within bounds). The full run against the real models is documented in bench/README.md.
 */
import { execFile } from 'child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import * as path from 'path';
import { OpenAIServer } from '../../lib/server/server';
import { FakeEngine } from './fake-engine';

const SCRIPT = path.resolve(__dirname, '../../bench/e2e/fault-test.mjs');
/**
 * The server's request timeout. node starts a connection's header deadline when it accepts it and judges it
 * before reading what has arrived since: a request that comes while the server's process is held up longer
 * than this gets a 408 (at 0.3 s that happened under two busy loops on two cores, where the fake engine's
 * megabyte prompt held it up 1.7 s), and so does a request fetch sends on a connection it opened and left
 * unused longer than this (seen at 2 s, once in 42 loaded runs). fetch drops idle connections after 4 s,
 * so the timeout is longer. The slow clients take four timeouts to send; this sets how long they last.
 */
const TIMEOUT_S = 5;
/** the script stops itself after this long (and reports what was still running); jest's timeout is 120 s */
const DURATION_S = 90;

interface Summary {
  passed: boolean;
  backToBaseline: boolean;
  kind: string;
  scenarios: Array<{ name: string; count: number; failed: number; failures: string[] }>;
}

/**
 * Runs the script against `server` (this process, whose RSS it watches); resolves with its exit code, output
 * and summary (null when it wrote none: it failed before the end, and its output says why). Never throws, so
 * a failing script fails the test with its output rather than leaving the test waiting.
 */
function runScript(server: OpenAIServer, dir: string): Promise<{ code: number; output: string; summary: Summary | null }> {
  const out = path.join(dir, 'fault.json');
  rmSync(out, { force: true });
  return new Promise((resolve) => {
    execFile(process.execPath, [SCRIPT, '--url', server.url.replace(/\/v1$/, ''), '--quick', '--request-timeout', String(TIMEOUT_S),
      '--pid', String(process.pid), '--json', out, '--duration', String(DURATION_S)], { timeout: (DURATION_S + 20) * 1000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, output: stdout + stderr, summary: existsSync(out) ? JSON.parse(readFileSync(out, 'utf8')) as Summary : null });
    });
  });
}

describe('the load-and-fault script, quick run', () => {
  let dir: string;
  beforeAll(() => { dir = mkdtempSync(path.join(tmpdir(), 'gf-fault-')); });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const kind of ['decoder', 'encoder'] as const) {
    it(`leaves ${kind === 'decoder' ? 'a generation' : 'an embedding'} server as it found it`, async () => {
      const engine = new FakeEngine(kind, 256);
      const server = new OpenAIServer(engine, { modelId: `fake-${kind}`, port: 0, requestTimeoutMs: TIMEOUT_S * 1000 });
      await server.listen();
      try {
        const { code, output, summary } = await runScript(server, dir);
        if (code !== 0 || !summary) throw new Error(`the fault script failed (exit ${code}${summary ? '' : ', no summary written'}):\n${output}`);
        expect(summary).toMatchObject({ passed: true, backToBaseline: true, kind: kind === 'decoder' ? 'generation' : 'embedding' });
        const names = summary.scenarios.map((s) => s.name);
        expect(names).toEqual(expect.arrayContaining([kind === 'decoder' ? 'mid-stream disconnects' : 'disconnects mid-request', 'slow bodies (408)', 'slow headers (closed)',
          'oversized and malformed requests refused', '/health during them']));
        for (const s of summary.scenarios) {
          expect(s.count).toBeGreaterThan(0);
          expect(s.failures).toEqual([]);
        }
        expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
      } finally {
        await server.close();
        await engine.loop.shutdown();
      }
    });
  }
});
