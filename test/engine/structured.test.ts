/**
 * Structured output through the engine loop and the scheduler, model-free: the fake runner samples within
 * each step's token mask (test/engine/fake-runners.ts), a one-character-per-token vocabulary gives the
 * text. Every token goes through the request's grammar; a generation ends 'stop' at a stop token the
 * grammar allows or where nothing can follow, 'length' when maxTokens cuts the document; a token outside the
 * mask fails its request alone; allowed_token_ids and the grammar both hold. The option itself: checked at
 * the edge, a schema that cannot be enforced refused naming its keyword.
 */
import Ajv2020 from 'ajv/dist/2020';
import { BackgroundEngineLoop } from '../../lib/engine/loop';
import { GENERATE_OPTIONS, resolveGenerateOptions } from '../../lib/engine/options';
import type { GenerateRequest, TokenEvent } from '../../lib/engine/types';
import { NEUTRAL_SAMPLING } from '../../lib/core/step';
import { StructuredFormat, checkResponseFormat, constraintFor } from '../../lib/structured/response-format';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { FAKE_VOCAB, FakeDecoderRunner } from './fake-runners';

const EOS = 1;
/** token t ≥ 2 is the printable ASCII character t + 30 (as test/server/fake-engine.ts's tokenizer) */
const vocab = new TokenVocabulary(FAKE_VOCAB, Array.from({ length: FAKE_VOCAB }, (_, t) => (t >= 2 ? Uint8Array.of(t + 30) : null)));
const text = (ids: number[]) => ids.filter((t) => t >= 2).map((t) => String.fromCharCode(t + 30)).join('');
const ids = (s: string) => [...s].map((c) => c.charCodeAt(0) - 30);

const SCHEMA = {
  type: 'object', additionalProperties: false, required: ['ok', 'kind'],
  properties: { ok: { type: 'boolean' }, kind: { enum: ['a', 'bc'] }, n: { type: 'integer' } },
};
const format = (schema: unknown) => checkResponseFormat({ type: 'json_schema', jsonSchema: { name: 't', schema } }, 'responseFormat')!;

function setup() {
  const runner = new FakeDecoderRunner(256, 8);
  const loop = new BackgroundEngineLoop(runner, { maxNumBatchedTokens: 256, maxNumSeqs: 16, maxModelLen: 1024 });
  return { runner, loop };
}

async function drain(events: AsyncIterable<TokenEvent>): Promise<{ ids: number[]; finish: string | undefined }> {
  const out: number[] = [];
  let finish: string | undefined;
  for await (const e of events) {
    if (e.tokenId >= 0) out.push(e.tokenId);
    finish = e.finishReason ?? finish;
  }
  return { ids: out, finish };
}

function request(prompt: string, maxTokens: number, f: StructuredFormat, stops = [EOS], extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return {
    promptIds: ids(prompt), maxTokens, stopTokenIds: stops, sampling: { ...NEUTRAL_SAMPLING },
    constraint: constraintFor(f, vocab, stops), ...extra,
  };
}

