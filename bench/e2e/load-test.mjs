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
import { mkdirSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import { dirname } from 'node:path';
import { parseOptions, positiveInt as positiveIntOption } from '../options.mjs';
import { checkLoopback, commandLine, footprint, percentile, processMemory, readSse, runMain, scrape, settledFootprint, startServer } from './serve-harness.mjs';

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

// ------------------------------------------------------------------------------------------ clients

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
  let first = 0;
  let last = 0;
  const gaps = [];
  let tokens = 0;
  await readSse(r.body, t0, (chunk, at) => {
    if (chunk.usage) tokens = chunk.usage.completion_tokens;
    const piece = chunk.choices?.[0]?.text ?? chunk.choices?.[0]?.delta?.content ?? '';
    if (piece) {
      if (!first) first = at;
      else gaps.push(at - last);
      last = at;
    }
  }, signal);
  const end = performance.now() - t0;
  return { ttft: first || NaN, gaps, tokens, total: end, decodeMs: first ? last - first : 0 };
}

// ------------------------------------------------------------------------------------------ main

async function main() {
  if (!args.url && !args.model) throw new Error(`give --url or --model\n\n${USAGE}`);
  const server = args.model ? await startServer(args.model, (args['serve-args'] ?? '').split(/\s+/).filter(Boolean)) : null;
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

    const { after, back } = await settledFootprint(base, baseline);
    const memoryAfter = processMemory(server?.pid);

    const ttft = results.map((r) => r.ttft).filter(Number.isFinite);
    const gaps = results.flatMap((r) => r.gaps);
    const tokens = results.reduce((n, r) => n + r.tokens, 0);
    const ms = (x) => `${x.toFixed(1)} ms`;
    const summary = {
      bench: 'load-test', date: new Date().toISOString(), command: commandLine('bench/e2e/load-test.mjs'),
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

runMain(main);
