/**
 * POST /v1/completions: prompt (a string, strings, token ids, or arrays of token ids) → text, one choice per
 * prompt × n (the n best of best_of when best_of is given); streamed as server-sent events when `stream` is
 * true; log-probabilities in OpenAI's completions shape with `logprobs: k`.
 */
import { MAX_TOP_LOGPROBS } from '../../core/step';
import { truncated } from '../../engine/engine';
import type { GenerateOptions } from '../../engine/options';
import { badRequest } from '../http';
import { GenerationJob, GenerationResult, openaiFinishReason, readGenerationRequest, runGenerations, usageOf } from '../generation';
import { checkCount } from '../limits';
import { completionLogprobs, meanLogprob, textLength } from '../logprobs';
import { SseWriter } from '../sse';
import { optionalBoolean, optionalNumber, textOrTokens } from '../validate';
import { RouteContext, unixSeconds } from './context';

/** OpenAI's default for the legacy completions endpoint */
const DEFAULT_MAX_TOKENS = 16;

export async function completions(ctx: RouteContext): Promise<void> {
  const { engine, body, signal } = ctx;
  const req = await readGenerationRequest(ctx, 'completions', 'cmpl');
  // logprobs: k → the chosen token's log-probability and the k most likely (best_of ranks by log-probabilities too)
  const logprobs = optionalNumber(body, 'logprobs', 0, MAX_TOP_LOGPROBS, true);
  const prompts = textOrTokens(body, 'prompt', engine.spec.vocabSize);
  checkCount('prompt', prompts.length, ctx.limits, 'maxPrompts');
  const { n, stream } = req;
  const bestOf = optionalNumber(body, 'best_of', 1, ctx.limits.maxN, true) ?? n;
  if (bestOf < n) throw badRequest('best_of', `'best_of' (${bestOf}) must be at least 'n' (${n})`);
  if (stream && bestOf > n) throw badRequest('best_of', "'best_of' above 'n' cannot be streamed (the best are known only at the end)");
  const echo = optionalBoolean(body, 'echo') ?? false;
  if (echo && logprobs !== undefined) {
    throw badRequest('echo', "'echo' with 'logprobs' would need the prompt's log-probabilities, which this server does not compute");
  }
  if (echo && prompts.some((p) => typeof p !== 'string') && !engine.tokenizer) {
    throw badRequest('echo', "'echo' of a token-id prompt needs the model's tokenizer, which this model does not have");
  }
  if (!engine.spec.causal) throw badRequest('model', `${ctx.modelId} is an embedding model; use /v1/embeddings`);

  // OpenAI's defaults for this endpoint: 16 tokens, temperature 1 (the Engine's are 256 and 0)
  const ranked = logprobs !== undefined || bestOf > n;
  const opts: GenerateOptions = {
    ...req.options, maxTokens: req.options.maxTokens ?? DEFAULT_MAX_TOKENS, temperature: req.options.temperature ?? 1, signal,
    ...(ranked ? { logprobs: true, topLogprobs: logprobs ?? 0 } : {}),
  };
  // each prompt tokenized once, whatever n is
  const promptIds = (await engine.tokenizePrompts(prompts, { signal, addSpecialTokens: req.addSpecialTokens })).map((p) => truncated(p, opts));
  if (signal.aborted) return;
  const echoed = prompts.map((p, i) => (!echo ? '' : typeof p === 'string' ? p : engine.tokenizer!.decode(promptIds[i])));
  const jobs: GenerationJob[] = [];
  promptIds.forEach((p, i) => {
    for (let k = 0; k < bestOf; k++) {
      // several choices with a seed: each gets its own seed, or all would be the same text
      const seed = opts.seed === undefined ? undefined : BigInt(opts.seed) + BigInt(k);
      jobs.push({ index: i * bestOf + k, chunks: engine.generate(p, { ...opts, seed }) });
    }
  });
  const created = unixSeconds();
  const base = { id: req.id, object: 'text_completion', created, model: ctx.modelId };
  const promptTokens = promptIds.reduce((a, p) => a + p.length, 0);
  const shape = (tokens: GenerationResult['logprobs'], offset: number) =>
    (logprobs === undefined ? null : completionLogprobs(tokens, req.asIds, offset));

  if (!stream) {
    const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics);
    if (signal.aborted) return;
    const choices = promptIds.flatMap((_, i) => bestOfN(results.slice(i * bestOf, (i + 1) * bestOf), n).map((r, j) => ({
      index: i * n + j, text: echoed[i] + r.text, logprobs: shape(r.logprobs, echoed[i].length),
      finish_reason: openaiFinishReason(r.finishReason),
    })));
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    ctx.res.end(JSON.stringify({ ...base, choices, usage: usageOf(promptTokens, results) }));
    return;
  }

  const sse = new SseWriter(ctx.res);
  for (const [i, text] of echoed.entries()) {
    for (let k = 0; text && k < n; k++) await sse.send({ ...base, choices: [{ index: i * n + k, text, logprobs: null, finish_reason: null }] });
  }
  // tokens whose text is held back (an incomplete character, a possible stop string) wait for the next chunk sent
  const pending = new Map<number, GenerationResult['logprobs']>();
  const offset = new Map<number, number>();
  const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics, async (index, chunk) => {
    const finish = openaiFinishReason(chunk.finishReason);
    const tokens = [...(pending.get(index) ?? []), ...(chunk.logprobs ?? [])];
    if (chunk.text === '' && !finish) {
      pending.set(index, tokens);
      return;
    }
    pending.delete(index);
    const at = offset.get(index) ?? echoed[Math.floor(index / n)].length;
    offset.set(index, at + textLength(tokens, req.asIds));
    await sse.send({ ...base, choices: [{ index, text: chunk.text, logprobs: shape(tokens, at), finish_reason: finish }] });
  });
  if (req.includeUsage) await sse.send({ ...base, choices: [], usage: usageOf(promptTokens, results) });
  sse.done();
}

/** The n results with the highest mean token log-probability, in the order generated among equals (all of them when there are n). */
function bestOfN(results: GenerationResult[], n: number): GenerationResult[] {
  if (results.length === n) return results;
  return results.map((r, k) => ({ r, k, score: meanLogprob(r.logprobs) }))
    .sort((a, b) => b.score - a.score || a.k - b.k).slice(0, n).map((x) => x.r);
}
