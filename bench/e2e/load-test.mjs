#!/usr/bin/env node
/**
 * Load test for `gpuformer serve`: N concurrent streaming clients on loopback for a bounded time.
 * Reports requests/s, output tokens/s, time-to-first-token and inter-token-latency percentiles, then checks
 * that the server's KV blocks and device memory went back to their baseline (read from /metrics).
 *
 *   node bench/e2e/load-test.mjs --url http://127.0.0.1:8000 --concurrency 8 --requests 200 --duration 30
 *   node bench/e2e/load-test.mjs --model ../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf --chat
 *
 * With --model it starts its own server (dist/cli.js serve, port 0) and stops it at the end, and also reports
 * that server process's resident memory (baseline, peak, after; Linux /proc) beside the /metrics figures.
 * Only loopback addresses are accepted: this is a local benchmark, never a load generator against others.
 * Exit status: 0 when everything went back to baseline and no request failed, 1 otherwise, 2 on bad options.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOptions, positiveInt as positiveIntOption } from '../options.mjs';

const USAGE = `usage: node bench/e2e/load-test.mjs (--url URL | --model MODEL) [options]
  --url URL            a running server on loopback (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT)
  --model MODEL        start 'gpuformer serve --model MODEL --port 0' for the test (needs npm run build:ts)
  --serve-args ARGS    extra flags for that server, e.g. "--device cpu --max-num-seqs 16"
  --concurrency N      concurrent streaming clients (default 8)
  --requests N         stop starting requests after N in all (default 200)
  --duration S         stop starting requests after S seconds (default 30); requests still running
                       at 2·S + 30 s are aborted
  --max-tokens N       tokens per request (default 64)
  --prompt TEXT        the prompt (default: a short story opening); each client adds its own number
  --chat               use /v1/chat/completions instead of /v1/completions
  --api-key KEY        sent as Authorization: Bearer KEY
  --json PATH          also write the results as JSON (with the command, the machine and the date)`;

const args = parseOptions(USAGE, {
  url: { type: 'string' }, model: { type: 'string' }, 'serve-args': { type: 'string' }, concurrency: { type: 'string' },
  requests: { type: 'string' }, duration: { type: 'string' }, 'max-tokens': { type: 'string' }, prompt: { type: 'string' },
  chat: { type: 'boolean' }, 'api-key': { type: 'string' }, json: { type: 'string' },
});
const positiveInt = (name, fallback) => positiveIntOption(args, name, fallback, USAGE);

const concurrency = positiveInt('concurrency', 8);
const maxRequests = positiveInt('requests', 200);
const durationS = positiveInt('duration', 30);
const maxTokens = positiveInt('max-tokens', 64);
const prompt = args.prompt ?? 'Once upon a time, in a small village by the sea, there lived';
const headers = { 'content-type': 'application/json', ...(args['api-key'] ? { authorization: `Bearer ${args['api-key']}` } : {}) };

/** Loopback only: 127.0.0.0/8, ::1, localhost. */
function checkLoopback(url) {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--url '${url}' is not a URL`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new Error(`--url must be a loopback address (127.x.x.x, ::1, localhost), got ${u.hostname}`);
  }
  return `${u.protocol}//${u.host}`;
}

// ------------------------------------------------------------------------------------------ server

