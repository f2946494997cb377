/**
 * Structured output's heavy host work runs off the event loop (lib/structured/off-loop.ts), so the server
 * answers /health while it runs (issue 20): a large schema's compile, and the model's vocabulary trie built
 * for the first structured request. Nothing here depends on the machine's speed: each test waits until the
 * work is on structured output's thread, asks for /health, and checks that the answer came while that work
 * was still unfinished (on the event loop, no answer could come before it ended).
 */
import * as path from 'path';
import { OpenAIServer } from '../../lib/server/server';
import { jobsInFlight } from '../../lib/structured/off-loop';
import { compileResponseFormat, isCompiled } from '../../lib/structured/response-format';
import { serveModel } from '../helpers/served-model';
import { FakeEngine } from './fake-engine';

const GGUF = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

/** A schema whose compile takes a while: many properties, each a string held to a pattern (`tag` makes it new). */
function largeSchema(tag: string, properties = 120) {
  const p: Record<string, unknown> = {};
  for (let i = 0; i < properties; i++) p[`${tag}_${i}`] = { type: 'string', pattern: '^[a-z]{2,8}-[0-9]{3}$' };
  return { type: 'object', properties: p, required: Object.keys(p).slice(0, properties / 2), additionalProperties: false };
}

/** Resolves once structured output's thread holds a job (polled at every turn of the event loop). */
async function untilOnThread(): Promise<void> {
  while (jobsInFlight() === 0) await new Promise((r) => setImmediate(r));
}

const post = (base: string, route: string, body: unknown) => fetch(`${base}${route}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

describe('a large schema', () => {
  let server: OpenAIServer;
  let base: string;
  beforeAll(async () => {
    server = new OpenAIServer(new FakeEngine('decoder', 256), { modelId: 'fake-llm', port: 0 });
    await server.listen();
    base = server.url.replace(/\/v1$/, '');
    await compileResponseFormat({ type: 'json_object' }, 'warm-up'); // the thread started (under ts-jest it compiles its sources first)
  });
  afterAll(() => server.close());

  it('compiles on structured output\'s thread: /health answers before the compile is over', async () => {
    const schema = largeSchema(`p${process.pid}`);
    const format = { type: 'json_schema', jsonSchema: { name: 'big', schema } };
    const request = post(base, '/v1/completions', {
      model: 'fake-llm', prompt: 'x', max_tokens: 1, response_format: { type: 'json_schema', json_schema: { name: 'big', schema } },
    });
    await untilOnThread();
    const health = await fetch(`${base}/health`);
    const compiledWhenHealthAnswered = isCompiled(format);
    expect(health.status).toBe(200);
    expect(compiledWhenHealthAnswered).toBe(false);
    expect((await request).status).toBe(200);
    expect(isCompiled(format)).toBe(true);
  });

  it('a schema it cannot enforce is still a 400 naming response_format', async () => {
    const r = await post(base, '/v1/completions', {
      model: 'fake-llm', prompt: 'x', response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'string', format: 'ipv6' } } },
    });
    expect(r.status).toBe(400);
    expect(((await r.json()) as { error: { param: string; message: string } }).error).toMatchObject({ param: 'response_format', message: expect.stringContaining('ipv6') });
  });
});

describe('the vocabulary of SmolLM2-135M-Instruct', () => {
  const served = serveModel(GGUF, { maxModelLen: 512, maxNumSeqs: 4 }, 'smollm2');

  it('is built on structured output\'s thread for the first structured request: /health answers meanwhile', async () => {
    const response_format = { type: 'json_object' };
    await compileResponseFormat(response_format, 'warm-up'); // the grammar cached: the thread's only job is the vocabulary
    const request = post(served.base, '/v1/chat/completions', {
      model: 'smollm2', messages: [{ role: 'user', content: 'Give me a JSON object with your name.' }], max_tokens: 24, temperature: 0, response_format,
    });
    await untilOnThread();
    const health = await fetch(`${served.base}/health`);
    const buildingWhenHealthAnswered = jobsInFlight() > 0;
    expect(health.status).toBe(200);
    expect(buildingWhenHealthAnswered).toBe(true);
    const r = await request;
    expect(r.status).toBe(200);
    const { choices } = (await r.json()) as { choices: Array<{ message: { content: string }; finish_reason: string }> };
    if (choices[0].finish_reason === 'stop') expect(typeof JSON.parse(choices[0].message.content)).toBe('object');
    expect(choices[0].message.content.startsWith('{')).toBe(true);
  });
});
