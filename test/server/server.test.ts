/**
 * The OpenAI-compatible server over real HTTP on loopback, with the official `openai` client (streaming
 * included) and raw fetch for the error paths, against a model-free engine (the real loop over fake runners).
 */
import OpenAI from 'openai';
import { OpenAIServer } from '../../lib/server/server';
import { parsePrometheus } from '../../lib/server/metrics';
import { quantizeEmbeddings } from '../../lib/engine/embedding-output';
import { FakeEncoderRunner, fakeEmbedding } from '../engine/fake-runners';
import { FakeEngine, charTokenizer, expectedText, renderFakeChat } from './fake-engine';
import { errorOf, until } from './helpers';

const KEY = 'test-key-123';
const MODEL = 'fake-llm';


describe('server: generation endpoints', () => {
  let engine: FakeEngine;
  let server: OpenAIServer;
  let client: OpenAI;
  let base: string;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) => fetch(`${base}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });

  beforeAll(async () => {
    engine = new FakeEngine('decoder', 256);
    server = new OpenAIServer(engine, { modelId: MODEL, port: 0, apiKey: KEY, maxBodyBytes: 64 * 1024 });
    await server.listen();
    base = server.url.replace(/\/v1$/, '');
    client = new OpenAI({ baseURL: server.url, apiKey: KEY, maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
    await engine.loop.shutdown();
  });

  it('binds loopback and lists the model', async () => {
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const models = await client.models.list();
    expect(models.data.map((m) => m.id)).toEqual([MODEL]);
    expect((await client.models.retrieve(MODEL)).id).toBe(MODEL);
  });

  it('completes a prompt (greedy) with usage', async () => {
    const prompt = 'Hello there';
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 12, temperature: 0 });
    const want = expectedText(charTokenizer.encode(prompt), 12, 256);
    expect(r.object).toBe('text_completion');
    expect(r.choices).toHaveLength(1);
    expect(r.choices[0].text).toBe(want.text);
    expect(r.choices[0].finish_reason).toBe(want.finish);
    expect(r.usage).toEqual({ prompt_tokens: prompt.length + 1, completion_tokens: want.completionTokens, total_tokens: prompt.length + 1 + want.completionTokens });
  });

  it('takes several prompts and token-id prompts, one choice each', async () => {
    const prompts = [[0, 40, 41, 42], [0, 50, 51]];
    const r = await client.completions.create({ model: MODEL, prompt: prompts, max_tokens: 9, temperature: 0 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1]);
    r.choices.forEach((c, i) => expect(c.text).toBe(expectedText(prompts[i], 9, 256).text));
    const single = await client.completions.create({ model: MODEL, prompt: [0, 40, 41, 42], max_tokens: 9, temperature: 0 });
    expect(single.choices[0].text).toBe(r.choices[0].text);
  });

  it('streams completions as server-sent events that add up to the same text', async () => {
    const prompt = 'Once upon a time';
    const want = expectedText(charTokenizer.encode(prompt), 20, 256);
    const stream = await client.completions.create({ model: MODEL, prompt, max_tokens: 20, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let text = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined;
    let chunks = 0;
    for await (const c of stream) {
      if (c.usage) usage = c.usage;
      for (const ch of c.choices) {
        text += ch.text;
        if (ch.finish_reason) finish = ch.finish_reason;
      }
      chunks++;
    }
    expect(text).toBe(want.text);
    expect(finish).toBe(want.finish);
    expect(chunks).toBeGreaterThan(2);
    expect(usage?.completion_tokens).toBe(want.completionTokens);
  });

  it('applies stop strings', async () => {
    const prompt = 'abc';
    const full = expectedText(charTokenizer.encode(prompt), 30, 256);
    const stop = full.text.slice(5, 7);
    const want = expectedText(charTokenizer.encode(prompt), 30, 256, [stop]);
    const r = await client.completions.create({ model: MODEL, prompt, max_tokens: 30, temperature: 0, stop });
    expect(r.choices[0].text).toBe(want.text);
    expect(r.choices[0].finish_reason).toBe('stop');
  });

  it('chats, whole and streamed, with the same text', async () => {
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi!' }];
    const want = expectedText(charTokenizer.encode(renderFakeChat(messages), { addSpecialTokens: false }), 25, 256);
    const r = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 25, temperature: 0 });
    expect(r.object).toBe('chat.completion');
    expect(r.choices[0].message).toMatchObject({ role: 'assistant', content: want.text });
    expect(r.choices[0].finish_reason).toBe(want.finish);
    const stream = await client.chat.completions.create({ model: MODEL, messages, max_completion_tokens: 25, temperature: 0, stream: true });
    let text = '';
    let role: string | undefined;
    let finish: string | null = null;
    for await (const c of stream) {
      expect(c.object).toBe('chat.completion.chunk');
      for (const ch of c.choices) {
        role ??= ch.delta.role;
        text += ch.delta.content ?? '';
        finish ??= ch.finish_reason;
      }
    }
    expect(role).toBe('assistant');
    expect(text).toBe(want.text);
    expect(finish).toBe(want.finish);
  });

  it('seeded sampling is reproducible; n gives several choices', async () => {
    const req = { model: MODEL, prompt: 'xyz', max_tokens: 10, temperature: 1, seed: 77 };
    const a = await client.completions.create(req);
    const b = await client.completions.create(req);
    expect(b.choices[0].text).toBe(a.choices[0].text);
    const r = await client.completions.create({ ...req, n: 3 });
    expect(r.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    expect(r.choices[0].text).toBe(a.choices[0].text);
  });

  it('usage counts each prompt once per request, however many choices it gives (as OpenAI does)', async () => {
    const prompts = [[0, 40, 41, 42], [0, 50, 51]];
    const several = await client.completions.create({ model: MODEL, prompt: prompts, n: 3, max_tokens: 5, temperature: 0 });
    expect(several.choices).toHaveLength(6);
    const generated = 3 * prompts.reduce((a, p) => a + expectedText(p, 5, 256).completionTokens, 0);
    expect(several.usage).toEqual({ prompt_tokens: 7, completion_tokens: generated, total_tokens: 7 + generated });
    const messages = [{ role: 'user' as const, content: 'hi there' }];
    const one = await client.chat.completions.create({ model: MODEL, messages, max_tokens: 3, temperature: 0 });
    const chat = await client.chat.completions.create({ model: MODEL, messages, n: 4, max_tokens: 3, temperature: 0 });
    expect(chat.choices).toHaveLength(4);
    expect(chat.usage!.prompt_tokens).toBe(one.usage!.prompt_tokens);
    expect(chat.usage!.completion_tokens).toBe(4 * one.usage!.completion_tokens);
    const stream = await client.chat.completions.create({ model: MODEL, messages, n: 4, max_tokens: 3, temperature: 0, stream: true, stream_options: { include_usage: true } });
    let usage: unknown;
    for await (const c of stream) usage = c.usage ?? usage;
    expect(usage).toEqual(chat.usage);
  });

  it('serves many concurrent streaming clients, each its own text', async () => {
    const prompts = Array.from({ length: 16 }, (_, i) => `client ${i} says`);
    const texts = await Promise.all(prompts.map(async (p) => {
      const s = await client.chat.completions.create({ model: MODEL, messages: [{ role: 'user', content: p }], max_tokens: 15, temperature: 0, stream: true });
      let t = '';
      for await (const c of s) t += c.choices[0]?.delta.content ?? '';
      return t;
    }));
    texts.forEach((t, i) => {
      expect(t).toBe(expectedText(charTokenizer.encode(renderFakeChat([{ role: 'user', content: prompts[i] }]), { addSpecialTokens: false }), 15, 256).text);
    });
    expect(engine.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
  });

  it('answers auth, model and validation errors with OpenAI error objects', async () => {
    const noKey = new OpenAI({ baseURL: server.url, apiKey: 'wrong', maxRetries: 0 });
    await expect(noKey.models.list()).rejects.toMatchObject({ status: 401 });
    const missing = await fetch(`${base}/v1/models`);
    expect(missing.status).toBe(401);
    expect((await errorOf(missing)).code).toBe('invalid_api_key');
    await expect(client.completions.create({ model: 'nope', prompt: 'x' })).rejects.toMatchObject({ status: 404 });
    await expect(client.completions.create({ model: MODEL, prompt: 'x', temperature: 5 })).rejects.toMatchObject({ status: 400, param: 'temperature' });
    const bad = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'user', content: 3 }] });
    expect(bad.status).toBe(400);
    expect(bad.headers.get('content-type')).toBe('application/json');
    expect((await errorOf(bad))).toMatchObject({ type: 'invalid_request_error', param: 'messages[0].content' });
    const cases: Array<[unknown, string]> = [
      [{ model: MODEL }, 'prompt'],
      [{ prompt: 'x' }, 'model'],
      [{ model: MODEL, prompt: [1, 2, 500] }, 'prompt'],
      [{ model: MODEL, prompt: 'x', max_tokens: 0 }, 'max_tokens'],
      [{ model: MODEL, prompt: 'x', stop: [''] }, 'stop'],
      [{ model: MODEL, prompt: 'x', suffix: 'y' }, 'suffix'],
      [{ model: MODEL, prompt: 'x', ignore_eos: 'yes' }, 'ignore_eos'],
      [[1, 2], 'body'],
    ];
    for (const [body, param] of cases) {
      const r = await post('/v1/completions', body);
      expect(r.status).toBe(400);
      expect((await errorOf(r)).param).toBe(param);
    }
    const notJson = await post('/v1/completions', '{"model": ');
    expect(notJson.status).toBe(400);
    expect((await errorOf(notJson)).message).toMatch(/not valid JSON/);
    // the engine's own input errors are 400s too (a chat role its template does not know)
    const engineErr = await post('/v1/chat/completions', { model: MODEL, messages: [{ role: 'tool', content: 'x' }] });
    expect(engineErr.status).toBe(400);
    expect((await post('/v1/embeddings', { model: MODEL, input: 'x' })).status).toBe(400);
    expect((await fetch(`${base}/v1/nothing`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(404);
    expect((await fetch(`${base}/v1/completions`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(405);
  });

  it('refuses bodies over the limit with 413', async () => {
    const r = await post('/v1/completions', { model: MODEL, prompt: 'x'.repeat(70 * 1024) });
    expect(r.status).toBe(413);
    expect((await errorOf(r)).code).toBe('request_too_large');
  });

  it('aborts the request and frees its blocks when the client disconnects', async () => {
    (engine.runner as { delayMs: number }).delayMs = 5;
    try {
      const ac = new AbortController();
      const res = await fetch(`${base}/v1/completions`, {
        method: 'POST', signal: ac.signal,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
        body: JSON.stringify({ model: MODEL, prompt: [0, 77, 78], max_tokens: 200, temperature: 0, stream: true }),
      });
      const reader = res.body!.getReader();
      await reader.read();
      await until(() => engine.stats().running === 1);
      expect(engine.stats().kvBlocksUsed).toBeGreaterThan(0);
      ac.abort();
      await until(() => engine.stats().running === 0);
      expect(engine.stats()).toMatchObject({ waiting: 0, kvBlocksUsed: 0 });
      expect(server.metrics.aborted).toBeGreaterThan(0);
    } finally {
      (engine.runner as { delayMs: number }).delayMs = 0;
    }
  });

  it('reports health and Prometheus metrics', async () => {
    const h = await fetch(`${base}/health`);
    expect(h.status).toBe(200);
    expect(await h.json()).toEqual({ status: 'ok' });
    const m = await fetch(`${base}/metrics`);
    expect(m.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await m.text();
    const v = parsePrometheus(text);
    expect(v.get('gpuformer_requests_running')).toBe(0);
    expect(v.get('gpuformer_kv_blocks_total')).toBe(256);
    expect(v.get('gpuformer_kv_blocks_used')).toBe(0);
    expect(v.get('gpuformer_kv_blocks_cached')).toBeGreaterThan(0);
    expect(v.get('gpuformer_generation_tokens_total')).toBeGreaterThan(100);
    expect(v.get('gpuformer_time_to_first_token_seconds_count')).toBeGreaterThan(10);
    expect(v.get('gpuformer_inter_token_latency_seconds_count')).toBeGreaterThan(100);
    expect(v.get('gpuformer_request_duration_seconds_bucket{le="+Inf"}')).toBeGreaterThan(10);
    expect(v.get('gpuformer_http_requests_total{route="/v1/completions",status="400"}')).toBeGreaterThan(0);
    expect(v.get('gpuformer_memory_bytes{device="cpu",purpose="kv"}')).toBe(4096);
    expect(text).toMatch(/# TYPE gpuformer_time_to_first_token_seconds histogram/);
  });
});

describe('server: embeddings', () => {
  let engine: FakeEngine;
  let server: OpenAIServer;
  let client: OpenAI;

  const post = (path: string, body: unknown, signal?: AbortSignal) => fetch(`${server.url.replace(/\/v1$/, '')}${path}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal,
  });

  beforeAll(async () => {
    engine = new FakeEngine('encoder');
    server = new OpenAIServer(engine, { modelId: 'fake-embed', port: 0 });
    await server.listen();
    client = new OpenAI({ baseURL: server.url, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(async () => {
    await server.close();
    await engine.loop.shutdown();
  });

  const want = (text: string) => Array.from(fakeEmbedding(charTokenizer.encode(text), 'mean', true));

  it('answers the official client (base64 by default) with the right vectors', async () => {
    const r = await client.embeddings.create({ model: 'fake-embed', input: ['hello', 'a longer sentence'] });
    expect(r.object).toBe('list');
    expect(r.data.map((d) => d.index)).toEqual([0, 1]);
    expect(r.data[0].embedding).toHaveLength(5);
    r.data.forEach((d, i) => d.embedding.forEach((x, j) => expect(x).toBeCloseTo(want(['hello', 'a longer sentence'][i])[j], 6)));
    expect(r.usage.prompt_tokens).toBe(6 + 18);
  });

  it('answers floats, token-id inputs and single strings', async () => {
    const f = await client.embeddings.create({ model: 'fake-embed', input: 'hi', encoding_format: 'float' });
    f.data[0].embedding.forEach((x, j) => expect(x).toBeCloseTo(want('hi')[j], 6));
    const ids = await client.embeddings.create({ model: 'fake-embed', input: [[0, 74, 75]], encoding_format: 'float' });
    expect(ids.data[0].embedding).toEqual(Array.from(fakeEmbedding([0, 74, 75], 'mean', true)));
    const flat = await client.embeddings.create({ model: 'fake-embed', input: [0, 74, 75], encoding_format: 'float' });
    expect(flat.data[0].embedding).toEqual(ids.data[0].embedding);
  });

  it('dimensions: the first components, normalized again', async () => {
    const r = await client.embeddings.create({ model: 'fake-embed', input: ['hello', 'hi'], dimensions: 3, encoding_format: 'float' });
    r.data.forEach((d, i) => {
      const head = want(['hello', 'hi'][i]).slice(0, 3);
      const norm = Math.hypot(...head);
      expect(d.embedding).toHaveLength(3);
      d.embedding.forEach((x, j) => expect(x).toBeCloseTo(head[j] / norm, 6));
    });
    // the official client's default (base64) decodes the shorter float32 vectors too
    const b = await client.embeddings.create({ model: 'fake-embed', input: 'hello', dimensions: 3 });
    expect(b.data[0].embedding).toHaveLength(3);
  });

  it('quantized precisions: JSON integer codes, or base64 of their bytes', async () => {
    const input = ['hello', 'hi', 'a longer sentence'];
    const floats = input.map((t) => Float32Array.from(want(t)));
    const body = (extra: object) => post('/v1/embeddings', { model: 'fake-embed', input, ...extra });
    for (const precision of ['int8', 'uint8', 'binary', 'ubinary'] as const) {
      const codes = quantizeEmbeddings(floats, precision).map((v) => Array.from(v));
      const json = (await (await body({ encoding_format: precision })).json()) as { data: Array<{ embedding: number[] }> };
      expect(json.data.map((d) => d.embedding)).toEqual(codes);
      const b64 = (await (await body({ encoding_format: 'base64', precision })).json()) as { data: Array<{ embedding: string }> };
      const signed = precision === 'int8' || precision === 'binary';
      expect(b64.data.map((d) => Array.from(signed ? new Int8Array(Buffer.from(d.embedding, 'base64')) : Buffer.from(d.embedding, 'base64')))).toEqual(codes);
    }
    const ranges = [[-1, -1, -1, -1, -1], [1, 1, 1, 1, 1]];
    const ranged = (await (await body({ encoding_format: 'uint8', ranges })).json()) as { data: Array<{ embedding: number[] }> };
    expect(ranged.data.map((d) => d.embedding)).toEqual(quantizeEmbeddings(floats, 'uint8', { ranges: [ranges[0], ranges[1]] }).map((v) => Array.from(v)));
  });

  it('refuses what does not fit an embedding model, naming the field', async () => {
    const refused = async (body: object, param: string, pattern: RegExp) => {
      const r = await post('/v1/embeddings', { model: 'fake-embed', input: 'x', ...body });
      expect(r.status).toBe(400);
      const e = await errorOf(r);
      expect(e.param).toBe(param);
      expect(e.message).toMatch(pattern);
    };
    await refused({ dimensions: 6 }, 'dimensions', /6 is more than the model's 5 dimensions/);
    await refused({ dimensions: 0 }, 'dimensions', /positive integer/);
    await refused({ encoding_format: 'int4' }, 'encoding_format', /'float', 'base64', 'int8', 'uint8', 'binary', 'ubinary'/);
    await refused({ encoding_format: 'int8', precision: 'uint8' }, 'precision', /'encoding_format' asks for 'int8'/);
    await refused({ ranges: [[0], [1]] }, 'ranges', /'int8' or 'uint8' only, not 'float32'/);
    await refused({ precision: 'int8', ranges: [[0], [1]] }, 'ranges', /1 dimensions; the embeddings have 5/);
    await refused({ precision: 'int8', ranges: [[0, 0, 0, 0, 2], [1, 1, 1, 1, 1]] }, 'ranges', /dimension 4 has min 2 above max 1/);
    await expect(client.embeddings.create({ model: 'fake-embed', input: [] })).rejects.toMatchObject({ status: 400, param: 'input' });
    await expect(client.chat.completions.create({ model: 'fake-embed', messages: [{ role: 'user', content: 'x' }] })).rejects.toMatchObject({ status: 400 });
  });

  it('a client that disconnects stops its embedding request: the inputs not yet embedded are dropped', async () => {
    const runner = engine.runner as FakeEncoderRunner;
    let release!: () => void;
    runner.hold = new Promise((r) => (release = r));
    const startedBefore = runner.started;
    const abortedBefore = server.metrics.aborted;
    // 320 inputs, at most 32 per batch: ten batches
    const ac = new AbortController();
    const request = post('/v1/embeddings', { model: 'fake-embed', input: new Array(320).fill([0, 70]) }, ac.signal).catch((e) => e);
    await until(() => runner.started === startedBefore + 1); // the first batch runs (held)
    ac.abort();
    await until(() => server.metrics.aborted === abortedBefore + 1); // the server saw the client go
    runner.hold = null;
    release();
    await request;
    await engine.loop.idle();
    expect(runner.started).toBe(startedBefore + 1); // no batch after the disconnect
    expect(engine.stats().waiting).toBe(0);
  });
});
