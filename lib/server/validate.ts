/**
 * Request-body validation for the OpenAI routes: each reader takes the parsed JSON and a field name, and
 * either returns the typed value or throws a 400 whose `param` names the field and whose message says what
 * was expected and what came. Fields that carry Engine options are read through the Engine's own option
 * entries (lib/engine/options.ts: engineOptions below), so a value means the same here as in generate();
 * the readers here are for what only the HTTP API has (n, stream, encoding_format, prompts and messages).
 * Which fields each generation endpoint takes at all is lib/server/request-fields.ts's table.
 */
import { GpuformerError, shown } from '../errors';
import { checkTokenIds } from '../core/checks';
import type { OptionEntry, Resolved } from '../engine/options';
import { badRequest } from './http';

export type Body = Record<string, unknown>;

/** how a 400 quotes the value it got: a short escaped prefix (lib/errors.ts) */
const describe = shown;

export function asBody(v: unknown): Body {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw badRequest('body', `the request body must be a JSON object, got ${describe(v)}`);
  return v as Body;
}

const present = (b: Body, k: string) => b[k] !== undefined && b[k] !== null;

export function requiredString(b: Body, k: string): string {
  if (typeof b[k] !== 'string' || (b[k] as string).length === 0) throw badRequest(k, `'${k}' is required and must be a non-empty string, got ${describe(b[k])}`);
  return b[k] as string;
}

export function optionalNumber(b: Body, k: string, lo: number, hi: number, integer = false): number | undefined {
  if (!present(b, k)) return undefined;
  const v = b[k];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < lo || v > hi || (integer && !Number.isInteger(v))) {
    throw badRequest(k, `'${k}' must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${describe(v)}`);
  }
  return v;
}

export function optionalBoolean(b: Body, k: string): boolean | undefined {
  if (!present(b, k)) return undefined;
  if (typeof b[k] !== 'boolean') throw badRequest(k, `'${k}' must be a boolean, got ${describe(b[k])}`);
  return b[k] as boolean;
}

export function optionalEnum<T extends string>(b: Body, k: string, values: readonly T[]): T | undefined {
  if (!present(b, k)) return undefined;
  if (!values.includes(b[k] as T)) throw badRequest(k, `'${k}' must be one of ${values.map((x) => `'${x}'`).join(', ')}, got ${describe(b[k])}`);
  return b[k] as T;
}


/**
 * A prompt or embedding input: a string, an array of strings, an array of token ids, or an array of such
 * arrays (OpenAI and vLLM accept all four). Returns one item per input.
 */
export function textOrTokens(b: Body, k: string, vocab: number): Array<string | number[]> {
  const v = b[k];
  const bad = () => badRequest(k, `'${k}' must be a string, an array of strings, an array of token ids in [0, ${vocab}) or an array of ` +
    `such arrays, got ${describe(v)}`);
  if (typeof v === 'string') return [v];
  if (!Array.isArray(v) || v.length === 0) throw bad();
  if (v.every((x) => typeof x === 'string')) return v as string[];
  if (v.every((x) => typeof x === 'number')) return [asBadRequest(k, () => checkTokenIds(v, vocab, `'${k}'`))];
  if (v.every((x) => Array.isArray(x))) return v.map((x, i) => asBadRequest(k, () => checkTokenIds(x, vocab, `'${k}[${i}]'`)));
  throw bad();
}

export interface ChatMessageIn {
  role: string;
  content: string;
}

/** `messages`: [{ role, content }], content a string or an array of text parts (joined). */
export function chatMessages(b: Body): ChatMessageIn[] {
  const v = b.messages;
  if (!Array.isArray(v) || v.length === 0) throw badRequest('messages', `'messages' must be a non-empty array of { role, content }, got ${describe(v)}`);
  return v.map((m, i) => {
    const p = `messages[${i}]`;
    if (m === null || typeof m !== 'object') throw badRequest(p, `'${p}' must be an object { role, content }, got ${describe(m)}`);
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !role) throw badRequest(`${p}.role`, `'${p}.role' must be a non-empty string, got ${describe(role)}`);
    if (typeof content === 'string') return { role, content };
    if (content === null && role === 'assistant') return { role, content: '' };
    if (Array.isArray(content)) {
      const texts = content.map((part, j) => {
        const pp = `${p}.content[${j}]`;
        if (!part || typeof part !== 'object' || (part as Record<string, unknown>).type !== 'text' || typeof (part as Record<string, unknown>).text !== 'string') {
          throw badRequest(pp, `'${pp}' must be a text part { type: 'text', text }; this server handles text only`);
        }
        return (part as { text: string }).text;
      });
      return { role, content: texts.join('\n') };
    }
    throw badRequest(`${p}.content`, `'${p}.content' must be a string or an array of text parts, got ${describe(content)}`);
  });
}

/**
 * The Engine options a body carries, each read from its field by the Engine's own entry (the wire's form
 * turned into the option's, then the Engine's check against the model, `ctx`): a bad value is a 400 naming the
 * field. Only the fields present are returned, so the Engine's defaults apply to the rest.
 */
export function engineOptions<E extends Record<string, OptionEntry<unknown, Ctx>>, Ctx>(b: Body, entries: E, ctx: Ctx): Partial<Resolved<E>> {
  const out: Record<string, unknown> = {};
  for (const [option, entry] of Object.entries(entries)) {
    if (entry.field !== undefined) out[option] = engineOption(b, entry.field, entry, ctx);
  }
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined)) as Partial<Resolved<E>>;
}

/** One Engine option from `field` (also a field other than the entry's own, e.g. chat's max_completion_tokens); undefined when absent. */
export function engineOption<T, Ctx>(b: Body, field: string, entry: OptionEntry<T, Ctx>, ctx: Ctx): T | undefined {
  if (!present(b, field)) return undefined;
  const name = `'${field}'`;
  return asBadRequest(field, () => entry.check(entry.fromField ? entry.fromField(b[field], name) : b[field], name, ctx));
}

/** The Engine's own check on a field: its ERR_GPUFORMER_INPUT becomes a 400 naming the field. */
export function asBadRequest<T>(field: string, check: () => T): T {
  try {
    return check();
  } catch (e) {
    if (e instanceof GpuformerError && e.code === 'ERR_GPUFORMER_INPUT') throw badRequest(field, e.message);
    throw e;
  }
}
