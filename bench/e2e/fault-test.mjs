#!/usr/bin/env node
/**
 * Load-and-fault test for `gpuformer serve`, on loopback: what a hostile but legitimate client can do, at
 * once, then a check that the server is as it was.
 *
 *   node bench/e2e/fault-test.mjs --model ../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf
 *   node bench/e2e/fault-test.mjs --url http://127.0.0.1:8000 --request-timeout 30 --quick
 *
 * Phase 1, all together: concurrent streaming clients (embedding requests on an embedding model), clients
 * that disconnect mid-stream, clients that send their body or their headers a byte at a time. Phase 2, one
 * after another while /health is polled: oversized bodies and inputs, and bad encodings (text/plain, gzip,
 * invalid UTF-8, broken JSON, a malformed URL, a foreign Host header). Then: KV blocks, queues and memory by
 * purpose back to their starting values (/metrics), the server's RSS within --max-rss-growth of its start.
 * Reports requests/s and latencies. Every loop is bounded in count, every wait in time, and --duration
 * stops everything still running.
 *
 * With --model it starts its own server (dist/cli.js serve, port 0, --request-timeout 2 unless --serve-args
 * says otherwise) and stops it at the end. Only loopback addresses are accepted.
 * Exit status: 0 when every check passed, 1 otherwise, 2 on bad options.
 */
import { setMaxListeners } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import { dirname } from 'node:path';
import { parseOptions, positiveInt as positiveIntOption, usageError } from '../options.mjs';
import { checkLoopback, commandLine, footprint, percentile, processMemory, readSse, runMain, scrape, settledFootprint, startServer, unlessAborted } from './serve-harness.mjs';

const USAGE = `usage: node bench/e2e/fault-test.mjs (--url URL | --model MODEL) [options]
  --url URL              a running server on loopback (http://127.0.0.1:PORT, http://localhost:PORT, http://[::1]:PORT)
  --model MODEL          start 'gpuformer serve --model MODEL --port 0' for the test (needs npm run build:ts)
  --serve-args ARGS      extra flags for that server, e.g. "--device cpu --max-num-seqs 16"
  --api-key KEY          sent as Authorization: Bearer KEY
  --request-timeout S    the server's --request-timeout (default: 2 with --model, which passes it on; 30 with --url)
  --streams N            concurrent streaming clients (default 8; --quick 3)
  --requests N           streaming requests in all (default 64; --quick 6)
  --disconnects N        requests dropped mid-stream (default 32; --quick 4)
  --slow N               clients sending their body a byte at a time, and as many sending their headers so (default 4; --quick 2)
  --max-tokens N         tokens per streaming request (default 32; --quick 8)
  --duration S           hard stop: whatever still runs is aborted and counts as failed (default 600)
  --max-rss-growth MIB   the server's RSS at the end may exceed its RSS at the start by this much (default 256)
  --pid PID              the server's process, to read its RSS (implied by --model)
  --quick                the small sizes above (what the jest suite runs)
  --json PATH            also write the results as JSON (with the command, the machine and the date)`;

const args = parseOptions(USAGE, {
  url: { type: 'string' }, model: { type: 'string' }, 'serve-args': { type: 'string' }, 'api-key': { type: 'string' },
  'request-timeout': { type: 'string' }, streams: { type: 'string' }, requests: { type: 'string' }, disconnects: { type: 'string' },
  slow: { type: 'string' }, 'max-tokens': { type: 'string' }, duration: { type: 'string' }, 'max-rss-growth': { type: 'string' },
  pid: { type: 'string' }, quick: { type: 'boolean' }, json: { type: 'string' },
});
const quick = args.quick === true;
const positiveInt = (name, normal, small) => positiveIntOption(args, name, quick ? small : normal, USAGE);
const streams = positiveInt('streams', 8, 3);
const totalRequests = positiveInt('requests', 64, 6);
const disconnects = positiveInt('disconnects', 32, 4);
const slowCount = positiveInt('slow', 4, 2);
const maxTokens = positiveInt('max-tokens', 32, 8);
const durationS = positiveInt('duration', 600, 600);
const maxRssGrowthMiB = positiveInt('max-rss-growth', 256, 256);
/** the size of the huge text inputs (under the default 8 MiB body limit) */
const hugeMiB = quick ? 1 : 7;
const timeoutS = Number(args['request-timeout'] ?? (args.model ? 2 : 30));
if (!(timeoutS > 0)) usageError(`--request-timeout must be a positive number of seconds, got ${args['request-timeout']}`, USAGE);
const auth = args['api-key'] ? { authorization: `Bearer ${args['api-key']}` } : {};
const json = { 'content-type': 'application/json', ...auth };

