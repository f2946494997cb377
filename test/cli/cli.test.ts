/**
 * The CLI in-process (lib/cli/main with buffer streams): help for every command, usage errors naming the
 * flag, the progress bar (drawn only on a terminal), and the commands on real models: inspect on a fixture,
 * generate with token ids vs the golden continuation, embed vs sentence-transformers, serve answering HTTP.
 */
import * as fs from 'fs';
import * as path from 'path';
import { COMMANDS, main } from '../../lib/cli/main';
import { ProgressBar } from '../../lib/cli/progress';
import { bytes, parse } from '../../lib/cli/args';
import { ENGINE_FLAGS, loadOptions } from '../../lib/cli/engine-flags';
import type { CliIO } from '../../lib/cli/io';
import { FIXTURES, MODELS, goldenI32, readCases, readGolden } from '../models/golden';

class Buffered {
  text = '';
  constructor(public isTTY = false, public columns = 100) {}
  write(s: string) {
    this.text += s;
    return true;
  }
}

function io(extra: Partial<CliIO> = {}) {
  const stdout = new Buffered();
  const stderr = new Buffered();
  return { stdout, stderr, io: { stdout, stderr, ...extra } as CliIO };
}

describe('cli: help and usage errors', () => {
  it('lists every command and gives each its own --help', async () => {
    const a = io();
    expect(await main(['--help'], a.io)).toBe(0);
    for (const name of ['inspect', 'embed', 'generate', 'serve', 'bench', 'pull']) expect(a.stdout.text).toContain(`  ${name}`);
    for (const c of COMMANDS) {
      const b = io();
      expect(await main([c.name, '--help'], b.io)).toBe(0);
      expect(b.stdout.text).toMatch(new RegExp(`^usage: gpuformer ${c.name}`));
    }
    const v = io();
    expect(await main(['--version'], v.io)).toBe(0);
    expect(v.stdout.text.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('reports mistakes with the command usage and status 2', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['inspect'], /MODEL is required/],
      [['inspect', 'x', '--bogus'], /--bogus/],
      [['generate', '--model', 'm', '--max-tokens', 'zero', 'hi'], /--max-tokens must be an integer ≥ 1, got 'zero'/],
      [['generate', 'hello'], /--model is required/],
      [['generate', '--model', 'm', '--chat', 'hi', 'also a prompt'], /--chat takes the message/],
      [['embed', '--model', 'm', '--pooling', 'max', 'x'], /--pooling must be mean, cls or last/],
      [['embed', '--model', 'm', '--precision', 'int4', 'x'], /--precision must be float32, int8, uint8, binary or ubinary, got 'int4'/],
      [['embed', '--model', 'm', '--dimensions', 'half', 'x'], /--dimensions must be an integer ≥ 1, got 'half'/],
      [['serve', '--model', 'm', '--port', '70000'], /--port must be at most 65535/],
      [['serve', '--model', 'm', '--device', 'tpu'], /--device must be auto, cpu, cuda or cuda:N/],
      [['serve', '--model', 'm', '--request-timeout', '0'], /--request-timeout must be a number in \[0\.001, 86400\], got '0'/],
      [['serve', '--model', 'm', '--max-embedding-inputs', 'many'], /--max-embedding-inputs must be an integer ≥ 1, got 'many'/],
      [['serve', '--model', 'm', '--max-n', '0'], /--max-n must be an integer ≥ 1, got '0'/],
      [['inspect', 'x', '--memory-budget', 'lots'], /--memory-budget must be a size/],
      [['inspect', 'x', '--dtype', 'q5_k'], /--dtype must be auto, float32, float16, bfloat16, q8_0, q4_0 or q4_1, got 'q5_k'/],
      [['inspect', 'x', '--gpu-layers=-1'], /--gpu-layers must be an integer ≥ 0, got '-1'/],
      [['inspect', 'x', '--cpu-offload-gb', 'some'], /--cpu-offload-gb must be a number in \[0, 1000000\], got 'some'/],
    ];
    for (const [argv, msg] of cases) {
      const a = io();
      expect(await main(argv, a.io)).toBe(2);
      expect(a.stderr.text).toMatch(msg);
    }
  });

  it('reads sizes and flags', () => {
    const p = parse(['--memory-budget', '4GiB', '--x', '1.5MB'], { 'memory-budget': { type: 'string' }, x: { type: 'string' } });
    expect(bytes(p, 'memory-budget')).toBe(4 * 2 ** 30);
    expect(bytes(p, 'x')).toBe(1.5e6);
  });

  it('--no-enable-prefix-caching turns prefix caching off, --enable-prefix-caching on, both is a usage error', () => {
    const opts = (...argv: string[]) => loadOptions(parse(argv, ENGINE_FLAGS), io().io).options;
    expect(opts('--no-enable-prefix-caching').enablePrefixCaching).toBe(false);
    expect(opts('--enable-prefix-caching').enablePrefixCaching).toBe(true);
    expect('enablePrefixCaching' in opts()).toBe(false);
    expect(() => opts('--enable-prefix-caching', '--no-enable-prefix-caching')).toThrow(/contradict/);
  });

  it('--batch-invariant sets Engine.load batchInvariant; without it the option is left to the default', () => {
    const opts = (...argv: string[]) => loadOptions(parse(argv, ENGINE_FLAGS), io().io).options;
    expect(opts('--batch-invariant').batchInvariant).toBe(true);
    expect('batchInvariant' in opts()).toBe(false);
  });

  it('reports engine errors with their code and status 1', async () => {
    const a = io();
    expect(await main(['inspect', path.join(FIXTURES, 'no-such-model')], a.io)).toBe(1);
    expect(a.stderr.text).toMatch(/ERR_GPUFORMER_INPUT/);
    const b = io();
    expect(await main(['pull', 'org/not-cached', '--offline', '--cache-dir', path.join(FIXTURES, 'no-such-cache')], b.io)).toBe(1);
    expect(b.stderr.text).toMatch(/not in the cache/);
  });
});

