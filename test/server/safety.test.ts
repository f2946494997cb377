/**
 * The server against hostile but legitimate clients, on loopback over real sockets (a model-free engine):
 * only JSON bodies, the Host and Origin checks browsers need, slow bodies and headers cut off, malformed
 * URLs and huge values answered with short 4xx messages, the per-request caps, SSE closing when asked,
 * aborted requests in the access log and the metrics, and one tokenization per request whatever n is.
 */
import * as http from 'http';
import * as net from 'net';
import { getEventListeners, getMaxListeners, once } from 'events';
import { AccessPolicy, hostnameOf, isLoopback } from '../../lib/server/access';
import { readJsonBody, sendJson } from '../../lib/server/http';
import { OpenAIServer } from '../../lib/server/server';
import { parsePrometheus } from '../../lib/server/metrics';
import { FakeDecoderRunner } from '../engine/fake-runners';
import { FakeEngine } from './fake-engine';
import { errorOf, rawExchange, statusOf, until } from './helpers';

const MODEL = 'fake-llm';
/**
 * The server's request timeout: node judges a connection's header deadline from when it accepted it, so any
 * request arriving while this process is held up longer than this gets a 408 (a loaded machine holds it up
 * for hundreds of milliseconds). The slow clients below take seconds to send.
 */
const TIMEOUT_MS = 1000;

/**
 * A request with headers fetch() would not let us set (Host), optionally through `agent`; resolves with the
 * status, headers, body, and whether it went over a connection kept from an earlier request.
 */
function nodeRequest(port: number, o: { method?: string; path: string; headers?: Record<string, string>; body?: string; agent?: http.Agent }) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; reusedSocket: boolean }>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers, agent: o.agent }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d))
        .on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body, reusedSocket: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}