/** Aborted at --duration: every fetch takes its signal, every socket and wait checks it (one listener per client at a time). */
const hardStop = new AbortController();
setMaxListeners(streams + 2 * slowCount + 4, hardStop.signal);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ------------------------------------------------------------------------------------------ raw sockets

/**
 * Writes `pieces` to a fresh connection, each `gapMs` after the previous, and waits for the server to
 * close it, at most `waitMs`; resolves with what came back, whether the server closed, and when.
 */
function rawExchange(base, pieces, gapMs, waitMs) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''));
    let data = '';
    let error;
    let over = false;
    let i = 0;
    const end = (closed) => {
      if (over) return;
      over = true;
      clearTimeout(give);
      clearTimeout(next);
      hardStop.signal.removeEventListener('abort', onStop);
      socket.destroy();
      resolve({ data, closed, error, ms: performance.now() - t0, status: Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]) || undefined });
    };
    const onStop = () => end(false);
    let next;
    const write = () => {
      if (over || i >= pieces.length) return;
      if (socket.writable) socket.write(pieces[i++]);
      next = setTimeout(write, gapMs);
    };
    const give = setTimeout(() => end(false), waitMs);
    hardStop.signal.addEventListener('abort', onStop);
    socket.setEncoding('latin1');
    socket.on('data', (d) => (data += d)).on('end', () => end(true)).on('close', () => end(true)).on('error', (e) => {
      error = e.code ?? e.message;
      end(true);
    });
    socket.on('connect', write);
  });
}

/** A raw exchange's ending, for a failure message. */
const closedHow = (r) => `closed ${r.closed}${r.error ? ` (${r.error})` : ''}, status ${r.status} after ${r.ms.toFixed(0)} ms`;

// ------------------------------------------------------------------------------------------ scenarios

/** One scenario's outcome: how many ran, which failed and why, latencies of the successful ones (ms). */
function scenario(name) {
  return { name, count: 0, failures: [], latenciesMs: [], record(ok, ms, why) {
    this.count++;
    if (ok) this.latenciesMs.push(ms);
    else this.failures.push(why);
  } };
}

function summarize(s, wallMs) {
  const l = s.latenciesMs;
  return {
    name: s.name, count: s.count, failed: s.failures.length, failures: s.failures.slice(0, 5),
    ...(wallMs ? { requestsPerSecond: s.count / (wallMs / 1000) } : {}),
    latencyMs: { p50: percentile(l, 0.5), p90: percentile(l, 0.9), p99: percentile(l, 0.99), max: l.length ? Math.max(...l) : NaN },
  };
}

/** A streaming completion (or an embedding request), read to [DONE]; `dropAfterFirst`: disconnect after its first event. */
async function request(base, kind, model, id, dropAfterFirst) {
  const t0 = performance.now();
  const ac = new AbortController();
  const stop = () => ac.abort();
  hardStop.signal.addEventListener('abort', stop);
  try {
    if (kind === 'embedding') {
      const input = Array.from({ length: 8 }, (_, k) => `sentence ${k} of client ${id}: the village sat at the edge of a dark forest`);
      const pending = fetch(`${base}/v1/embeddings`, { method: 'POST', headers: json, signal: ac.signal, body: JSON.stringify({ model, input }) });
      if (dropAfterFirst) {
        await sleep(2);
        ac.abort();
        await pending.catch(() => undefined);
        return { ok: true, ms: performance.now() - t0 };
      }
      const r = await pending;
      const body = await unlessAborted(r.json(), ac.signal);
      return { ok: r.status === 200 && body.data?.length === input.length, ms: performance.now() - t0, why: `status ${r.status}` };
    }
    const r = await fetch(`${base}/v1/completions`, {
      method: 'POST', headers: json, signal: ac.signal,
      body: JSON.stringify({ model, prompt: `Once upon a time, client ${id} said`, max_tokens: maxTokens, temperature: 0, stream: true }),
    });
    if (r.status !== 200) return { ok: false, ms: 0, why: `status ${r.status}: ${(await unlessAborted(r.text(), ac.signal)).slice(0, 120)}` };
    let ttft = NaN;
    const done = await readSse(r.body, t0, (_chunk, at) => {
      if (Number.isNaN(ttft)) ttft = at;
      if (dropAfterFirst) ac.abort();
    }, ac.signal).catch((e) => (dropAfterFirst && ac.signal.aborted ? 'dropped' : Promise.reject(e)));
    if (dropAfterFirst) return { ok: true, ms: performance.now() - t0 };
    return { ok: done === true, ms: performance.now() - t0, ttft, why: 'no [DONE]' };
  } catch (e) {
    return { ok: false, ms: 0, why: e.message };
  } finally {
    hardStop.signal.removeEventListener('abort', stop);
  }
}

