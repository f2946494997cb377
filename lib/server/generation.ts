/**
 * What the generation routes (completions, chat) share: reading the request fields both take, and running the
 * generations of one HTTP request (one per prompt × n), concurrently so the engine loop batches them,
 * measuring what the client sees: time to first token and the gaps between tokens.
 */
import type { TokenLogprob } from '../engine/engine';
import { GENERATE_OPTIONS, GenerateOptions, ResolvedGenerateOptions, checkGenerateCombination } from '../engine/options';
import { compileResponseFormat, responseFormatFromWire } from '../structured/response-format';
import { badRequest } from './http';
import { choicesPerPrompt } from './limits';
import type { ServerMetrics } from './metrics';
import { Endpoint, checkRequestFields } from './request-fields';
import { RouteContext, responseId } from './routes/context';
import { Body, asBadRequest, engineOptions, optionalBoolean } from './validate';
import type { ServedChunk } from './types';

export interface GenerationResult {
  text: string;
  completionTokens: number;
  /** each token's log-probabilities, when the generation asked for them */
  logprobs: TokenLogprob[];
  finishReason: 'stop' | 'length' | 'abort';
}

export interface GenerationJob {
  /** the choice index this generation answers */
  index: number;
  chunks: AsyncIterable<ServedChunk>;
}

/**
 * Drains every job; `onChunk` (when streaming) is awaited for each chunk, so a slow client holds back only
 * its own generations. A job that throws rejects the whole call after the others were told to stop (via the
 * shared abort signal the caller owns).
 */
export async function runGenerations(jobs: GenerationJob[], startedAt: number, metrics: ServerMetrics,
  onChunk?: (index: number, chunk: ServedChunk) => Promise<void>): Promise<GenerationResult[]> {
  return Promise.all(jobs.map(async (job) => {
    let text = '';
    let completionTokens = 0;
    let finishReason: GenerationResult['finishReason'] = 'length';
    const logprobs: TokenLogprob[] = [];
    let last = 0;
    for await (const chunk of job.chunks) {
      const real = chunk.tokenIds.filter((t) => t >= 0).length;
      if (real > 0) {
        const now = performance.now();
        if (completionTokens === 0) metrics.timeToFirstToken.observe((now - startedAt) / 1000);
        else metrics.interTokenLatency.observe((now - last) / 1000);
        last = now;
      }
      completionTokens += real;
      text += chunk.text;
      if (chunk.logprobs) logprobs.push(...chunk.logprobs);
      if (chunk.finishReason) finishReason = chunk.finishReason;
      if (onChunk) await onChunk(job.index, chunk);
    }
    return { text, completionTokens, logprobs, finishReason };
  }));
}

/**
 * A request's usage: each prompt counted once, however many choices it gave (n, best_of), as OpenAI and vLLM
 * count it; every token generated counted, the best_of candidates not returned included (as OpenAI bills them).
 */
export function usageOf(promptTokens: number, results: GenerationResult[]) {
  const completion = results.reduce((a, r) => a + r.completionTokens, 0);
  return { prompt_tokens: promptTokens, completion_tokens: completion, total_tokens: promptTokens + completion };
}

/** OpenAI's finish_reason for ours ('abort' only happens when the client left, so it is never sent). */
export const openaiFinishReason = (r: GenerationResult['finishReason'] | undefined) => (r === 'stop' ? 'stop' : r === 'length' ? 'length' : null);

/** What both generation routes read the same way from a request body. */
export interface GenerationRequest {
  /** the Engine options the body's fields carry (checked by the Engine's entries, and together) */
  options: GenerateOptions;
  /** choices per prompt */
  n: number;
  stream: boolean;
  /** stream_options.include_usage: a last chunk with the usage */
  includeUsage: boolean;
  /** vLLM's return_tokens_as_token_ids */
  asIds: boolean;
  /** vLLM's add_special_tokens, or undefined for the endpoint's default */
  addSpecialTokens?: boolean;
  /** the response's id: `<prefix>-<request_id>` when the body names one */
  id: string;
}

/**
 * Reads the fields every generation endpoint shares, after refusing what the endpoint does not take
 * (lib/server/request-fields.ts). `extra` are Engine options the route derives itself (log-probabilities,
 * max_completion_tokens), checked together with the body's.
 */
export async function readGenerationRequest(ctx: RouteContext, endpoint: Endpoint, idPrefix: string, extra: GenerateOptions = {}): Promise<GenerationRequest> {
  const { engine } = ctx;
  checkRequestFields(ctx.body, endpoint);
  const body = await withResponseFormatCompiled(ctx.body);
  const n = choicesPerPrompt(body, ctx.limits);
  const options: GenerateOptions = { ...engineOptions(body, GENERATE_OPTIONS, { vocabSize: engine.spec.vocabSize }), ...extra };
  // (top_logprobs needing logprobs is the chat route's to check: what remains is min_tokens against max_tokens)
  asBadRequest('min_tokens', () => checkGenerateCombination(options as Partial<ResolvedGenerateOptions>, fieldOf));
  const stream = optionalBoolean(body, 'stream') ?? false;
  const streamOptions = body.stream_options;
  if (streamOptions !== undefined && streamOptions !== null) {
    if (!stream) throw badRequest('stream_options', "'stream_options' is only allowed with 'stream': true");
    if (typeof streamOptions !== 'object' || Array.isArray(streamOptions)) throw badRequest('stream_options', "'stream_options' must be an object");
    for (const k of Object.keys(streamOptions)) {
      if (k !== 'include_usage') throw badRequest(`stream_options.${k}`, `'stream_options.${k}' is not supported by this server (only include_usage)`);
    }
  }
  const requestId = body.request_id;
  if (requestId !== undefined && requestId !== null && (typeof requestId !== 'string' || !/^[A-Za-z0-9._:-]{1,128}$/.test(requestId))) {
    throw badRequest('request_id', "'request_id' must be 1 to 128 letters, digits or . _ : -");
  }
  return {
    options, n, stream,
    includeUsage: stream && optionalBoolean((streamOptions ?? {}) as Body, 'include_usage') === true,
    asIds: optionalBoolean(body, 'return_tokens_as_token_ids') ?? false,
    addSpecialTokens: optionalBoolean(body, 'add_special_tokens'),
    id: typeof requestId === 'string' ? `${idPrefix}-${requestId}` : responseId(idPrefix),
  };
}

/**
 * The body with its response_format's schema compiled off the event loop (a large schema takes hundreds of
 * milliseconds, which would hold every other request, /health included): the checked StructuredFormat in
 * its place, which the option's check then takes as it is. A bad value is the 400 the check gives.
 */
async function withResponseFormatCompiled(body: Body): Promise<Body> {
  const v = body.response_format;
  if (v === undefined || v === null) return body;
  const name = "'response_format'";
  try {
    return { ...body, response_format: await compileResponseFormat(responseFormatFromWire(v, name), name) };
  } catch (e) {
    return asBadRequest('response_format', () => { throw e; });
  }
}

/** The request field of an Engine option, for error messages. */
const fieldOf = (option: keyof GenerateOptions): string =>
  (GENERATE_OPTIONS[option] as { field?: string }).field ?? option;
