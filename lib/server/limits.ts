/**
 * What one request may ask of the server, so that no single request can hold it: the body's size and the
 * time it may take to arrive (every route), and how much work a body may ask for (inputs, tokens, choices).
 * Each limit has its default and its `gpuformer serve` flag here; a request past one gets a 4xx whose
 * message names the limit and the flag that sets it.
 */
import { inputError } from '../errors';
import { HttpError } from './http';
import { Body, optionalNumber } from './validate';

export interface RequestLimits {
  /** largest request body in bytes (default 8 MiB): 413 */
  maxBodyBytes: number;
  /** a client has this long to send its headers, and this long again for its body (default 30 s): 408 */
  requestTimeoutMs: number;
  /** inputs in one /v1/embeddings request (default 2048, OpenAI's limit): 400 */
  maxEmbeddingInputs: number;
  /** tokens one /v1/embeddings request may embed, counted after truncation (default 300,000, OpenAI's): 413 */
  maxEmbeddingTokens: number;
  /** prompts in one /v1/completions request (default 64): 400 */
  maxPrompts: number;
  /** largest `n`, choices per prompt (default 16): 400 */
  maxN: number;
}

export const DEFAULT_LIMITS: Readonly<RequestLimits> = {
  maxBodyBytes: 8 * 2 ** 20,
  requestTimeoutMs: 30_000,
  maxEmbeddingInputs: 2048,
  maxEmbeddingTokens: 300_000,
  maxPrompts: 64,
  maxN: 16,
};

/** The command-line flag of each limit (named in the refusals). */
export const LIMIT_FLAGS: Readonly<Record<keyof RequestLimits, string>> = {
  maxBodyBytes: '--max-body-bytes',
  requestTimeoutMs: '--request-timeout',
  maxEmbeddingInputs: '--max-embedding-inputs',
  maxEmbeddingTokens: '--max-embedding-tokens',
  maxPrompts: '--max-prompts',
  maxN: '--max-n',
};

/** The limits given (each a positive integer, else ERR_GPUFORMER_INPUT naming it), the defaults for the rest. */
export function resolveLimits(given: Partial<RequestLimits>): RequestLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const k of Object.keys(DEFAULT_LIMITS) as Array<keyof RequestLimits>) {
    const v = given[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw inputError(`server option ${k} must be a positive integer, got ${String(v)}`);
    out[k] = v;
  }
  return out;
}

/** 400 naming `field` when it holds more items than `limits[which]` allows. */
export function checkCount(field: string, count: number, limits: RequestLimits, which: 'maxEmbeddingInputs' | 'maxPrompts'): void {
  if (count > limits[which]) {
    throw new HttpError(400, `'${field}' may hold at most ${limits[which]} items on this server (${LIMIT_FLAGS[which]}), got ${count}`,
      field, 'invalid_request_error', 'limit_exceeded');
  }
}

/** 413 naming `field` when a request's inputs come to more tokens than `limits[which]` allows. */
export function checkTokenTotal(field: string, tokens: number, limits: RequestLimits, which: 'maxEmbeddingTokens'): void {
  if (tokens > limits[which]) {
    throw new HttpError(413, `'${field}' comes to ${tokens} tokens; this server takes at most ${limits[which]} per request ` +
      `(${LIMIT_FLAGS[which]})`, field, 'invalid_request_error', 'limit_exceeded');
  }
}

/** `n`, the choices per prompt: 1 when absent, at most limits.maxN (400 naming the limit past it). */
export function choicesPerPrompt(body: Body, limits: RequestLimits): number {
  const n = optionalNumber(body, 'n', 1, Number.MAX_SAFE_INTEGER, true) ?? 1;
  if (n > limits.maxN) {
    throw new HttpError(400, `'n' may be at most ${limits.maxN} on this server (${LIMIT_FLAGS.maxN}), got ${n}`, 'n', 'invalid_request_error', 'limit_exceeded');
  }
  return n;
}
