/**
 * The response format option (OpenAI's response_format; responseFormat in generate()): checked, turned
 * into a compiled grammar once per distinct format (an LRU shared by every engine), and bound to a model's
 * vocabulary as a per-request GrammarConstraint.
 */
import { inputError, shown as show } from '../errors';
import { CompiledGrammar, compileGrammar } from './grammar';
import { FormatSource, grammarOf } from './json-schema';
import { compileOffLoop } from './off-loop';
import { GrammarConstraint, GrammarMasks } from './token-masks';
import type { TokenVocabulary } from './vocabulary';

/**
 * What the output must be: free text (the default), any JSON object, or JSON that validates against a
 * schema (`jsonSchema.schema`; absent: any JSON value). `strict` is accepted either way: the output is
 * always held to the schema.
 */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | { type: 'json_schema'; jsonSchema: { name?: string; description?: string; schema?: unknown; strict?: boolean | null } };

/** A checked structured format: its grammar, compiled. */
export class StructuredFormat {
  constructor(readonly type: 'json_object' | 'json_schema', readonly grammar: CompiledGrammar) {}
}

/** Compiled grammars kept, by the format's JSON text. */
const GRAMMAR_CACHE_SIZE = 64;
const compiled = new Map<string, CompiledGrammar>();
/** Compiles running on the structured-output thread, by key (two requests for one schema wait for one compile). */
const compiling = new Map<string, Promise<CompiledGrammar>>();

function onlyKeys(o: Record<string, unknown>, keys: string[], name: string): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw inputError(`${name} has no field ${show(k)} (it takes ${keys.map((x) => `'${x}'`).join(', ')})`);
  }
}

const keyOf = (f: FormatSource) => (f.type === 'json_object' ? 'json_object' : `json_schema:${JSON.stringify(f.schema)}`);

/**
 * The option's value checked (its shape, not yet its schema): null for text (or null), a StructuredFormat
 * given again as it is, else the grammar's source. ERR_GPUFORMER_INPUT naming `name` for a malformed value.
 */
function readFormat(v: unknown, name: string): StructuredFormat | FormatSource | null {
  // a value already checked (null: text) stays as it is
  if (v === null || v instanceof StructuredFormat) return v;
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw inputError(`${name} must be { type: 'text' | 'json_object' | 'json_schema', … }, got ${show(v)}`);
  }
  const f = v as Record<string, unknown>;
  switch (f.type) {
    case 'text':
      onlyKeys(f, ['type'], name);
      return null;
    case 'json_object':
      onlyKeys(f, ['type'], name);
      return { type: 'json_object' };
    case 'json_schema': {
      onlyKeys(f, ['type', 'jsonSchema'], name);
      const js = f.jsonSchema;
      if (js === null || typeof js !== 'object' || Array.isArray(js)) {
        throw inputError(`${name}.jsonSchema must be { name?, description?, schema?, strict? }, got ${show(js)}`);
      }
      const s = js as Record<string, unknown>;
      onlyKeys(s, ['name', 'description', 'schema', 'strict'], `${name}.jsonSchema`);
      if (s.name !== undefined && (typeof s.name !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(s.name))) {
        throw inputError(`${name}.jsonSchema.name must be 1 to 64 letters, digits, '_' or '-', got ${show(s.name)}`);
      }
      if (s.description !== undefined && typeof s.description !== 'string') {
        throw inputError(`${name}.jsonSchema.description must be a string, got ${show(s.description)}`);
      }
      if (s.strict !== undefined && s.strict !== null && typeof s.strict !== 'boolean') {
        throw inputError(`${name}.jsonSchema.strict must be a boolean, got ${show(s.strict)}`);
      }
      return { type: 'json_schema', schema: s.schema ?? true };
    }
    default:
      throw inputError(`${name}.type must be 'text', 'json_object' or 'json_schema', got ${show(f.type)}`);
  }
}