async function streamsAndDisconnects(base, kind, model) {
  const streaming = scenario(kind === 'embedding' ? 'concurrent embedding requests' : 'concurrent streams');
  const ttfts = [];
  const dropped = scenario(kind === 'embedding' ? 'disconnects mid-request' : 'mid-stream disconnects');
  let started = 0;
  const client = async (id) => {
    while (started < totalRequests && !hardStop.signal.aborted) {
      started++;
      const r = await request(base, kind, model, id, false);
      streaming.record(r.ok, r.ms, r.why);
      if (r.ok && Number.isFinite(r.ttft)) ttfts.push(r.ttft);
    }
  };
  const dropper = async () => {
    for (let i = 0; i < disconnects && !hardStop.signal.aborted; i++) {
      const r = await request(base, kind, model, `d${i}`, true);
      dropped.record(r.ok, r.ms, r.why);
    }
  };
  const t0 = performance.now();
  await Promise.all([...Array.from({ length: streams }, (_, i) => client(i)), dropper()]);
  const wall = performance.now() - t0;
  return [{ ...summarize(streaming, wall), ...(ttfts.length ? { ttftMs: { p50: percentile(ttfts, 0.5), p90: percentile(ttfts, 0.9), p99: percentile(ttfts, 0.99) } } : {}) },
    summarize(dropped)];
}

