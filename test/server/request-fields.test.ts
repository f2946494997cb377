/**
 * Every entry of lib/server/request-fields.ts, endpoint by endpoint, over real HTTP against the real
 * SmolLM2-135M-Instruct GGUF on the CPU: a field the table honours is sent with a value whose effect the case
 * checks in the response (against the same request without it, greedy, where it needs a baseline); a refused
 * field is sent with a value that asks for something and must be a 400 whose param names it (and with its
 * neutral values, a 200); an informational field is a 200 with the baseline's text. The table and the cases
 * must list the same fields, so a field added to either without the other fails here. Unknown fields are
 * refused. add_special_tokens is checked on the model-free engine, whose tokenizer adds a BOS the GGUF's does not.
 */
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { GENERATE_OPTIONS } from '../../lib/engine/options';
import { Endpoint, fieldsOf, REQUEST_FIELDS } from '../../lib/server/request-fields';
import { OpenAIServer } from '../../lib/server/server';
import { MODELS } from '../models/golden';
import { FakeEngine } from './fake-engine';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const MODEL = 'smol';
const EOS = 2;
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let engine: Engine;
let server: OpenAIServer;

/** POSTs a body to an endpoint; a streamed answer comes back as its events. */
async function call(endpoint: Endpoint, body: Json, srv = server): Promise<{ status: number; json: Json; events: Json[] }> {
  const r = await fetch(`${srv.url}/${endpoint === 'chat' ? 'chat/completions' : 'completions'}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  const text = await r.text();
  if (!(r.headers.get('content-type') ?? '').startsWith('text/event-stream')) return { status: r.status, json: JSON.parse(text), events: [] };
  const events = text.split('\n\n').filter((e) => e.startsWith('data: ') && e !== 'data: [DONE]').map((e) => JSON.parse(e.slice(6)));
  return { status: r.status, json: {}, events };
}

const BASE: Record<Endpoint, Json> = {
  completions: { model: MODEL, prompt: 'Once upon a time, in a small village,', max_tokens: 5, temperature: 0 },
  chat: { model: MODEL, messages: [{ role: 'user', content: 'Tell me a story about a dragon.' }], max_tokens: 5, temperature: 0 },
};
const REPETITIVE: Record<Endpoint, Json> = {
  completions: { prompt: 'red red red red red red red red red red red red' },
  chat: { messages: [{ role: 'user', content: 'List the numbers 1 1 1 1 1 1' }] }, // greedy answers '1, 1,'
};

/** The text of a response (a choice's, or a stream's concatenated deltas). */
function textOf(endpoint: Endpoint, r: { json: Json; events: Json[] }, index = 0): string {
  if (r.events.length) {
    return r.events.flatMap((e) => e.choices.filter((c: Json) => c.index === index))
      .map((c: Json) => (endpoint === 'chat' ? c.delta.content ?? '' : c.text)).join('');
  }
  const c = r.json.choices[index];
  return endpoint === 'chat' ? c.message.content : c.text;
}

/** The token ids of a response generated with return_tokens_as_token_ids and log-probabilities. */
function idsOf(endpoint: Endpoint, r: { json: Json }): number[] {
  const lp = r.json.choices[0].logprobs;
  const names: string[] = endpoint === 'chat' ? lp.content.map((c: Json) => c.token) : lp.tokens;
  return names.map((t) => Number(t.replace(/^token_id:/, '')));
}

/** The log-probability fields that make a response name its tokens by id. */
const WITH_IDS: Record<Endpoint, Json> = {
  completions: { logprobs: 0, return_tokens_as_token_ids: true },
  chat: { logprobs: true, return_tokens_as_token_ids: true },
};

interface Ctx {
  endpoint: Endpoint;
  /** the greedy baseline's text and token ids */
  text: string;
  ids: number[];
  /** sends BASE[endpoint] with `extra` */
  send(extra: Json, srv?: OpenAIServer): Promise<{ status: number; json: Json; events: Json[] }>;
}

/** How each honoured or informational field is checked: its effect in the response. */
const EFFECTS: Record<string, (c: Ctx) => Promise<void>> = {
  model: async (c) => {
    expect((await c.send({ model: MODEL })).status).toBe(200);
    expect((await c.send({ model: 'another' })).status).toBe(404);
  },
  max_tokens: async (c) => {
    const r = await c.send({ max_tokens: 3, ignore_eos: true });
    expect(r.json.usage.completion_tokens).toBe(3);
  },
  max_completion_tokens: async (c) => {
    const r = await c.send({ max_completion_tokens: 2, max_tokens: undefined, ignore_eos: true });
    expect(r.json.usage.completion_tokens).toBe(2);
  },
  temperature: async (c) => {
    const r = await c.send({ temperature: 1.8, seed: 11, max_tokens: 8 });
    expect(textOf(c.endpoint, r)).not.toBe(textOf(c.endpoint, await c.send({ max_tokens: 8 })));
  },
  top_p: async (c) => expect(textOf(c.endpoint, await c.send({ temperature: 1.8, seed: 11, top_p: 1e-9 }))).toBe(c.text),
  top_k: async (c) => expect(textOf(c.endpoint, await c.send({ temperature: 1.8, seed: 11, top_k: 1 }))).toBe(c.text),
  min_p: async (c) => expect(textOf(c.endpoint, await c.send({ temperature: 1.8, seed: 11, min_p: 1 }))).toBe(c.text),
  seed: async (c) => {
    const a = textOf(c.endpoint, await c.send({ temperature: 1.2, seed: 5, max_tokens: 8 }));
    expect(textOf(c.endpoint, await c.send({ temperature: 1.2, seed: 5, max_tokens: 8 }))).toBe(a);
  },
  n: async (c) => {
    const r = await c.send({ n: 3, temperature: 1.2, seed: 3 });
    expect(r.json.choices.map((x: Json) => x.index)).toEqual([0, 1, 2]);
  },
  stream: async (c) => {
    const r = await c.send({ stream: true });
    expect(r.events.length).toBeGreaterThan(1);
    expect(textOf(c.endpoint, r)).toBe(c.text);
  },
  stream_options: async (c) => {
    const r = await c.send({ stream: true, stream_options: { include_usage: true } });
    expect(r.events[r.events.length - 1].usage.completion_tokens).toBeGreaterThan(0);
    const bad = await c.send({ stream_options: { include_usage: true } });
    expect([bad.status, bad.json.error.param]).toEqual([400, 'stream_options']);
  },
  stop: async (c) => {
    const word = c.text.trim().split(/\s+/)[1];
    const r = await c.send({ stop: [word] });
    expect(textOf(c.endpoint, r)).toBe(c.text.slice(0, c.text.indexOf(word)));
    expect(r.json.choices[0].finish_reason).toBe('stop');
  },
  include_stop_str_in_output: async (c) => {
    const word = c.text.trim().split(/\s+/)[1];
    const r = await c.send({ stop: [word], include_stop_str_in_output: true });
    expect(textOf(c.endpoint, r)).toBe(c.text.slice(0, c.text.indexOf(word) + word.length));
  },
  stop_token_ids: async (c) => {
    const r = await c.send({ stop_token_ids: [c.ids[1]], ...WITH_IDS[c.endpoint] });
    expect(idsOf(c.endpoint, r)).toEqual(c.ids.slice(0, 2));
    expect(r.json.choices[0].finish_reason).toBe('stop');
  },
  presence_penalty: async (c) => expect(textOf(c.endpoint, await c.send({ ...REPETITIVE[c.endpoint], presence_penalty: 2 })))
    .not.toBe(textOf(c.endpoint, await c.send(REPETITIVE[c.endpoint]))),
  frequency_penalty: async (c) => expect(textOf(c.endpoint, await c.send({ ...REPETITIVE[c.endpoint], frequency_penalty: 2 })))
    .not.toBe(textOf(c.endpoint, await c.send(REPETITIVE[c.endpoint]))),
  repetition_penalty: async (c) => expect(textOf(c.endpoint, await c.send({ ...REPETITIVE[c.endpoint], repetition_penalty: 2 })))
    .not.toBe(textOf(c.endpoint, await c.send(REPETITIVE[c.endpoint]))),
  prompt: async (c) => {
    // the same prompt as token ids, and two prompts: one choice each
    const ids = engine.tokenizer!.encode(BASE.completions.prompt);
    expect(textOf(c.endpoint, await c.send({ prompt: ids }))).toBe(c.text);
    expect((await c.send({ prompt: [BASE.completions.prompt, 'Hello'] })).json.choices).toHaveLength(2);
  },
  messages: async (c) => {
    // rendered with the model's template (which adds its own system prompt when none is given)
    const messages = [{ role: 'system', content: 'Answer in French.' }, ...BASE.chat.messages];
    const r = await c.send({ messages });
    expect(r.json.usage.prompt_tokens).toBe(engine.tokenizer!.encode(engine.renderChat(messages), { addSpecialTokens: false }).length);
  },
  logit_bias: async (c) => {
    const r = await c.send({ logit_bias: { 1000: 100 }, ...WITH_IDS[c.endpoint] });
    expect(idsOf(c.endpoint, r)).toEqual([1000, 1000, 1000, 1000, 1000]);
  },
  allowed_token_ids: async (c) => {
    const r = await c.send({ allowed_token_ids: [1000, 1001], temperature: 1, seed: 1, ...WITH_IDS[c.endpoint] });
    expect(idsOf(c.endpoint, r).every((t) => t === 1000 || t === 1001)).toBe(true);
  },
  ignore_eos: async (c) => {
    const eos = await c.send({ logit_bias: { [EOS]: 100 } });
    expect([eos.json.usage.completion_tokens, eos.json.choices[0].finish_reason]).toEqual([1, 'stop']);
    const r = await c.send({ logit_bias: { [EOS]: 100 }, ignore_eos: true });
    expect([r.json.usage.completion_tokens, r.json.choices[0].finish_reason]).toEqual([5, 'length']);
  },
  min_tokens: async (c) => {
    const r = await c.send({ logit_bias: { [EOS]: 100 }, min_tokens: 3 });
    expect([r.json.usage.completion_tokens, r.json.choices[0].finish_reason]).toEqual([4, 'stop']);
  },
  skip_special_tokens: async (c) => {
    const r = await c.send({ logit_bias: { [EOS]: 100 }, min_tokens: 1, skip_special_tokens: false });
    expect(textOf(c.endpoint, r).endsWith('<|im_end|>')).toBe(true);
    expect(textOf(c.endpoint, await c.send({ logit_bias: { [EOS]: 100 }, min_tokens: 1 }))).not.toMatch(/<\|im_end\|>/);
  },
  truncate_prompt_tokens: async (c) => expect((await c.send({ truncate_prompt_tokens: 3 })).json.usage.prompt_tokens).toBe(3),
  logprobs: async (c) => {
    const r = await c.send(c.endpoint === 'chat' ? { logprobs: true, top_logprobs: 3 } : { logprobs: 3 });
    const lp = r.json.choices[0].logprobs;
    if (c.endpoint === 'chat') {
      expect(lp.content.map((t: Json) => t.token).join('')).toBe(c.text);
      for (const t of lp.content) {
        expect(t.top_logprobs).toHaveLength(3);
        expect(t.top_logprobs[0].token).toBe(t.token); // greedy: the chosen token is the most likely
        expect(t.top_logprobs[0].logprob).toBe(t.logprob);
        expect(Buffer.from(t.bytes).toString('utf8')).toBe(t.token);
        expect(t.logprob).toBeLessThanOrEqual(0);
      }
    } else {
      expect(lp.tokens.join('')).toBe(c.text);
      expect(lp.text_offset[0]).toBe(0);
      lp.tokens.forEach((t: string, i: number) => {
        expect(lp.top_logprobs[i][t]).toBe(lp.token_logprobs[i]);
        expect(Object.keys(lp.top_logprobs[i]).length).toBeLessThanOrEqual(4);
        if (i > 0) expect(lp.text_offset[i]).toBe(lp.text_offset[i - 1] + lp.tokens[i - 1].length);
      });
    }
    // streamed: the same tokens, log-probabilities and offsets, spread over the chunks
    const st = await c.send({ ...(c.endpoint === 'chat' ? { logprobs: true, top_logprobs: 3 } : { logprobs: 3 }), stream: true });
    const parts = st.events.flatMap((e) => e.choices.filter((x: Json) => x.logprobs).map((x: Json) => x.logprobs));
    if (c.endpoint === 'chat') {
      expect(parts.flatMap((l: Json) => l.content)).toEqual(lp.content);
    } else {
      for (const k of ['tokens', 'token_logprobs', 'top_logprobs', 'text_offset']) expect(parts.flatMap((l: Json) => l[k])).toEqual(lp[k]);
    }
    expect(c.endpoint === 'chat' ? 0 : (await c.send({ logprobs: 21 })).status).not.toBe(200);
  },
  top_logprobs: async (c) => {
    const r = await c.send({ logprobs: true, top_logprobs: 0 });
    expect(r.json.choices[0].logprobs.content.every((t: Json) => t.top_logprobs.length === 0)).toBe(true);
    const bad = await c.send({ top_logprobs: 2 });
    expect([bad.status, bad.json.error.param]).toEqual([400, 'top_logprobs']);
  },
  return_tokens_as_token_ids: async (c) => {
    const r = await c.send(WITH_IDS[c.endpoint]);
    expect(idsOf(c.endpoint, r)).toEqual(c.ids);
  },
  request_id: async (c) => expect((await c.send({ request_id: 'req-42' })).json.id).toBe(`${c.endpoint === 'chat' ? 'chatcmpl' : 'cmpl'}-req-42`),
  echo: async (c) => {
    expect(textOf(c.endpoint, await c.send({ echo: true }))).toBe(BASE.completions.prompt + c.text);
    expect((await c.send({ echo: true, logprobs: 1 })).status).toBe(400);
  },
  best_of: async (c) => {
    const o = { temperature: 1.5, seed: 21, max_tokens: 6, ignore_eos: true };
    const all = await c.send({ ...o, n: 3, logprobs: 0 });
    const mean = (x: Json) => x.logprobs.token_logprobs.reduce((a: number, b: number) => a + b, 0) / x.logprobs.token_logprobs.length;
    const best = [...all.json.choices].sort((a, b) => mean(b) - mean(a))[0];
    const r = await c.send({ ...o, best_of: 3 });
    expect(r.json.choices).toHaveLength(1);
    expect(r.json.choices[0].text).toBe(best.text);
    expect(r.json.choices[0].logprobs).toBeNull();
    expect(r.json.usage.completion_tokens).toBe(18);
    expect((await c.send({ best_of: 2, stream: true })).status).toBe(400);
    expect((await c.send({ best_of: 1, n: 2 })).status).toBe(400);
  },
  service_tier: async (c) => {
    expect((await c.send({ service_tier: 'auto' })).json.service_tier).toBe('default');
    expect((await c.send({ service_tier: 'flex' })).status).toBe(400);
  },
  response_format: async (c) => {
    // held to a schema: a whole JSON document that validates, where the free answer is a story
    const schema = { type: 'object', properties: { ok: { type: 'boolean' } }, required: ['ok'], additionalProperties: false };
    const r = await c.send({ response_format: { type: 'json_schema', json_schema: { name: 'yes_no', schema, strict: true } }, max_tokens: 48 });
    expect(r.json.choices[0].finish_reason).toBe('stop');
    expect(typeof JSON.parse(textOf(c.endpoint, r)).ok).toBe('boolean');
    const o = await c.send({ response_format: { type: 'json_object' }, max_tokens: 1 });
    expect(textOf(c.endpoint, o).trimStart()).toMatch(/^\{/);
    expect(textOf(c.endpoint, await c.send({ response_format: { type: 'text' } }))).toBe(c.text);
    // what it cannot enforce is a 400 naming the field and the keyword
    const bad = await c.send({ response_format: { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'string', format: 'ipv6' } } } });
    expect([bad.status, bad.json.error.param]).toEqual([400, 'response_format']);
    expect(bad.json.error.message).toMatch(/format "ipv6" is not supported/);
    const unnamed = await c.send({ response_format: { type: 'json_schema', json_schema: { schema } } });
    expect([unnamed.status, unnamed.json.error.param]).toEqual([400, 'response_format']);
  },
  add_special_tokens: async (c) => {
    // the fake tokenizer adds BOS with special tokens: one prompt token more (SmolLM2 adds none)
    const fake = new FakeEngine('decoder', 256);
    const srv = new OpenAIServer(fake, { modelId: MODEL, port: 0 });
    await srv.listen();
    try {
      const tokens = async (v: boolean | undefined) => (await c.send({ add_special_tokens: v, temperature: 0, max_tokens: 2 }, srv)).json.usage.prompt_tokens;
      const plain = await tokens(undefined);
      expect(await tokens(c.endpoint !== 'chat')).toBe(plain); // the endpoint's default: true for completions, false for chat
      expect(await tokens(c.endpoint === 'chat')).toBe(plain + (c.endpoint === 'chat' ? 1 : -1));
    } finally {
      await srv.close();
      await fake.loop.shutdown();
    }
  },
};

/** The value that makes a refused field ask for something. */
const REFUSED_VALUES: Record<string, unknown> = {
  suffix: ' the end', tools: [{ type: 'function', function: { name: 'f', parameters: {} } }],
  tool_choice: 'auto', parallel_tool_calls: 'yes', functions: [{ name: 'f', parameters: {} }], function_call: 'auto',
  audio: { voice: 'alloy', format: 'wav' }, modalities: ['text', 'audio'], prediction: { type: 'content', content: 'x' },
  reasoning_effort: 'high', verbosity: 'low', web_search_options: {}, store: true, metadata: { a: 'b' }, length_penalty: 1.2,
  use_beam_search: true, spaces_between_special_tokens: false, prompt_logprobs: 1, bad_words: ['red'], add_generation_prompt: false,
  continue_final_message: true, documents: [{ title: 't', text: 'x' }], chat_template: '{{ messages }}', chat_template_kwargs: { x: 1 },
  mm_processor_kwargs: { a: 1 }, guided_json: { type: 'object' }, guided_regex: 'a+', guided_choice: ['a', 'b'], guided_grammar: 'root ::= "a"',
  structural_tag: '{}', structured_outputs: { json: {} }, guided_decoding_backend: 'xgrammar', guided_whitespace_pattern: ' ', priority: 1,
  logits_processors: ['x.y'], return_token_ids: true, cache_salt: 'salt', kv_transfer_params: { a: 1 }, vllm_xargs: { a: 1 },
  prompt_embeds: 'AAAA',
};

beforeAll(async () => {
  engine = await Engine.load(GGUF, { device: 'cpu', maxModelLen: 256, maxNumSeqs: 8, maxNumBatchedTokens: 256 });
  server = new OpenAIServer(engine, { modelId: MODEL, port: 0 });
  await server.listen();
});
afterAll(async () => {
  await server?.close();
  await engine?.dispose();
});

test('the table and these cases list the same fields, and every Engine option with a field is an option entry', () => {
  for (const [field, rule] of Object.entries(REQUEST_FIELDS)) {
    const covered = rule.how === 'refused' ? field in REFUSED_VALUES : rule.how === 'informational' || field in EFFECTS;
    expect({ field, covered }).toEqual({ field, covered: true });
  }
  for (const field of [...Object.keys(EFFECTS), ...Object.keys(REFUSED_VALUES)]) expect({ field, inTable: field in REQUEST_FIELDS }).toEqual({ field, inTable: true });
  const engineFields = Object.values(GENERATE_OPTIONS).flatMap((e) => ('field' in e && e.field ? [e.field] : []));
  const optionFields = Object.entries(REQUEST_FIELDS).filter(([, r]) => r.how === 'option').map(([f]) => f);
  expect(optionFields.sort()).toEqual(engineFields.sort());
});

describe.each(['completions', 'chat'] as const)('/v1/%s', (endpoint) => {
  const c: Ctx = {
    endpoint, text: '', ids: [],
    send: (extra, srv) => call(endpoint, { ...BASE[endpoint], ...extra }, srv),
  };
  beforeAll(async () => {
    const r = await c.send(WITH_IDS[endpoint]);
    c.text = textOf(endpoint, r);
    c.ids = idsOf(endpoint, r);
    expect(c.ids).toHaveLength(5);
  });

  const fields = fieldsOf(endpoint);
  test.each(fields.filter(([, r]) => r.how !== 'refused').map(([f, r]) => [f, r.how]))('%s (%s): honoured', async (field) => {
    const check = EFFECTS[field];
    if (check) {
      await check(c);
    } else {
      const r = await c.send({ [field]: 'an-identifier' });
      expect(r.status).toBe(200);
      expect(textOf(endpoint, r)).toBe(c.text);
    }
  });

  test.each(fields.filter(([, r]) => r.how === 'refused').map(([f]) => [f]))('%s: refused with a 400 naming it, neutral values accepted', async (field) => {
    const r = await c.send({ [field]: REFUSED_VALUES[field] });
    expect({ status: r.status, param: r.json.error?.param }).toEqual({ status: 400, param: field });
    expect(r.json.error.message).toContain(`'${field}'`);
    // one token is enough to see a request accepted
    for (const v of [...(REQUEST_FIELDS[field].neutral ?? []), null]) expect((await c.send({ [field]: v, max_tokens: 1 })).status).toBe(200);
  });

  test('a field the table does not know is refused, and so is the other endpoint\'s', async () => {
    const r = await c.send({ temprature: 0.5 });
    expect({ status: r.status, param: r.json.error.param }).toEqual({ status: 400, param: 'temprature' });
    const other = endpoint === 'chat' ? 'echo' : 'top_logprobs';
    const o = await c.send({ [other]: endpoint === 'chat' ? true : 2 });
    expect({ status: o.status, param: o.json.error.param }).toEqual({ status: 400, param: other });
    expect(o.json.error.message).toMatch(/belongs to/);
  });
});
