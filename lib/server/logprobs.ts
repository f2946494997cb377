/**
 * Log-probabilities in OpenAI's two response shapes, from the Engine's per-token TokenLogprob (the model's raw
 * log-softmax, vLLM's default):
 *   - completions: { tokens, token_logprobs, top_logprobs: [{ token: logprob }], text_offset }, where
 *     top_logprobs holds the k most likely tokens and the sampled one (so up to k + 1 entries, as OpenAI says);
 *   - chat: { content: [{ token, logprob, bytes, top_logprobs: [{ token, logprob, bytes }] }], refusal: null }.
 * With vLLM's return_tokens_as_token_ids a token is named `token_id:<id>` (any token, even one that is not
 * valid UTF-8 on its own, stays identifiable).
 */
import type { TokenInfo, TokenLogprob } from '../engine/engine';

/** How a token is named in a response. */
export const tokenName = (t: TokenInfo, asIds: boolean): string => (asIds ? `token_id:${t.tokenId}` : t.token);

/** The completions shape for `tokens`, their text offsets counted from `offset` (the running length of the text so far). */
export function completionLogprobs(tokens: TokenLogprob[], asIds: boolean, offset: number) {
  const out = { tokens: [] as string[], token_logprobs: [] as number[], top_logprobs: [] as Array<Record<string, number>>, text_offset: [] as number[] };
  let at = offset;
  for (const t of tokens) {
    const name = tokenName(t, asIds);
    out.tokens.push(name);
    out.token_logprobs.push(t.logprob);
    const top: Record<string, number> = {};
    for (const c of t.topLogprobs) top[tokenName(c, asIds)] = c.logprob;
    top[name] = t.logprob;
    out.top_logprobs.push(top);
    out.text_offset.push(at);
    at += name.length;
  }
  return out;
}

/** The text length the completions shape's offsets advance by over `tokens` (to continue them in the next chunk). */
export const textLength = (tokens: TokenLogprob[], asIds: boolean): number => tokens.reduce((a, t) => a + tokenName(t, asIds).length, 0);

/** The chat shape for `tokens`. */
export function chatLogprobs(tokens: TokenLogprob[], asIds: boolean) {
  const entry = (t: TokenInfo, logprob: number) => ({ token: tokenName(t, asIds), logprob, bytes: asIds ? [...Buffer.from(tokenName(t, true))] : t.bytes });
  return {
    content: tokens.map((t) => ({ ...entry(t, t.logprob), top_logprobs: t.topLogprobs.map((c) => entry(c, c.logprob)) })),
    refusal: null,
  };
}

/** Mean log-probability per token: how best_of ranks candidates ("the highest log probability per token", OpenAI). */
export const meanLogprob = (tokens: TokenLogprob[]): number =>
  (tokens.length === 0 ? -Infinity : tokens.reduce((a, t) => a + t.logprob, 0) / tokens.length);