/** Clients that send their body, and clients that send their headers, a byte at a time: the server must close each. */
async function slowClients(base, model) {
  const timeoutMs = timeoutS * 1000;
  const host = new URL(base).host;
  const body = JSON.stringify({ model, prompt: 'slow', max_tokens: 1 });
  // the body (or the headers) would take four timeouts to arrive at this pace
  const gap = Math.max(5, Math.ceil((4 * timeoutMs) / body.length));
  const bodyHead = `POST /v1/completions HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
  const headers = `GET /health HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'s'.repeat(body.length)}\r\n\r\n`;
  // node checks header deadlines every quarter timeout (at most 30 s): allow three timeouts and 35 s
  const waitMs = 3 * timeoutMs + 35_000;
  const bodies = scenario('slow bodies (408)');
  const heads = scenario('slow headers (closed)');
  await Promise.all([
    ...Array.from({ length: slowCount }, async () => {
      const r = await rawExchange(base, [bodyHead, ...body.split('')], gap, waitMs);
      bodies.record(r.closed && r.status === 408, r.ms, closedHow(r));
    }),
    ...Array.from({ length: slowCount }, async () => {
      const r = await rawExchange(base, headers.split(''), Math.ceil((4 * timeoutMs) / headers.length), waitMs);
      heads.record(r.closed && (r.status ?? 408) === 408, r.ms, closedHow(r));
    }),
  ]);
  return [summarize(bodies), summarize(heads)];
}

/**
 * Requests that must be refused with `want` (a status, or a predicate), each sent while /health is polled:
 * the server must refuse them and keep answering /health meanwhile.
 */
async function refusals(base, cases) {
  const refused = scenario('oversized and malformed requests refused');
  const health = scenario('/health during them');
  const each = [];
  for (const c of cases) {
    if (hardStop.signal.aborted) break;
    let settled = false;
    let healthMaxMs = 0;
    const t0 = performance.now();
    const answer = c.send().catch((e) => `error: ${e.message}`).finally(() => (settled = true));
    while (!settled && !hardStop.signal.aborted) {
      const h0 = performance.now();
      const r = await fetch(`${base}/health`, { signal: hardStop.signal }).catch((e) => ({ status: e.message }));
      const ms = performance.now() - h0;
      healthMaxMs = Math.max(healthMaxMs, ms);
      health.record(r.status === 200, ms, `/health: ${r.status}`);
      await sleep(20);
    }
    const status = await answer;
    const ms = performance.now() - t0;
    const ok = typeof c.want === 'function' ? c.want(status) : status === c.want;
    refused.record(ok, ms, `${c.name}: got ${status}, want ${typeof c.want === 'function' ? 'a 4xx' : c.want}`);
    each.push({ name: c.name, status, ms, healthMaxMs });
  }
  return [{ ...summarize(refused), cases: each }, summarize(health)];
}

/** The refusal cases, their bodies built here, before any timing, so the client's own work stays out of /health's latency. */
function refusalCases(base, kind, model) {
  const { hostname, port } = new URL(base);
  const post = (path, body, headers = json) => {
    const bytes = Buffer.from(body);
    return () => fetch(`${base}${path}`, { method: 'POST', headers, body: bytes, signal: hardStop.signal })
      .then(async (r) => (await unlessAborted(r.arrayBuffer(), hardStop.signal), r.status));
  };
  const big = (bytes) => 'The village sat at the edge of a dark forest. '.repeat(Math.ceil(bytes / 46)).slice(0, bytes);
  const isClientError = (s) => typeof s === 'number' && s >= 400 && s < 500;
  const valid = JSON.stringify(kind === 'embedding' ? { model, input: 'x' } : { model, prompt: 'x', max_tokens: 1 });
  const path = kind === 'embedding' ? '/v1/embeddings' : '/v1/completions';
  const cases = [
    // declared larger than any server's limit: refused from the header, the connection closed
    { name: 'a 1 GiB body', want: 413, send: () => rawExchange(base, [`POST ${path} HTTP/1.1\r\nHost: ${hostname}:${port}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${2 ** 30}\r\n\r\n{"model":`], 0, 60_000).then((r) => r.status) },
    { name: 'text/plain', want: 415, send: post(path, valid, { ...auth, 'content-type': 'text/plain' }) },
    { name: 'gzip', want: 415, send: post(path, valid, { ...json, 'content-encoding': 'gzip' }) },
    { name: 'invalid UTF-8', want: 400, send: post(path, Buffer.concat([Buffer.from(valid.slice(0, -2)), Buffer.from([0xff, 0xfe]), Buffer.from('"}')])) },
    { name: 'broken JSON', want: 400, send: post(path, valid.slice(0, -3)) },
    { name: 'a malformed URL', want: 400, send: () => fetch(`${base}/v1/models/%E0%A4%A`, { headers: auth, signal: hardStop.signal }).then((r) => r.status) },
    { name: 'a foreign Host', want: 403, send: () => rawExchange(base, [`GET /v1/models HTTP/1.1\r\nHost: rebound.example:${port}\r\nConnection: close\r\n\r\n`], 0, 60_000)
      .then((r) => r.status) },
    { name: 'a 10 KB model name', want: 404, send: post(path, JSON.stringify({ model: 'm'.repeat(10_000), input: 'x', prompt: 'x' })) },
  ];
  if (kind === 'embedding') {
    cases.push({ name: '10,000 inputs', want: isClientError, send: post(path, JSON.stringify({ model, input: Array.from({ length: 10_000 }, (_, i) => `s${i}`) })) });
    cases.push({ name: `a ${hugeMiB} MiB input (truncated)`, want: (s) => s === 200 || isClientError(s), send: post(path, JSON.stringify({ model, input: big(hugeMiB * 2 ** 20) })) });
  } else {
    cases.push({ name: `a ${hugeMiB} MiB prompt with n: 16`, want: 400, send: post(path, JSON.stringify({ model, prompt: big(hugeMiB * 2 ** 20), n: 16 })) });
    cases.push({ name: 'a 600 KB prompt with n: 16', want: 400, send: post(path, JSON.stringify({ model, prompt: big(600_000), n: 16 })) });
    cases.push({ name: '1,000 prompts', want: isClientError, send: post(path, JSON.stringify({ model, prompt: Array.from({ length: 1000 }, () => 'x') })) });
  }
  return cases;
}

// ------------------------------------------------------------------------------------------ main

async function main() {
  if (!args.url && !args.model) usageError('give --url or --model', USAGE);
  const serveArgs = (args['serve-args'] ?? '').split(/\s+/).filter(Boolean);
  if (args.model && !serveArgs.includes('--request-timeout')) serveArgs.push('--request-timeout', String(timeoutS));
  const server = args.model ? await startServer(args.model, serveArgs) : null;
  const base = checkLoopback(server ? server.url : args.url);
  const pid = server?.pid ?? (args.pid ? Number(args.pid) : undefined);
  const hardTimer = setTimeout(() => hardStop.abort(), durationS * 1000);
  try {
    const models = await (await fetch(`${base}/v1/models`, { headers: auth })).json();
    const model = models.data?.[0]?.id;
    if (!model) throw new Error(`/v1/models lists no model: ${JSON.stringify(models).slice(0, 200)}`);
    const probe = await fetch(`${base}/v1/embeddings`, { method: 'POST', headers: json, body: JSON.stringify({ model, input: 'probe' }) });
    const kind = probe.status === 200 ? 'embedding' : 'generation';
    await probe.arrayBuffer();
    const baseline = footprint(await scrape(base, auth));
    const memoryBefore = processMemory(pid);
    const loadBefore = os.loadavg()[0];
    console.log(`fault test on '${model}' (${kind}) at ${base}: ${streams} clients × ${totalRequests} requests, ${disconnects} disconnects, ` +
      `${slowCount} slow bodies and ${slowCount} slow headers (request timeout ${timeoutS} s)`);

    const t0 = performance.now();
    const [phase1, slow] = await Promise.all([streamsAndDisconnects(base, kind, model), slowClients(base, model)]);
    const phase2 = await refusals(base, refusalCases(base, kind, model));
    const scenarios = [...phase1, ...slow, ...phase2];
    clearTimeout(hardTimer);
    const wallSeconds = (performance.now() - t0) / 1000;

    const { after, back } = await settledFootprint(base, baseline, auth);
    const healthy = (await fetch(`${base}/health`)).status === 200;
    const memoryAfter = processMemory(pid);
    const rssGrowth = memoryBefore && memoryAfter ? memoryAfter.rssBytes - memoryBefore.rssBytes : undefined;
    const rssBounded = rssGrowth === undefined || rssGrowth <= maxRssGrowthMiB * 2 ** 20;
    const failed = scenarios.reduce((n, s) => n + s.failed, 0);
    const passed = failed === 0 && back && healthy && rssBounded && !hardStop.signal.aborted;

    const summary = {
      bench: 'fault-test', date: new Date().toISOString(), command: commandLine('bench/e2e/fault-test.mjs'),
      machine: { cpu: os.cpus()[0]?.model.trim(), cores: os.cpus().length, node: process.version, loadAverage: { before: loadBefore, after: os.loadavg()[0] } },
      model, kind, requestTimeoutSeconds: timeoutS, wallSeconds, stoppedAtDuration: hardStop.signal.aborted,
      scenarios, baseline, after, backToBaseline: back, healthyAfter: healthy,
      serverMemory: memoryBefore && memoryAfter ? {
        baselineRssBytes: memoryBefore.rssBytes, peakRssBytes: memoryAfter.peakRssBytes, afterRssBytes: memoryAfter.rssBytes, maxGrowthBytes: maxRssGrowthMiB * 2 ** 20,
      } : undefined,
      rssBounded, passed,
    };
    const ms = (x) => (Number.isFinite(x) ? `${x.toFixed(1)} ms` : '—');
    for (const s of scenarios) {
      console.log(`${s.failed ? 'FAIL' : 'ok  '} ${s.name}: ${s.count} (${s.failed} failed)` +
        `${s.requestsPerSecond !== undefined ? `, ${s.requestsPerSecond.toFixed(2)} requests/s` : ''}` +
        `; latency p50 ${ms(s.latencyMs.p50)} p90 ${ms(s.latencyMs.p90)} p99 ${ms(s.latencyMs.p99)} max ${ms(s.latencyMs.max)}` +
        `${s.ttftMs ? `; time to first token p50 ${ms(s.ttftMs.p50)} p90 ${ms(s.ttftMs.p90)}` : ''}`);
      for (const f of s.failures) console.log(`       ${f}`);
      for (const c of s.cases ?? []) console.log(`       ${c.name}: ${c.status} in ${ms(c.ms)}, /health at most ${ms(c.healthMaxMs)} meanwhile`);
    }
    console.log(`after the test: ${back ? 'back to baseline' : 'NOT back to baseline'} ${JSON.stringify(after)}${back ? '' : ` (baseline ${JSON.stringify(baseline)})`}; /health ${healthy ? 'ok' : 'FAILED'}`);
    if (summary.serverMemory) {
      const mib = (b) => `${(b / 2 ** 20).toFixed(0)} MiB`;
      const m = summary.serverMemory;
      console.log(`server RSS: ${mib(m.baselineRssBytes)} before, ${mib(m.peakRssBytes)} peak, ${mib(m.afterRssBytes)} after ` +
        `(${rssBounded ? 'within' : 'MORE than'} ${maxRssGrowthMiB} MiB of growth)`);
    }
    if (hardStop.signal.aborted) console.log(`stopped at --duration ${durationS} s`);
    console.log(passed ? 'PASSED' : 'FAILED');
    if (args.json) {
      mkdirSync(dirname(args.json), { recursive: true });
      writeFileSync(args.json, `${JSON.stringify(summary, null, 2)}\n`);
    }
    return passed ? 0 : 1;
  } finally {
    clearTimeout(hardTimer);
    await server?.stop();
  }
}

runMain(main);