describe('structured output in the engine loop', () => {
  it('every token follows the grammar; the outputs parse and validate (concurrent requests, each its own state)', async () => {
    const { runner, loop } = setup();
    const validate = new Ajv2020({ strict: false }).compile(SCHEMA);
    try {
      const prompts = ['answer:', 'json please', 'x', 'another prompt', '{', '"', 'zz', 'q'];
      const results = await Promise.all(prompts.map((p) => drain(loop.generate(request(p, 600, format(SCHEMA))))));
      for (const r of results) {
        expect(r.finish).toBe('stop');
        const doc = text(r.ids);
        expect({ doc, valid: validate(JSON.parse(doc)) }).toEqual({ doc, valid: true });
      }
      // a mask went with every sampled row
      expect(runner.masks.length).toBeGreaterThan(prompts.length);
      expect(runner.masks.every((m) => m instanceof Uint32Array && m.length === Math.ceil(FAKE_VOCAB / 32))).toBe(true);
    } finally {
      await loop.shutdown();
    }
  });

  it('ends with \'stop\' where nothing can follow, with no stop token to end it', async () => {
    const { loop } = setup();
    try {
      const r = await drain(loop.generate(request('p', 200, format({ const: 'x' }), [])));
      expect(r.finish).toBe('stop');
      expect(text(r.ids)).toBe('"x"');
      expect(r.ids).not.toContain(EOS);
    } finally {
      await loop.shutdown();
    }
  });

  it('maxTokens cuts the document short: finish reason \'length\'', async () => {
    const { loop } = setup();
    try {
      const r = await drain(loop.generate(request('p', 3, format(SCHEMA))));
      expect(r.finish).toBe('length');
      expect(r.ids).toHaveLength(3);
      expect(() => JSON.parse(text(r.ids))).toThrow();
    } finally {
      await loop.shutdown();
    }
  });

  it('a token outside the mask fails its own request only', async () => {
    const { runner, loop } = setup();
    try {
      runner.ignoreMasks = true;
      const bad = drain(loop.generate(request('p', 50, format(SCHEMA))));
      const free = drain(loop.generate({ promptIds: ids('q'), maxTokens: 5, stopTokenIds: [], sampling: { ...NEUTRAL_SAMPLING } }));
      await expect(bad).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/does not allow/) });
      expect((await free).ids).toHaveLength(5);
    } finally {
      await loop.shutdown();
    }
  });

  it('allowed_token_ids and the grammar both hold: the mask is their intersection', async () => {
    const { runner, loop } = setup();
    try {
      // digits and '-' only: an integer, then no whitespace can follow
      const allowed = new Uint32Array(Math.ceil(FAKE_VOCAB / 32));
      for (const t of [EOS, ...ids('-0123456789')]) allowed[t >> 5] |= 1 << (t & 31);
      const r = await drain(loop.generate(request('p', 30, format({ type: 'integer' }), [EOS], { allowedTokens: allowed })));
      expect(text(r.ids)).toMatch(/^-?(0|[1-9][0-9]*)$/);
      for (const m of runner.masks) for (let w = 0; w < m!.length; w++) expect(m![w] & ~allowed[w]).toBe(0);
    } finally {
      await loop.shutdown();
    }
  });
});

describe('the responseFormat option', () => {
  const resolve = (responseFormat: unknown) => resolveGenerateOptions({ responseFormat } as never, { vocabSize: FAKE_VOCAB }).responseFormat;

  it('text and null leave the output free; the others compile once and come back checked', () => {
    expect(resolve(undefined)).toBeNull();
    expect(resolve(null)).toBeNull();
    expect(resolve({ type: 'text' })).toBeNull();
    const a = resolve({ type: 'json_object' });
    expect(a).toBeInstanceOf(StructuredFormat);
    expect(resolve({ type: 'json_object' })!.grammar).toBe(a!.grammar); // cached
    expect(resolve(a)).toBe(a); // a checked value stays as it is (the server hands resolved options back)
    const s = resolve({ type: 'json_schema', jsonSchema: { name: 'x', schema: SCHEMA, strict: true } });
    expect(s!.type).toBe('json_schema');
  });

  it('refuses malformed values and unsupported schemas, naming the option and the keyword', () => {
    const bad: Array<[unknown, RegExp]> = [
      ['json', /responseFormat must be/], [{ type: 'xml' }, /responseFormat.type must be/], [{ type: 'json_object', schema: {} }, /has no field "schema"/],
      [{ type: 'json_schema' }, /responseFormat.jsonSchema must be/], [{ type: 'json_schema', jsonSchema: { name: 'a b' } }, /name must be/],
      [{ type: 'json_schema', jsonSchema: { strict: 'yes' } }, /strict must be a boolean/],
      [{ type: 'json_schema', jsonSchema: { schema: { type: 'integer', multipleOf: 2 } } }, /keyword "multipleOf"/],
    ];
    for (const [v, message] of bad) expect(() => resolve(v)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(message) }));
  });

  it('the wire form: json_schema with a name, as OpenAI requires', () => {
    const e = GENERATE_OPTIONS.responseFormat;
    expect(e.field).toBe('response_format');
    const wire = { type: 'json_schema', json_schema: { name: 'n', schema: { type: 'integer' } } };
    expect(e.check(e.fromField!(wire, "'response_format'"), "'response_format'", { vocabSize: FAKE_VOCAB })).toBeInstanceOf(StructuredFormat);
    expect(() => e.fromField!({ type: 'json_schema', json_schema: { schema: {} } }, "'response_format'")).toThrow(/with a name/);
    expect(e.fromField!({ type: 'json_object' }, "'response_format'")).toEqual({ type: 'json_object' });
  });
});
