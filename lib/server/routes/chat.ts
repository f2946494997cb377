/**
 * POST /v1/chat/completions: messages → the assistant's reply, rendered with the model's chat template;
 * streamed as `chat.completion.chunk` server-sent events when `stream` is true; log-probabilities in OpenAI's
 * chat shape with `logprobs: true` (and `top_logprobs: k`).
 */
import { MAX_TOP_LOGPROBS } from '../../core/step';
import { truncated } from '../../engine/engine';
import { GENERATE_OPTIONS, GenerateOptions } from '../../engine/options';
import { badRequest } from '../http';
import { GenerationJob, openaiFinishReason, readGenerationRequest, runGenerations, usageOf } from '../generation';
import { chatLogprobs } from '../logprobs';
import { SseWriter } from '../sse';
import { chatMessages, engineOption, optionalBoolean, optionalEnum, optionalNumber } from '../validate';
import { RouteContext, unixSeconds } from './context';

export async function chatCompletions(ctx: RouteContext): Promise<void> {
  const { engine, body, signal } = ctx;
  // max_completion_tokens is the newer name of max_tokens; the default is what the context leaves
  const maxCompletionTokens = engineOption(body, 'max_completion_tokens', GENERATE_OPTIONS.maxTokens, { vocabSize: engine.spec.vocabSize });
  const logprobs = optionalBoolean(body, 'logprobs') ?? false;
  const topLogprobs = optionalNumber(body, 'top_logprobs', 0, MAX_TOP_LOGPROBS, true);
  if (topLogprobs !== undefined && !logprobs) throw badRequest('top_logprobs', "'top_logprobs' needs 'logprobs': true");
  const req = await readGenerationRequest(ctx, 'chat', 'chatcmpl', {
    ...(maxCompletionTokens !== undefined ? { maxTokens: maxCompletionTokens } : {}),
    ...(logprobs ? { logprobs: true, topLogprobs: topLogprobs ?? 0 } : {}),
  });
  const messages = chatMessages(body);
  // one service tier here: 'auto' and 'default' are served by it (and the response says so)
  const serviceTier = optionalEnum(body, 'service_tier', ['auto', 'default'] as const);
  const { n, stream } = req;
  if (!engine.spec.causal) throw badRequest('model', `${ctx.modelId} is an embedding model; use /v1/embeddings`);

  // rendered and tokenized once (whatever n is) before anything streams, so a missing template, a bad
  // conversation or one too long is a 400
  const promptIds = truncated(await engine.tokenizeChat(messages, { signal, addSpecialTokens: req.addSpecialTokens }), req.options);
  if (signal.aborted) return;
  const promptTokens = promptIds.length;
  // OpenAI's default temperature is 1 (the Engine's is 0, greedy)
  const opts: GenerateOptions = { ...req.options, temperature: req.options.temperature ?? 1, maxTokens: req.options.maxTokens ?? engine.maxModelLen, signal };
  const jobs: GenerationJob[] = Array.from({ length: n }, (_, k) => ({
    index: k,
    chunks: engine.generate(promptIds, { ...opts, seed: opts.seed === undefined ? undefined : BigInt(opts.seed) + BigInt(k) }),
  }));
  const created = unixSeconds();
  const base = { id: req.id, created, model: ctx.modelId, ...(serviceTier ? { service_tier: 'default' } : {}) };
  const shape = (tokens: Parameters<typeof chatLogprobs>[0]) => (logprobs ? chatLogprobs(tokens, req.asIds) : null);

  if (!stream) {
    const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics);
    if (signal.aborted) return;
    const choices = results.map((r, k) => ({
      index: k, message: { role: 'assistant', content: r.text }, logprobs: shape(r.logprobs), finish_reason: openaiFinishReason(r.finishReason),
    }));
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    ctx.res.end(JSON.stringify({
      ...base, object: 'chat.completion', choices, usage: usageOf(promptTokens, results),
    }));
    return;
  }

  const sse = new SseWriter(ctx.res);
  const chunkBase = { ...base, object: 'chat.completion.chunk' };
  for (let k = 0; k < n; k++) {
    await sse.send({ ...chunkBase, choices: [{ index: k, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
  }
  // tokens whose text is held back (an incomplete character, a possible stop string) go with the next text
  const pending = new Map<number, Parameters<typeof chatLogprobs>[0]>();
  const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics, async (index, chunk) => {
    const tokens = [...(pending.get(index) ?? []), ...(chunk.logprobs ?? [])];
    const finish = openaiFinishReason(chunk.finishReason);
    if (chunk.text !== '' || (finish && tokens.length > 0)) {
      pending.delete(index);
      await sse.send({ ...chunkBase, choices: [{ index, delta: { content: chunk.text }, logprobs: shape(tokens), finish_reason: null }] });
    } else {
      pending.set(index, tokens);
    }
    if (finish) await sse.send({ ...chunkBase, choices: [{ index, delta: {}, logprobs: null, finish_reason: finish }] });
  });
  if (req.includeUsage) await sse.send({ ...chunkBase, choices: [], usage: usageOf(promptTokens, results) });
  sse.done();
}
