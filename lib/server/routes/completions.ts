/**
 * POST /v1/completions: prompt (a string, strings, token ids, or arrays of token ids) → text, one choice per
 * prompt × n; streamed as server-sent events when `stream` is true.
 */
import { GENERATE_OPTIONS, GenerateOptions } from '../../engine/options';
import { badRequest } from '../http';
import { GenerationJob, openaiFinishReason, runGenerations } from '../generation';
import { checkCount, choicesPerPrompt } from '../limits';
import { SseWriter } from '../sse';
import { engineOptions, optionalBoolean, refuseUnsupported, textOrTokens } from '../validate';
import { RouteContext, responseId, unixSeconds } from './context';

/** OpenAI's default for the legacy completions endpoint */
const DEFAULT_MAX_TOKENS = 16;

export async function completions(ctx: RouteContext): Promise<void> {
  const { engine, body, signal } = ctx;
  const prompts = textOrTokens(body, 'prompt', engine.spec.vocabSize);
  checkCount('prompt', prompts.length, ctx.limits, 'maxPrompts');
  const n = choicesPerPrompt(body, ctx.limits);
  const options = engineOptions(body, GENERATE_OPTIONS, { vocabSize: engine.spec.vocabSize });
  const stream = optionalBoolean(body, 'stream') ?? false;
  const includeUsage = stream && optionalBoolean((body.stream_options ?? {}) as Record<string, unknown>, 'include_usage') === true;
  refuseUnsupported(body, { echo: false, best_of: 1, logprobs: null, suffix: null });
  if (!engine.spec.causal) throw badRequest('model', `${ctx.modelId} is an embedding model; use /v1/embeddings`);

  // OpenAI's defaults for this endpoint: 16 tokens, temperature 1 (the Engine's are 256 and 0)
  const opts: GenerateOptions = { ...options, maxTokens: options.maxTokens ?? DEFAULT_MAX_TOKENS, temperature: options.temperature ?? 1, signal };
  // each prompt tokenized once, whatever n is
  const promptIds = await engine.tokenizePrompts(prompts, { signal });
  if (signal.aborted) return;
  const jobs: GenerationJob[] = [];
  promptIds.forEach((p, i) => {
    for (let k = 0; k < n; k++) {
      // n > 1 with a seed: each choice gets its own seed, or all n would be the same text
      const seed = options.seed === undefined ? undefined : options.seed + BigInt(k);
      jobs.push({ index: i * n + k, chunks: engine.generate(p, { ...opts, seed }) });
    }
  });
  const id = responseId('cmpl');
  const created = unixSeconds();
  const base = { id, object: 'text_completion', created, model: ctx.modelId };
  const usage = (completion: number) => {
    const prompt = promptIds.reduce((a, p) => a + p.length, 0) * n;
    return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
  };

  if (!stream) {
    const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics);
    if (signal.aborted) return;
    const choices = results.map((r, i) => ({ index: jobs[i].index, text: r.text, logprobs: null, finish_reason: openaiFinishReason(r.finishReason) }));
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    ctx.res.end(JSON.stringify({ ...base, choices, usage: usage(results.reduce((a, r) => a + r.completionTokens, 0)) }));
    return;
  }

  const sse = new SseWriter(ctx.res);
  const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics, async (index, chunk) => {
    const finish = openaiFinishReason(chunk.finishReason);
    if (chunk.text === '' && !finish) return;
    await sse.send({ ...base, choices: [{ index, text: chunk.text, logprobs: null, finish_reason: finish }] });
  });
  if (includeUsage) await sse.send({ ...base, choices: [], usage: usage(results.reduce((a, r) => a + r.completionTokens, 0)) });
  sse.done();
}
