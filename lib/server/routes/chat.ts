/**
 * POST /v1/chat/completions: messages → the assistant's reply, rendered with the model's chat template;
 * streamed as `chat.completion.chunk` server-sent events when `stream` is true.
 */
import { GENERATE_OPTIONS, GenerateOptions } from '../../engine/options';
import { badRequest } from '../http';
import { GenerationJob, openaiFinishReason, runGenerations } from '../generation';
import { choicesPerPrompt } from '../limits';
import { SseWriter } from '../sse';
import { chatMessages, engineOption, engineOptions, optionalBoolean, refuseUnsupported } from '../validate';
import { RouteContext, responseId, unixSeconds } from './context';

export async function chatCompletions(ctx: RouteContext): Promise<void> {
  const { engine, body, signal } = ctx;
  const messages = chatMessages(body);
  const n = choicesPerPrompt(body, ctx.limits);
  const options = engineOptions(body, GENERATE_OPTIONS, { vocabSize: engine.spec.vocabSize });
  // max_completion_tokens is the newer name of max_tokens; the default is what the context leaves
  const maxTokens = engineOption(body, 'max_completion_tokens', GENERATE_OPTIONS.maxTokens, { vocabSize: engine.spec.vocabSize }) ?? options.maxTokens ?? engine.maxModelLen;
  const stream = optionalBoolean(body, 'stream') ?? false;
  const includeUsage = stream && optionalBoolean((body.stream_options ?? {}) as Record<string, unknown>, 'include_usage') === true;
  refuseUnsupported(body, { logprobs: false, top_logprobs: null, tools: null, tool_choice: null });
  if (!engine.spec.causal) throw badRequest('model', `${ctx.modelId} is an embedding model; use /v1/embeddings`);

  // rendered and tokenized once (whatever n is) before anything streams, so a missing template, a bad
  // conversation or one too long is a 400
  const promptIds = await engine.tokenizeChat(messages, { signal });
  if (signal.aborted) return;
  const promptTokens = promptIds.length;
  // OpenAI's default temperature is 1 (the Engine's is 0, greedy)
  const opts: GenerateOptions = { ...options, temperature: options.temperature ?? 1, maxTokens, signal };
  const jobs: GenerationJob[] = Array.from({ length: n }, (_, k) => ({
    index: k,
    chunks: engine.generate(promptIds, { ...opts, seed: options.seed === undefined ? undefined : options.seed + BigInt(k) }),
  }));
  const id = responseId('chatcmpl');
  const created = unixSeconds();
  const usage = (completion: number) => ({ prompt_tokens: promptTokens * n, completion_tokens: completion, total_tokens: promptTokens * n + completion });

  if (!stream) {
    const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics);
    if (signal.aborted) return;
    const choices = results.map((r, k) => ({
      index: k, message: { role: 'assistant', content: r.text }, logprobs: null, finish_reason: openaiFinishReason(r.finishReason),
    }));
    ctx.res.writeHead(200, { 'content-type': 'application/json' });
    ctx.res.end(JSON.stringify({
      id, object: 'chat.completion', created, model: ctx.modelId, choices, usage: usage(results.reduce((a, r) => a + r.completionTokens, 0)),
    }));
    return;
  }

  const sse = new SseWriter(ctx.res);
  const base = { id, object: 'chat.completion.chunk', created, model: ctx.modelId };
  for (let k = 0; k < n; k++) {
    await sse.send({ ...base, choices: [{ index: k, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }] });
  }
  const results = await runGenerations(jobs, ctx.startedAt, ctx.metrics, async (index, chunk) => {
    if (chunk.text !== '') await sse.send({ ...base, choices: [{ index, delta: { content: chunk.text }, logprobs: null, finish_reason: null }] });
    const finish = openaiFinishReason(chunk.finishReason);
    if (finish) await sse.send({ ...base, choices: [{ index, delta: {}, logprobs: null, finish_reason: finish }] });
  });
  if (includeUsage) await sse.send({ ...base, choices: [], usage: usage(results.reduce((a, r) => a + r.completionTokens, 0)) });
  sse.done();
}
