/**
 * What the scripts that test `gpuformer serve` over HTTP share (bench/e2e/load-test.mjs, fault-test.mjs):
 * starting a server of their own on loopback, refusing any address but loopback, reading its /metrics and
 * its process's memory, percentiles, and reading a server-sent-event stream.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Loopback only (127.0.0.0/8, ::1, localhost): these scripts are local tests, never load generators against others. */
export function checkLoopback(url, flag = '--url') {
  let u;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`${flag} '${url}' is not a URL`);
  }
  const host = u.hostname.replace(/^\[|\]$/g, '');
  if (!(host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host))) {
    throw new Error(`${flag} must be a loopback address (127.x.x.x, ::1, localhost), got ${u.hostname}`);
  }
  return `${u.protocol}//${u.host}`;
}

/**
 * Starts `gpuformer serve --model MODEL --host 127.0.0.1 --port 0 --quiet ...extra` (dist/cli.js) and waits
 * for it to listen; resolves with its base URL, its pid, and stop() (SIGINT, then SIGKILL after 30 s).
 */
export async function startServer(model, extra = []) {
  const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
  const cli = join(root, 'dist', 'cli.js');
  if (!existsSync(cli)) throw new Error(`${cli} is missing: run 'npm run build:ts' first, or pass --url of a running server`);
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
    if (child.exitCode !== null) return resolve();
    child.once('exit', resolve);
    child.kill('SIGINT');
    setTimeout(() => child.kill('SIGKILL'), 30_000).unref();
  });
  return { url, stop, pid: child.pid };
}

/** A process's resident set now and its high-water mark (bytes), from /proc; null where there is none. */
export function processMemory(pid) {
  const file = `/proc/${pid}/status`;
  if (!pid || !existsSync(file)) return null;
  const status = readFileSync(file, 'utf8');
  const kib = (field) => Number((new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status) || [])[1]) * 1024;
  return { rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
}

/** /metrics as name{labels} → value. */
export async function scrape(base, headers = {}) {
  const r = await fetch(`${base}/metrics`, { headers });
  if (!r.ok) throw new Error(`/metrics answered ${r.status}`);
  const values = new Map();
  for (const line of (await r.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    values.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return values;
}

/** What must come back to baseline: blocks in use, queues, and device memory by purpose. */
export function footprint(m) {
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

/**
 * Scrapes until the footprint equals `baseline` (the server frees blocks right after a request's last event;
 * give its loop a moment), at most `tries` times 100 ms apart; resolves with the last footprint and whether
 * it matched.
 */
export async function settledFootprint(base, baseline, headers = {}, tries = 50) {
  let after = footprint(await scrape(base, headers));
  for (let i = 0; i < tries && JSON.stringify(after) !== JSON.stringify(baseline); i++) {
    await new Promise((r) => setTimeout(r, 100));
    after = footprint(await scrape(base, headers));
  }
  return { after, back: JSON.stringify(after) === JSON.stringify(baseline) };
}

/** The q-quantile of xs (nearest rank); NaN when empty. */
export const percentile = (xs, q) => {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))];
};

/**
 * `promise`, or a rejection with the signal's reason as soon as `signal` aborts, whichever comes first.
 * A response body whose fetch is aborted while it is being read can stay pending forever in node's fetch
 * (nodejs/node#56917, seen here on node 20 when a client disconnects mid-stream under load): a script
 * waiting on it, with nothing else open, would end without its results.
 */
export function unlessAborted(promise, signal) {
  if (!signal) return promise;
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error('aborted'));
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/**
 * Reads an OpenAI server-sent-event stream, calling onEvent(parsed chunk, ms since start) for each `data:`
 * event other than [DONE]; resolves with whether [DONE] came. A chunk carrying `error` throws; `signal` (the
 * fetch's) aborting rejects at once (unlessAborted).
 */
export function readSse(body, t0, onEvent, signal) {
  return unlessAborted(readEvents(body, t0, onEvent), signal);
}

async function readEvents(body, t0, onEvent) {
  const decoder = new TextDecoder();
  let buffer = '';
  let done = false;
  for await (const bytes of body) {
    buffer += decoder.decode(bytes, { stream: true });
    let i;
    while ((i = buffer.indexOf('\n\n')) >= 0) {
      const event = buffer.slice(0, i);
      buffer = buffer.slice(i + 2);
      if (!event.startsWith('data: ')) continue;
      const data = event.slice(6);
      if (data === '[DONE]') {
        done = true;
        continue;
      }
      const chunk = JSON.parse(data);
      if (chunk.error) throw new Error(`stream error: ${chunk.error.message}`);
      onEvent(chunk, performance.now() - t0);
    }
  }
  return done;
}

/** This script's command line as a shell would take it back (arguments with spaces quoted), for the records. */
export function commandLine(script) {
  return `node ${script} ${process.argv.slice(2).map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`.trim();
}

/**
 * Runs a script's main() (resolving with its exit status) and exits with that status, 1 when it throws.
 * Every wait in these scripts is bounded, but a promise that never settles holds nothing open: node would
 * then end quietly, status 0, with no results; this makes that a failure that says so.
 */
export function runMain(main) {
  let settled = false;
  process.on('beforeExit', () => {
    if (settled) return;
    settled = true;
    console.error('FAILED: the script stopped with its work unfinished (something it waited on never settled)');
    process.exitCode = 1;
  });
  main().then((code) => {
    settled = true;
    process.exitCode = code;
  }, (e) => {
    settled = true;
    console.error(e.message);
    process.exitCode = 1;
  });
}