describe('server safety: generation model', () => {
  let engine: FakeEngine;
  let server: OpenAIServer;
  let base: string;
  let port: number;
  const log: Array<{ method: string; path: string; status: number }> = [];
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${base}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  beforeAll(async () => {
    engine = new FakeEngine('decoder', 256);
    // key-less, as the servers a browser page could reach on localhost are
    server = new OpenAIServer(engine, {
      modelId: MODEL, port: 0, requestTimeoutMs: TIMEOUT_MS, maxPrompts: 4, allowedHosts: ['my-box.local'],
      allowedOrigins: ['http://localhost:3000'], onRequest: (r) => log.push(r),
    });
    port = (await server.listen()).port;
    base = `http://127.0.0.1:${port}`;
  });
  afterAll(async () => {
    await server.close();
    await engine.loop.shutdown();
  });

  it('accepts only application/json bodies in UTF-8, uncompressed: 415 before any work, 400 for bad bytes', async () => {
    const body = JSON.stringify({ model: MODEL, prompt: 'hi', max_tokens: 2 });
    const calls = engine.tokenizeCalls.prompts;
    for (const type of ['text/plain', 'text/plain;charset=UTF-8', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
      'application/json; charset=latin1', 'application/jsonx']) {
      const r = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': type }, body });
      expect(r.status).toBe(415);
      expect(await errorOf(r)).toMatchObject({ code: 'unsupported_media_type' });
    }
    const none = await fetch(`${base}/v1/completions`, { method: 'POST', body: new TextEncoder().encode(body) });
    expect(none.status).toBe(415);
    expect((await errorOf(none)).message).toMatch(/no Content-Type/);
    const gzip = await post('/v1/completions', body, { 'content-encoding': 'gzip' });
    expect(gzip.status).toBe(415);
    expect(engine.tokenizeCalls.prompts).toBe(calls);
    expect((await post('/v1/completions', body, { 'content-type': 'Application/JSON; charset="UTF-8"' })).status).toBe(200);
    const badUtf8 = Buffer.concat([Buffer.from('{"model": "fake-llm", "prompt": "'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('"}')]);
    const bad = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: badUtf8 });
    expect(bad.status).toBe(400);
    expect((await errorOf(bad)).message).toMatch(/not valid UTF-8/);
  });

  it('answers only requests whose Host names this server (DNS rebinding)', async () => {
    for (const host of [`evil.example:${port}`, 'evil.example', `127.0.0.1.evil.example:${port}`, `localhost.evil:${port}`]) {
      for (const path of ['/health', '/v1/models']) {
        const r = await nodeRequest(port, { path, headers: { host } });
        expect(r.status).toBe(403);
        expect(JSON.parse(r.body).error.code).toBe('host_not_allowed');
      }
    }
    const rebound = await nodeRequest(port, { method: 'POST', path: '/v1/completions', headers: { host: `evil.example:${port}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, prompt: 'x' }) });
    expect(rebound.status).toBe(403);
    for (const host of [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`, `LOCALHOST:${port}`, `my-box.local:${port}`, 'localhost.']) {
      expect((await nodeRequest(port, { path: '/health', headers: { host } })).status).toBe(200);
    }
  });

  it('sends CORS headers to allowed origins only, and refuses other origins\' preflights', async () => {
    const preflight = (origin: string) => nodeRequest(port, { method: 'OPTIONS', path: '/v1/chat/completions', headers: {
      origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type, x-stainless-os',
    } });
    const ok = await preflight('http://localhost:3000');
    expect(ok.status).toBe(204);
    expect(ok.headers).toMatchObject({
      'access-control-allow-origin': 'http://localhost:3000', 'access-control-allow-methods': 'GET, POST',
      'access-control-allow-headers': 'authorization, content-type, x-stainless-os', vary: 'Origin',
    });
    const evil = await preflight('https://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    expect(JSON.parse(evil.body).error.code).toBe('origin_not_allowed');
    const injected = await nodeRequest(port, { method: 'OPTIONS', path: '/v1/models', headers: {
      origin: 'http://localhost:3000', 'access-control-request-method': 'GET', 'access-control-request-headers': 'a\u00ff: b',
    } });
    expect(injected.headers['access-control-allow-headers']).toBeUndefined();
    const allowed = await nodeRequest(port, { path: '/v1/models', headers: { origin: 'http://localhost:3000' } });
    expect(allowed.headers['access-control-allow-origin']).toBe('http://localhost:3000');
    const other = await nodeRequest(port, { path: '/v1/models', headers: { origin: 'https://evil.example' } });
    expect(other.status).toBe(200);
    expect(other.headers['access-control-allow-origin']).toBeUndefined();
    const plain = await nodeRequest(port, { path: '/v1/models' });
    expect(Object.keys(plain.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
  });

  it('answers a malformed URL with 400 and quotes at most a short escaped prefix of what it was sent', async () => {
    const r = await fetch(`${base}/v1/models/%E0%A4%A`);
    expect(r.status).toBe(400);
    expect(await errorOf(r)).toMatchObject({ code: 'invalid_url' });
    const huge = 'm'.repeat(10_000);
    const missing = await post('/v1/completions', { model: huge, prompt: 'x' });
    expect(missing.status).toBe(404);
    const message = (await errorOf(missing)).message;
    expect(message.length).toBeLessThan(200);
    expect(message).toContain(`"${'m'.repeat(40)}"… (10000 characters)`);
    const control = await post('/v1/completions', { model: MODEL, prompt: 'x', temperature: `\u001b[31m${'t'.repeat(5000)}` });
    const m2 = (await errorOf(control)).message;
    expect(m2.length).toBeLessThan(200);
    expect(m2).not.toContain('\u001b');
    expect(m2).toContain('\\u001b[31m');
    const path = await fetch(`${base}/${'p'.repeat(5000)}`);
    expect(path.status).toBe(404);
    expect((await errorOf(path)).message.length).toBeLessThan(200);
  });

  it('closes a slow body with 408 after the request timeout, and counts and logs it', async () => {
    const body = JSON.stringify({ model: MODEL, prompt: 'hello', max_tokens: 2 });
    const head = `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n`;
    // one byte every 50 ms: the body takes seconds to send, the timeout is a second
    const r = await rawExchange(port, [head, ...body.split('')], 50);
    expect(statusOf(r.data)).toBe(408);
    expect(r.data).toContain('"code":"request_timeout"');
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS);
    expect(log).toContainEqual(expect.objectContaining({ path: '/v1/completions', status: 408 }));
    const v = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    expect(v.get('gpuformer_http_requests_total{route="/v1/completions",status="408"}')).toBeGreaterThanOrEqual(1);
  });

  it('lets a client still sending a refused body read its 413: the connection closes in stages', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    // nothing is read until the end: the answer waits in the kernel's buffer while the client keeps sending
    socket.pause();
    let sendError: Error | undefined;
    socket.on('error', (e) => (sendError = e));
    const refusedBefore = log.filter((r) => r.status === 413).length;
    socket.write(`POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${2 ** 30}\r\n\r\n`);
    const chunk = Buffer.alloc(16384, 0x20);
    const sleep = () => new Promise((r) => setTimeout(r, 5));
    while (log.filter((r) => r.status === 413).length === refusedBefore) {
      socket.write(chunk);
      await sleep();
    }
    // the answer is sent: a server that closed outright now answers these bytes with a reset, and the
    // client's next write fails (EPIPE) before it has read anything
    for (let i = 0; i < 20 && !sendError; i++) {
      socket.write(chunk);
      await sleep();
    }
    expect(sendError).toBeUndefined();
    let data = '';
    socket.setEncoding('latin1').on('data', (d: string) => (data += d));
    socket.resume();
    await once(socket, 'end');
    socket.destroy();
    expect(statusOf(data)).toBe(413);
    expect(data).toMatch(/\r\nconnection: close\r\n/i);
  });

  it('reads a body that arrived while the server was held up past its deadline before judging it late', async () => {
    // the deadline is long enough for the last byte to be sent well before it however slow this machine is
    const deadlineMs = 1000;
    let readingSince: number | undefined;
    const plain = http.createServer((req, res) => {
      readingSince = performance.now();
      readJsonBody(req, { maxBodyBytes: 1024, requestTimeoutMs: deadlineMs })
        .then((body) => sendJson(res, 200, body), (e) => sendJson(res, (e as { status: number }).status, {}));
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    try {
      const body = '{"a":1}';
      const socket = net.connect((plain.address() as net.AddressInfo).port, '127.0.0.1');
      let data = '';
      socket.setEncoding('latin1').on('data', (d: string) => (data += d));
      await once(socket, 'connect');
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body.slice(0, -1)}`);
      await until(() => readingSince !== undefined);
      // in the loop's check phase (the next turn starts with the timers, then reads the sockets): the last
      // byte reaches the server's socket at once, then this process stalls past the deadline
      await new Promise((r) => setImmediate(r));
      socket.write(body.slice(-1));
      const stallUntil = readingSince! + deadlineMs + 100;
      while (performance.now() < stallUntil);
      await once(socket, 'end');
      expect(statusOf(data)).toBe(200);
      expect(data.endsWith(body)).toBe(true);
    } finally {
      await new Promise((r) => plain.close(r));
    }
  });

  it('closes slow headers with 408 (node\'s headers timeout, set to the request timeout), and counts and logs it', async () => {
    const before = log.filter((l) => l.status === 408 && l.path === '-').length;
    // four bytes every 50 ms: the headers take seconds to send; a server that waited would answer /health with 200
    const head = `GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Slow: ${'a'.repeat(200)}\r\n\r\n`;
    const r = await rawExchange(port, head.match(/.{1,4}/gs)!, 50);
    expect(statusOf(r.data)).toBe(408);
    expect(r.data).toContain('"code":"request_timeout"');
    expect(r.ms).toBeGreaterThanOrEqual(TIMEOUT_MS);
    // the request never had a method or a path as far as the server knows
    const logged = log.filter((l) => l.status === 408 && l.path === '-');
    expect(logged).toHaveLength(before + 1);
    expect(logged[logged.length - 1]).toMatchObject({ method: '-', status: 408 });
    const v = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    expect(v.get('gpuformer_http_requests_total{route="other",status="408"}')).toBeGreaterThanOrEqual(1);
  });

  it('answers a malformed request and oversized headers as node does (400, 431), counted and logged', async () => {
    const bad = await rawExchange(port, ['NOT HTTP AT ALL\r\n\r\n']);
    expect(statusOf(bad.data)).toBe(400);
    const big = await rawExchange(port, [`GET /health HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`]);
    expect(statusOf(big.data)).toBe(431);
    expect(log).toContainEqual(expect.objectContaining({ path: '-', status: 400 }));
    expect(log).toContainEqual(expect.objectContaining({ path: '-', status: 431 }));
    const v = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
    expect(v.get('gpuformer_http_requests_total{route="other",status="431"}')).toBeGreaterThanOrEqual(1);
  });

  it('closes the socket after an SSE [DONE] when the client sent Connection: close, keeps it otherwise', async () => {
    const body = JSON.stringify({ model: MODEL, prompt: 'stream me', max_tokens: 5, stream: true });
    const request = (connection: string) => `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${body.length}\r\nConnection: ${connection}\r\n\r\n${body}`;
    // the exchange ends when the server closes the socket: that it ends at all is the test
    const closing = await rawExchange(port, [request('close')]);
    expect(statusOf(closing.data)).toBe(200);
    expect(closing.data).toContain('data: [DONE]');
    // closed because the response said so, not by the keep-alive timeout running out
    expect(closing.data).toMatch(/\r\nconnection: close\r\n/i);
    // without it, the next request goes over the same connection
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const stream = () => nodeRequest(port, { method: 'POST', path: '/v1/completions', agent, headers: { 'content-type': 'application/json' }, body });
      const first = await stream();
      expect(first.body).toContain('data: [DONE]');
      const second = await stream();
      expect(second.body).toContain('data: [DONE]');
      expect(second.reusedSocket).toBe(true);
    } finally {
      agent.destroy();
    }
  });

  it('logs and counts a request the client abandoned (499)', async () => {
    const runner = engine.runner as FakeDecoderRunner;
    let release = () => undefined as void;
    runner.hold = new Promise<void>((r) => (release = r));
    try {
      const ac = new AbortController();
      const pending = fetch(`${base}/v1/completions`, {
        method: 'POST', signal: ac.signal, headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: MODEL, prompt: [0, 77, 78], max_tokens: 200, stream: true }),
      }).catch(() => undefined);
      await until(() => engine.stats().running === 1);
      ac.abort();
      await pending;
      await until(() => log.some((e) => e.status === 499));
      expect(log).toContainEqual(expect.objectContaining({ method: 'POST', path: '/v1/completions', status: 499 }));
      const v = parsePrometheus(await (await fetch(`${base}/metrics`)).text());
      expect(v.get('gpuformer_http_requests_total{route="/v1/completions",status="499"}')).toBeGreaterThanOrEqual(1);
      expect(v.get('gpuformer_client_disconnects_total')).toBeGreaterThanOrEqual(1);
    } finally {
      runner.hold = null;
      release();
    }
    await until(() => engine.stats().running === 0);
    expect(engine.stats()).toMatchObject({ waiting: 0, kvBlocksUsed: 0 });
  });

  it('tokenizes a request once whatever n is, its generations all listening to one abort signal within its listener limit', async () => {
    const chat = engine.tokenizeCalls.chat;
    const runner = engine.runner as FakeDecoderRunner;
    let release = () => undefined as void;
    runner.hold = new Promise<void>((r) => (release = r));
    try {
      const pending = post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'hi' }], n: 16, max_tokens: 6, temperature: 1 });
      await until(() => engine.stats().running + engine.stats().waiting === 16);
      // node warns (MaxListenersExceededWarning) once a signal has more listeners than its limit
      const signal = engine.lastSignal!;
      expect(getEventListeners(signal, 'abort').length).toBeGreaterThanOrEqual(16);
      expect(getEventListeners(signal, 'abort').length).toBeLessThanOrEqual(getMaxListeners(signal));
      runner.hold = null;
      release();
      const r = await pending;
      expect(r.status).toBe(200);
      expect(((await r.json()) as { choices: unknown[] }).choices).toHaveLength(16);
      expect(engine.tokenizeCalls.chat).toBe(chat + 1);
    } finally {
      runner.hold = null;
      release();
    }
    const prompts = engine.tokenizeCalls.prompts;
    const c = await post('/v1/completions', { model: MODEL, prompt: ['a', 'b'], n: 8, max_tokens: 2 });
    expect(((await c.json()) as { choices: unknown[] }).choices).toHaveLength(16);
    expect(engine.tokenizeCalls.prompts).toBe(prompts + 1);
  });

  it('caps prompts and n per request with a 400 that names the limit and its flag', async () => {
    const prompts = await post('/v1/completions', { model: MODEL, prompt: ['a', 'b', 'c', 'd', 'e'] });
    expect(prompts.status).toBe(400);
    expect(await errorOf(prompts)).toMatchObject({ param: 'prompt', code: 'limit_exceeded', message: expect.stringMatching(/at most 4 .*--max-prompts.*got 5/) });
    const n = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x' }], n: 17 });
    expect(n.status).toBe(400);
    expect(await errorOf(n)).toMatchObject({ param: 'n', message: expect.stringMatching(/at most 16 .*--max-n.*got 17/) });
    expect((await post('/v1/completions', { model: MODEL, prompt: ['a', 'b', 'c', 'd'], max_tokens: 1 })).status).toBe(200);
  });

  it('refuses a prompt too long for maxModelLen with a 400 before streaming anything', async () => {
    const r = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(400) }], stream: true });
    expect(r.status).toBe(400);
    expect((await errorOf(r)).message).toMatch(/maxModelLen is 256/);
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
  });
});

describe('server safety: embedding model', () => {
  let engine: FakeEngine;
  let server: OpenAIServer;
  let base: string;
  const post = (body: unknown) => fetch(`${base}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  beforeAll(async () => {
    engine = new FakeEngine('encoder', 256);
    server = new OpenAIServer(engine, { modelId: 'fake-embed', port: 0, maxEmbeddingInputs: 5, maxEmbeddingTokens: 100 });
    await server.listen();
    base = server.url.replace(/\/v1$/, '');
  });
  afterAll(async () => {
    await server.close();
    await engine.loop.shutdown();
  });

  it('caps inputs and tokens per request, counting tokens after truncation', async () => {
    const inputs = await post({ model: 'fake-embed', input: ['a', 'b', 'c', 'd', 'e', 'f'] });
    expect(inputs.status).toBe(400);
    expect(await errorOf(inputs)).toMatchObject({ param: 'input', message: expect.stringMatching(/at most 5 .*--max-embedding-inputs.*got 6/) });
    const tokens = await post({ model: 'fake-embed', input: ['x'.repeat(60), 'y'.repeat(60)] });
    expect(tokens.status).toBe(413);
    expect(await errorOf(tokens)).toMatchObject({ param: 'input', message: expect.stringMatching(/122 tokens.*at most 100 .*--max-embedding-tokens/) });
    // 500 characters are 501 tokens before truncation, 64 after: under the cap, and what usage reports
    const long = await post({ model: 'fake-embed', input: 'z'.repeat(500) });
    expect(long.status).toBe(200);
    expect(((await long.json()) as { usage: { prompt_tokens: number } }).usage.prompt_tokens).toBe(64);
  });

  it('advertises the length embeddings use, not the position table', async () => {
    const card = (await (await fetch(`${base}/v1/models/fake-embed`)).json()) as { max_model_len: number };
    expect(card.max_model_len).toBe(64);
    expect(engine.maxModelLen).toBe(256);
  });
});

describe('AccessPolicy on other addresses', () => {
  const request = (host: string) => ({ headers: { host } }) as unknown as http.IncomingMessage;
  const refused = expect.objectContaining({ status: 403, code: 'host_not_allowed' });

  it('checks no Host on a public address unless --allowed-hosts names some, then only those and loopback', () => {
    const open = new AccessPolicy({ host: '0.0.0.0' });
    expect(() => open.checkHost(request('anything.example:8000'))).not.toThrow();
    const named = new AccessPolicy({ host: '0.0.0.0', allowedHosts: ['api.example.com'] });
    expect(() => named.checkHost(request('API.example.com:8000'))).not.toThrow();
    expect(() => named.checkHost(request('localhost:8000'))).not.toThrow();
    expect(() => named.checkHost(request('evil.example:8000'))).toThrow(refused);
    const any = new AccessPolicy({ host: '127.0.0.1', allowedHosts: ['*'] });
    expect(() => any.checkHost(request('evil.example'))).not.toThrow();
  });

  it('accepts the address it is bound to, IPv6 included', () => {
    expect(() => new AccessPolicy({ host: '127.0.0.2' }).checkHost(request('127.0.0.2:9000'))).not.toThrow();
    expect(() => new AccessPolicy({ host: '127.0.0.2' }).checkHost(request('127.0.0.3:9000'))).toThrow(refused);
    expect(() => new AccessPolicy({ host: '::1' }).checkHost(request('[::1]:9000'))).not.toThrow();
    expect(isLoopback('127.1.2.3') && isLoopback('::1') && isLoopback('[::1]') && isLoopback('localhost')).toBe(true);
    expect(isLoopback('0.0.0.0') || isLoopback('10.0.0.1') || isLoopback('127.0.0.1.evil')).toBe(false);
    expect(hostnameOf('[::1]:8000')).toBe('::1');
    expect(hostnameOf('Example.COM.:80')).toBe('example.com');
  });
});
