/**
 * The 20 schemas × prompts of the structured-output tests on SmolLM2-135M-Instruct (test/engine on the CPU,
 * test/gpu on the device), a validator for each (ajv with ajv-formats: the reference), and one chat request
 * with or without its schema.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import type { Completion, Engine } from '../../lib/engine/engine';
import type { GenerateOptions } from '../../lib/engine/options';

export const MAX_TOKENS = 80;
export const SYSTEM = 'You are a helpful assistant. Reply with a single JSON object and nothing else: no code fences, no explanation.';

const str = { type: 'string' };
const obj = (properties: Record<string, unknown>, required = Object.keys(properties)) => ({ type: 'object', properties, required, additionalProperties: false });

export const CASES: Array<{ ask: string; schema: unknown }> = [
  { ask: 'Give the name and age of a fictional person as JSON with the keys "name" and "age".', schema: obj({ name: str, age: { type: 'integer' } }) },
  { ask: 'Is the sky blue? Answer as JSON with the key "answer" (true or false).', schema: obj({ answer: { type: 'boolean' } }) },
  { ask: 'What color is grass? Answer as JSON with the key "color".', schema: obj({ color: { enum: ['red', 'green', 'blue'] } }) },
  { ask: 'List three fruits as JSON with the key "fruits".', schema: obj({ fruits: { type: 'array', items: str, maxItems: 3 } }) },
  { ask: 'Give a point in the plane as JSON with the keys "x" and "y".', schema: obj({ x: { type: 'number' }, y: { type: 'number' } }) },
  { ask: 'What is the capital of France? Answer as JSON with the keys "city" and "country".', schema: obj({ city: str, country: str }) },
  { ask: 'Is this review positive or negative: "I love this movie!" Answer as JSON with the key "sentiment".', schema: obj({ sentiment: { enum: ['positive', 'negative', 'neutral'] } }) },
  { ask: 'Invent a person with a home address, as JSON with "name" and "address" (with "street" and "city").', schema: obj({ name: str, address: obj({ street: str, city: str }) }) },
  { ask: 'How many legs does a spider have? Answer as JSON with the key "count".', schema: obj({ count: { type: 'integer' } }) },
  { ask: 'Give two products with their prices as JSON: {"items": [{"name": ..., "price": ...}]}.', schema: obj({ items: { type: 'array', maxItems: 2, items: obj({ name: str, price: { type: 'number' } }) } }) },
  { ask: 'Describe a cat as a JSON object with the keys "name" and "color".', schema: null },
  { ask: 'What is the middle name of Albert Einstein? Answer as JSON with the key "result" (null if he has none).', schema: obj({ result: { anyOf: [str, { type: 'null' }] } }) },
  { ask: 'What is the date of New Year\'s Day 2024? Answer as JSON with the key "date" (YYYY-MM-DD).', schema: obj({ date: { type: 'string', format: 'date' } }) },
  { ask: 'Make up an email address for John Smith. Answer as JSON with the key "email".', schema: obj({ email: { type: 'string', format: 'email' } }) },
  { ask: 'Give a US ZIP code as JSON with the key "zip".', schema: obj({ zip: { type: 'string', pattern: '^[0-9]{5}$' } }) },
  { ask: 'Give one to three tags for a photo of a beach, as JSON with the key "tags".', schema: obj({ tags: { type: 'array', items: str, minItems: 1, maxItems: 3 } }) },
  { ask: 'Name a famous book as JSON with the keys "title", "author" and "year".', schema: obj({ title: str, author: str, year: { type: 'integer' } }) },
  {
    ask: 'Ann\'s only child is Bob, and Bob has no child. Write it as JSON like {"name": "X", "child": {"name": "Y", "child": null}}.',
    schema: { $defs: { person: obj({ name: str, child: { anyOf: [{ $ref: '#/$defs/person' }, { type: 'null' }] } }) }, $ref: '#/$defs/person' },
  },
  { ask: 'Translate "hello" into French. Answer as JSON with the keys "english" and "french".', schema: obj({ english: str, french: str }) },
  { ask: 'Rate the movie Titanic from 1 to 5 as JSON with the keys "movie" and "stars".', schema: obj({ movie: str, stars: { enum: [1, 2, 3, 4, 5] } }) },
];

/** Whether a value is valid for the case: its schema's validator, or any JSON object for json_object. */
export function validatorOf(c: typeof CASES[0]): (v: unknown) => boolean {
  if (c.schema === null) return (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  const ajv = new Ajv2020({ strict: false });
  addFormats(ajv);
  const validate = ajv.compile(c.schema as object);
  return (v) => validate(v) === true;
}

/** The case's chat, held to its schema (json_object where it has none) or free; greedy unless `opts` say otherwise. */
export function askCase(engine: Engine, c: typeof CASES[0], constrained: boolean, opts: GenerateOptions = {}): Promise<Completion> {
  const responseFormat = c.schema === null ? { type: 'json_object' as const } : { type: 'json_schema' as const, jsonSchema: { name: 'answer', schema: c.schema } };
  return engine.completeChat([{ role: 'system', content: SYSTEM }, { role: 'user', content: c.ask }],
    { maxTokens: MAX_TOKENS, temperature: 0, ...(constrained ? { responseFormat } : {}), ...opts });
}

/** The text as a value, or undefined where it is not JSON. */
export function parsed(text: string): { value: unknown } | undefined {
  try {
    return { value: JSON.parse(text) };
  } catch {
    return undefined;
  }
}