describe('cli: progress bar', () => {
  it('draws in place on a terminal only', () => {
    const tty = new Buffered(true);
    const bar = new ProgressBar(tty, 'loading', 'bytes', 0);
    bar.update(50e6, 100e6);
    bar.update(100e6, 100e6);
    bar.finish();
    expect(tty.text.startsWith('\rloading ')).toBe(true);
    expect(tty.text).toContain(' 50% 50.0 MB/100.0 MB');
    expect(tty.text).toContain('100% 100.0 MB/100.0 MB');
    expect(tty.text.endsWith('\n')).toBe(true);
    const pipe = new Buffered(false);
    const quiet = new ProgressBar(pipe, 'loading');
    quiet.update(1, 2);
    quiet.finish();
    expect(pipe.text).toBe('');
    expect(new ProgressBar(pipe, 'n', 'items').render(3, 12)).toMatch(/^n █+░+  25% 3\/12$/);
  });
});

describe('cli: commands on real models', () => {
  it('inspect prints the plan, and --json the same as an object', async () => {
    const a = io();
    expect(await main(['inspect', path.join(FIXTURES, 'llama-gqa'), '--device', 'cpu'], a.io)).toBe(0);
    expect(a.stdout.text).toMatch(/llama \(safetensors\): 2 layers, hidden 256, 4 heads \(2 KV heads\)/);
    expect(a.stdout.text).toMatch(/sequences of maxModelLen that fit at once: \d+/);
    expect(a.stdout.text).toMatch(/cpu kernels: (portable|avx2|avx512)\b.*, \d+ threads/);
    const b = io();
    expect(await main(['inspect', path.join(FIXTURES, 'llama-gqa'), '--device', 'cpu', '--json'], b.io)).toBe(0);
    const x = JSON.parse(b.stdout.text);
    expect(x.source.architecture).toBe('llama');
    expect(x.source.format).toBe('safetensors');
    expect(x.plan.kv.blocks).toBeGreaterThan(0);
    expect(['portable', 'avx2', 'avx512']).toContain(x.cpu.isa.tier);
  });

  it('inspect --dtype q4_0 counts the blocks; --gpu-layers and --cpu-offload-gb plan the split and its transfers', async () => {
    const a = io();
    expect(await main(['inspect', path.join(FIXTURES, 'llama-gqa'), '--device', 'cpu', '--dtype', 'q4_0'], a.io)).toBe(0);
    expect(a.stdout.text).toMatch(/weights in f32 [\d.]+ [kM]B \+ q4_0 [\d.]+ [kM]B \+ q8_0 [\d.]+ [kM]B/);
    const b = io();
    expect(await main(['inspect', path.join(FIXTURES, 'llama3-rope-scaled-sharded'), '--device', 'cuda', '--device-memory', '8GB',
      '--gpu-layers', '1', '--json'], b.io)).toBe(0);
    const x = JSON.parse(b.stdout.text);
    expect(x.plan.offload).toMatchObject({ gpuLayers: 1, hostLayers: [1, 2], from: 'gpuLayers', slots: 2 });
    const c = io();
    expect(await main(['inspect', path.join(FIXTURES, 'llama3-rope-scaled-sharded'), '--device', 'cuda', '--device-memory', '8GB',
      '--cpu-offload-gb', '0.000001'], c.io)).toBe(0);
    expect(c.stdout.text).toMatch(/offload {5}2 of 3 layers on the GPU \(cpuOffloadBytes\); layer 2 \([\d.]+ MB\) stream from pinned host memory/);
    expect(c.stdout.text).toMatch(/per step [\d.]+ MB host → device ÷ 25\.0 GB\/s \(default for PCIe 4\.0 x16 \(no device to measure\)\) = [\d.]+ ms of transfers/);
  });

  it('generate --prompt-ids streams the golden greedy continuation', async () => {
    const c = readCases('llama-gqa')[1];
    const want = Array.from(goldenI32(readGolden('llama-gqa'), `${c.name}.greedy`));
    const a = io();
    const code = await main(['generate', '--model', path.join(FIXTURES, 'llama-gqa'), '--device', 'cpu', '--memory-budget', '256MiB',
      '--prompt-ids', c.input_ids.join(','), '--max-tokens', String(want.length), '--stats'], a.io);
    expect(a.stderr.text).toMatch(/tokens in/);
    expect(code).toBe(0);
    expect(a.stdout.text.trim().split(' ').map(Number)).toEqual(want);
  });

  it('embed prints sentence-transformers\' vectors', async () => {
    const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'all-MiniLM-L6-v2.json'), 'utf8'));
    const sentences = (ref.sentences ?? ref.cases).slice(1, 4) as Array<{ text?: string; sentence?: string; embedding: number[] }>;
    const texts = sentences.map((s) => (s.text ?? s.sentence)!);
    const a = io();
    expect(await main(['embed', '--model', path.join(MODELS, 'all-MiniLM-L6-v2'), '--device', 'cpu', ...texts], a.io)).toBe(0);
    const rows = a.stdout.text.trim().split('\n').map((l) => JSON.parse(l) as number[]);
    expect(rows).toHaveLength(texts.length);
    rows.forEach((v, i) => {
      const w = sentences[i].embedding;
      const dot = v.reduce((s, x, j) => s + x * w[j], 0);
      expect(dot / (Math.hypot(...v) * Math.hypot(...w))).toBeGreaterThan(0.9999);
    });
    // --dimensions and --precision: the signs of the first 16 components, packed
    const b = io();
    expect(await main(['embed', '--model', path.join(MODELS, 'all-MiniLM-L6-v2'), '--device', 'cpu', '--dimensions', '16', '--precision', 'ubinary',
      ...texts], b.io)).toBe(0);
    const packed = b.stdout.text.trim().split('\n').map((l) => JSON.parse(l) as number[]);
    packed.forEach((bytes, i) => expect(bytes).toEqual([0, 8].map((k) => rows[i].slice(k, k + 8).reduce((n, x) => 2 * n + (x > 0 ? 1 : 0), 0))));
  });

  it('serve answers on loopback until interrupted, with its limits and browser flags taken', async () => {
    let stop!: () => void;
    const interrupted = new Promise<void>((r) => (stop = r));
    const a = io({ interrupted });
    const done = main(['serve', '--model', path.join(FIXTURES, 'llama-gqa'), '--device', 'cpu', '--memory-budget', '256MiB', '--port', '0',
      '--served-model-name', 'tiny', '--quiet', '--max-n', '2', '--allowed-origins', 'http://localhost:3000,http://app.test',
      '--allowed-hosts', 'box.test', '--request-timeout', '5'], a.io);
    // however long loading takes here; a serve that exits instead of listening fails with what it said
    let exited = false;
    done.then(() => { exited = true; }, () => { exited = true; });
    while (!/at http/.test(a.stdout.text)) {
      if (exited) throw new Error(`serve did not start: ${a.stderr.text}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const url = /at (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(a.stdout.text)![1];
    const models = (await (await fetch(`${url}/models`)).json()) as { data: Array<{ id: string }> };
    expect(models.data[0].id).toBe('tiny');
    const c = readCases('llama-gqa')[0];
    const r = await fetch(`${url}/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'tiny', prompt: c.input_ids, max_tokens: 4, temperature: 0 }),
    });
    expect(r.status).toBe(200);
    const body = (await r.json()) as { usage: { completion_tokens: number } };
    expect(body.usage.completion_tokens).toBe(4);
    const n3 = await fetch(`${url}/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'tiny', prompt: c.input_ids, n: 3 }),
    });
    expect(n3.status).toBe(400);
    expect(((await n3.json()) as { error: { message: string } }).error.message).toMatch(/at most 2 .*--max-n/);
    const cors = await fetch(`${url}/models`, { headers: { origin: 'http://app.test' } });
    expect(cors.headers.get('access-control-allow-origin')).toBe('http://app.test');
    stop();
    expect(await done).toBe(0);
  });
});
