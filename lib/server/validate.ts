/**
 * Request-body validation for the OpenAI routes: each reader takes the parsed JSON and a field name, and
 * either returns the typed value or throws a 400 whose `param` names the field and whose message says what
 * was expected and what came.
 */
import { badRequest } from './http';

export type Body = Record<string, unknown>;

const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? JSON.stringify(v).slice(0, 60) : typeof v === 'object' ? 'an object' : String(v));

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

/** `stop`: a string or up to 16 non-empty strings. */
export function optionalStop(b: Body): string[] | undefined {
  if (!present(b, 'stop')) return undefined;
  const v = b.stop;
  const list = typeof v === 'string' ? [v] : v;
  if (!Array.isArray(list) || list.length > 16 || !list.every((s) => typeof s === 'string' && s.length > 0)) {
    throw badRequest('stop', `'stop' must be a non-empty string or an array of up to 16 non-empty strings, got ${describe(v)}`);
  }
  return list as string[];
}

/** Fields this server does not implement: accepted only at their neutral value, refused otherwise. */
export function refuseUnsupported(b: Body, neutral: Record<string, unknown>): void {
  for (const [k, ok] of Object.entries(neutral)) {
    if (present(b, k) && b[k] !== ok) throw badRequest(k, `'${k}' is not supported by this server (only ${JSON.stringify(ok)}), got ${describe(b[k])}`);
  }
}

const isTokenArray = (v: unknown, vocab: number): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((x) => Number.isInteger(x) && x >= 0 && x < vocab);

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
  if (v.every((x) => typeof x === 'number')) {
    if (!isTokenArray(v, vocab)) throw bad();
    return [v];
  }
  if (v.every((x) => Array.isArray(x))) {
    v.forEach((x, i) => {
      if (!isTokenArray(x, vocab)) throw badRequest(k, `'${k}[${i}]' must be a non-empty array of token ids in [0, ${vocab}), got ${describe(x)}`);
    });
    return v as number[][];
  }
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

/** The sampling fields shared by completions and chat, as Engine options. */
export function samplingFields(b: Body) {
  const temperature = optionalNumber(b, 'temperature', 0, 2);
  const topP = optionalNumber(b, 'top_p', 0, 1);
  if (topP === 0) throw badRequest('top_p', "'top_p' must be greater than 0");
  const topKRaw = optionalNumber(b, 'top_k', -1, 1e9, true);
  const seed = optionalNumber(b, 'seed', Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, true);
  // ignore_eos: vLLM's extension (fixed-length generations for benchmarks)
  return { temperature, topP, topK: topKRaw === undefined || topKRaw === -1 ? undefined : topKRaw, seed, stop: optionalStop(b),
    ignoreEos: optionalBoolean(b, 'ignore_eos') };
}