/**
 * The option's value as the engine uses it: null for text (or null), else the format with its compiled grammar,
 * compiled here (on this thread) unless the cache has it. ERR_GPUFORMER_INPUT naming `name` for a malformed
 * value, and naming the keyword for a schema that cannot be enforced.
 */
export function checkResponseFormat(v: unknown, name: string): StructuredFormat | null {
  const f = readFormat(v, name);
  if (f === null || f instanceof StructuredFormat) return f;
  const key = keyOf(f);
  let g = compiled.get(key);
  if (!g) g = compileGrammar(grammarOf(f));
  remember(key, g);
  return new StructuredFormat(f.type, g);
}

/**
 * checkResponseFormat with the schema compiled on structured output's thread (off-loop.ts), so that a large
 * schema (hundreds of milliseconds) does not hold this thread: what a server calls. The same value, the same
 * errors.
 */
export async function compileResponseFormat(v: unknown, name: string): Promise<StructuredFormat | null> {
  const f = readFormat(v, name);
  if (f === null || f instanceof StructuredFormat) return f;
  const key = keyOf(f);
  let g = compiled.get(key);
  if (!g) {
    let pending = compiling.get(key);
    if (!pending) {
      pending = compileOffLoop(f).finally(() => compiling.delete(key));
      compiling.set(key, pending);
    }
    g = await pending;
  }
  remember(key, g);
  return new StructuredFormat(f.type, g);
}

/** Whether a format's grammar is compiled and cached (tests: whether a compile is over). */
export function isCompiled(v: unknown, name = 'responseFormat'): boolean {
  const f = readFormat(v, name);
  return f === null || f instanceof StructuredFormat || compiled.has(keyOf(f));
}

/**
 * OpenAI's wire form ({ type: 'json_schema', json_schema: { name, schema, strict } }, name required) as the
 * option's ({ jsonSchema }).
 */
export function responseFormatFromWire(v: unknown, field: string): unknown {
  if (v instanceof StructuredFormat) return v;
  if (v === null || typeof v !== 'object' || Array.isArray(v) || (v as Record<string, unknown>).type !== 'json_schema') return v;
  const { json_schema: js, ...rest } = v as Record<string, unknown>;
  if (js === null || typeof js !== 'object' || Array.isArray(js) || typeof (js as Record<string, unknown>).name !== 'string') {
    throw inputError(`${field}.json_schema must be { name, schema?, strict?, description? } with a name, got ${show(js)}`);
  }
  if ('jsonSchema' in rest) throw inputError(`${field} has no field 'jsonSchema' (the wire form is 'json_schema')`);
  return { ...rest, jsonSchema: js };
}

/** Puts a grammar last in the LRU. */
function remember(key: string, g: CompiledGrammar): void {
  compiled.delete(key);
  compiled.set(key, g);
  if (compiled.size > GRAMMAR_CACHE_SIZE) compiled.delete(compiled.keys().next().value!);
}

const masksOf = new WeakMap<CompiledGrammar, WeakMap<TokenVocabulary, GrammarMasks>>();

/** The token masks of a grammar over a vocabulary (built as they are needed, kept as long as the grammar is). */
export function grammarMasks(grammar: CompiledGrammar, vocab: TokenVocabulary): GrammarMasks {
  let byVocab = masksOf.get(grammar);
  if (!byVocab) masksOf.set(grammar, (byVocab = new WeakMap()));
  let m = byVocab.get(vocab);
  if (!m) byVocab.set(vocab, (m = new GrammarMasks(grammar, vocab)));
  return m;
}

/** A request's constraint: the format's grammar over the model's vocabulary, stop tokens allowed at the end. */
export function constraintFor(format: StructuredFormat, vocab: TokenVocabulary, stopTokenIds: readonly number[]): GrammarConstraint {
  return new GrammarConstraint(grammarMasks(format.grammar, vocab), stopTokenIds);
}