async function startServer(model) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cli = join(root, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build:ts' first, or pass --url of a running server`);
  const extra = (args['serve-args'] ?? '').split(/\s+/).filter(Boolean);
  const child = spawn(process.execPath, [cli, 'serve', '--model', model, '--host', '127.0.0.1', '--port', '0', '--quiet', ...extra], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const url = await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('the server did not start within 10 minutes')), 600_000);
    child.stdout.on('data', (d) => {
      out += d;
      const m = /at (http:\/\/[^\s]+)\/v1/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the server exited (${code}) before listening`));
    });
  });
  const stop = () => new Promise((resolve) => {
    child.once('exit', resolve);
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
  });
  return { url, stop, pid: child.pid };
}

/** A process's resident set now and its high-water mark (bytes), from /proc; null where there is none. */
function processMemory(pid) {
  const file = `/proc/${pid}/status`;
  if (!pid || !existsSync(file)) return null;
  const status = readFileSync(file, 'utf8');
  const kib = (field) => Number((new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status) || [])[1]) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

// ------------------------------------------------------------------------------------------ metrics

async function scrape(base) {
  const r = await fetch(`${base}/metrics`);
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
  const values = new Map();
  for (const line of (await r.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return values;
}

/** What must come back to baseline: blocks in use, queues, and device memory other than the prefix cache. */
function footprint(m) {
  const out = {
    kvBlocksUsed: m.get('gpuformer_kv_blocks_used') ?? 0,
    running: m.get('gpuformer_requests_running') ?? 0,
    waiting: m.get('gpuformer_requests_waiting') ?? 0,
  };
  for (const [k, v] of m) {
    const purpose = /^gpuformer_memory_bytes\{.*purpose="([a-z]+)"/.exec(k)?.[1];
    if (purpose) out[`memory.${purpose}`] = v;
  }
  return out;
}

// ------------------------------------------------------------------------------------------ clients

const percentile = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/** One streaming request; resolves with its timings (ms). */
async function streamOne(base, model, clientId, signal) {
  const path = args.chat ? '/v1/chat/completions' : '/v1/completions';
  const text = `${prompt} (client ${clientId})`;
  const body = args.chat
    ? { model, messages: [{ role: 'user', content: text }], max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } }
    : { model, prompt: text, max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true } };
  const t0 = performance.now();
  const r = await fetch(`${base}${path}`, { method: 'POST', headers, body: JSON.stringify(body), signal });
  if (!r.ok || !r.body) throw new Error(`${path} answered ${r.status}: ${(await r.text()).slice(0, 200)}`);
  const decoder = new TextDecoder();
  let buffer = '';
  let first = 0;
  let last = 0;
  const gaps = [];
  let tokens = 0;
  for await (const bytes of r.body) {
    buffer += decoder.decode(bytes, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') continue;
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
      if (chunk.usage) tokens = chunk.usage.completion_tokens;
      const piece = chunk.choices?.[0]?.text ?? chunk.choices?.[0]?.delta?.content ?? '';
      if (piece) {
        const now = performance.now();
        if (!first) first = now;
        else gaps.push(now - last);
        last = now;
      }
    }
  }
  const end = performance.now();
  return { ttft: first ? first - t0 : NaN, gaps, tokens, total: end - t0, decodeMs: first ? last - first : 0 };
}

// ------------------------------------------------------------------------------------------ main

async function main() {
  if (!args.url && !args.model) throw new Error(`give --url or --model\n\n${USAGE}`);
  const server = args.model ? await startServer(args.model) : null;
  const base = checkLoopback(server ? server.url : args.url);
  try {
    const models = await (await fetch(`${base}/v1/models`, { headers })).json();
    const model = models.data?.[0]?.id;
    if (!model) throw new Error(`/v1/models lists no model: ${JSON.stringify(models).slice(0, 200)}`);
    const baseline = footprint(await scrape(base));
    const memoryBefore = processMemory(server?.pid);
    const loadBefore = os.loadavg()[0];
    console.log(`load test: ${concurrency} clients, ≤ ${maxRequests} requests, ≤ ${durationS} s, ${maxTokens} tokens each, ` +
      `${args.chat ? 'chat' : 'completions'} on '${model}' at ${base}`);

    const results = [];
    const failures = [];
    let started = 0;
    const t0 = performance.now();
    const stopAt = t0 + durationS * 1000;
    const hardStop = new AbortController();
    const hardTimer = setTimeout(() => hardStop.abort(), (2 * durationS + 30) * 1000);
    const client = async (id) => {
      while (started < maxRequests && performance.now() < stopAt && !hardStop.signal.aborted) {
        started++;
        try {
          results.push(await streamOne(base, model, id, hardStop.signal));
        } catch (e) {
          failures.push(e.message);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, (_, i) => client(i)));
    clearTimeout(hardTimer);
    const wall = (performance.now() - t0) / 1000;

    // the server frees blocks right after the last event; give its loop a moment, then compare
    let after = footprint(await scrape(base));
    for (let i = 0; i < 50 && JSON.stringify(after) !== JSON.stringify(baseline); i++) {
      await new Promise((r) => setTimeout(r, 100));
      after = footprint(await scrape(base));
    }
    const back = JSON.stringify(after) === JSON.stringify(baseline);
    const memoryAfter = processMemory(server?.pid);

    const ttft = results.map((r) => r.ttft).filter(Number.isFinite);
    const gaps = results.flatMap((r) => r.gaps);
    const tokens = results.reduce((n, r) => n + r.tokens, 0);
    const ms = (x) => `${x.toFixed(1)} ms`;
    const summary = {
      bench: 'load-test', date: new Date().toISOString(), command: `node bench/e2e/load-test.mjs ${process.argv.slice(2).join(' ')}`,
      machine: { cpu: os.cpus()[0]?.model.trim(), cores: os.cpus().length, node: process.version, loadAverage: { before: loadBefore, after: os.loadavg()[0] } },
      model, endpoint: args.chat ? 'chat' : 'completions', maxTokens, durationLimitSeconds: durationS, requestLimit: maxRequests,
      concurrency, requests: results.length, failed: failures.length, wallSeconds: wall,
      requestsPerSecond: results.length / wall, outputTokensPerSecond: tokens / wall,
      ttftMs: { p50: percentile(ttft, 0.5), p90: percentile(ttft, 0.9), p99: percentile(ttft, 0.99) },
      interTokenMs: { p50: percentile(gaps, 0.5), p90: percentile(gaps, 0.9), p99: percentile(gaps, 0.99) },
      baseline, after, backToBaseline: back,
      // the server's RSS is informational: the allocator may keep freed pages, so it is not part of backToBaseline
      serverMemory: memoryBefore && memoryAfter
        ? { baselineRssBytes: memoryBefore.rssBytes, peakRssBytes: memoryAfter.peakRssBytes, afterRssBytes: memoryAfter.rssBytes } : undefined,
    };
    console.log(`${results.length} requests (${failures.length} failed) in ${wall.toFixed(1)} s: ${summary.requestsPerSecond.toFixed(2)} requests/s, ` +
      `${summary.outputTokensPerSecond.toFixed(1)} output tokens/s`);
    console.log(`time to first token  p50 ${ms(summary.ttftMs.p50)}  p90 ${ms(summary.ttftMs.p90)}  p99 ${ms(summary.ttftMs.p99)}`);
    console.log(`inter-token latency  p50 ${ms(summary.interTokenMs.p50)}  p90 ${ms(summary.interTokenMs.p90)}  p99 ${ms(summary.interTokenMs.p99)}`);
    console.log(`after the test: ${back ? 'back to baseline' : 'NOT back to baseline'} ${JSON.stringify(after)}${back ? '' : ` (baseline ${JSON.stringify(baseline)})`}`);
    if (summary.serverMemory) {
      const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
      const m = summary.serverMemory;
      console.log(`server RSS: ${mib(m.baselineRssBytes)} before, ${mib(m.peakRssBytes)} peak, ${mib(m.afterRssBytes)} after`);
    }
    if (failures.length) console.log(`failures (first 3): ${failures.slice(0, 3).join(' | ')}`);
    if (args.json) {
      mkdirSync(dirname(args.json), { recursive: true });
      writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
    }
    return back && failures.length === 0 ? 0 : 1;
  } finally {
    await server?.stop();
  }
}

main().then((code) => (process.exitCode = code), (e) => {
  console.error(e.message);
  process.exitCode = 1;
});
