/**
 * Every request field of POST /v1/completions and /v1/chat/completions — OpenAI's request schemas and vLLM's
 * extra parameters (vllm/entrypoints/openai/protocol.py) — and what this server does with it, in one table:
 *   - 'option': an Engine option (lib/engine/options.ts GENERATE_OPTIONS names the field); the Engine's own
 *     check reads it, so a value means the same here as in generate();
 *   - 'route': read by the route itself (the prompt, streaming, choices, the response's shape);
 *   - 'informational': accepted because OpenAI defines it as changing nothing in the completion (an end
 *     user's id, a cache hint); the note says what it is;
 *   - 'refused': a 400 naming the field unless it is absent, null or one of `neutral` (the values that ask
 *     for nothing: the default); the note says what is missing.
 * A field the table does not know is refused too, so nothing a client sends is silently ignored.
 */
import { badRequest } from './http';
import type { Body } from './validate';

export type Endpoint = 'completions' | 'chat';

export interface FieldRule {
  endpoints: readonly Endpoint[];
  how: 'option' | 'route' | 'informational' | 'refused';
  /** refused fields: values accepted as asking for nothing */
  neutral?: readonly unknown[];
  note: string;
}

const BOTH: readonly Endpoint[] = ['completions', 'chat'];
const CHAT: readonly Endpoint[] = ['chat'];
const COMPLETIONS: readonly Endpoint[] = ['completions'];

const route = (endpoints: readonly Endpoint[], note: string): FieldRule => ({ endpoints, how: 'route', note });
const option = (note: string, endpoints = BOTH): FieldRule => ({ endpoints, how: 'option', note });
const refused = (endpoints: readonly Endpoint[], note: string, neutral: readonly unknown[] = []): FieldRule =>
  ({ endpoints, how: 'refused', neutral, note });
const informational = (endpoints: readonly Endpoint[], note: string): FieldRule => ({ endpoints, how: 'informational', note });

const STRUCTURED = 'vLLM\'s guided decoding fields are not supported: use response_format (json_object or json_schema)';

export const REQUEST_FIELDS: Readonly<Record<string, FieldRule>> = {
  // ------------------------------------------------------------------------ OpenAI, both endpoints
  model: route(BOTH, 'must name the served model'),
  max_tokens: option('maxTokens'),
  temperature: option('temperature (OpenAI: at most 2; default 1 on these endpoints)'),
  top_p: option('topP'),
  n: route(BOTH, 'choices per prompt, each with its own seed (seed + k) when a seed is given'),
  stream: route(BOTH, 'server-sent events'),
  stream_options: route(BOTH, 'include_usage: a final chunk with the usage; needs stream'),
  stop: option('stop (at most 16 strings)'),
  presence_penalty: option('presencePenalty, in [-2, 2]'),
  frequency_penalty: option('frequencyPenalty, in [-2, 2]'),
  logit_bias: option('logitBias: { "tokenId": bias in [-100, 100] }, at most 1024 tokens'),
  logprobs: route(BOTH, 'completions: an integer k (the chosen token and the k most likely, k ≤ 20); chat: a boolean'),
  seed: option('seed'),
  user: informational(BOTH, 'an end user\'s identifier, for the caller\'s own abuse monitoring: OpenAI generates the same with or without it'),
  safety_identifier: informational(BOTH, 'OpenAI\'s newer name for user: the same'),
  // ------------------------------------------------------------------------ OpenAI, completions only
  prompt: route(COMPLETIONS, 'a string, strings, token ids or arrays of token ids'),
  echo: route(COMPLETIONS, 'the prompt before the completion (not with logprobs: prompt log-probabilities are not computed)'),
  best_of: route(COMPLETIONS, 'best_of candidates per prompt, the n with the highest mean token log-probability returned; not with stream'),
  suffix: refused(COMPLETIONS, 'insertion (text after the completion) is not supported by these models'),
  // ------------------------------------------------------------------------ OpenAI, chat only
  messages: route(CHAT, 'text messages, rendered with the model\'s chat template'),
  max_completion_tokens: route(CHAT, 'the newer name of max_tokens (maxTokens)'),
  top_logprobs: route(CHAT, 'with logprobs: the k most likely tokens at each position (0 to 20)'),
  response_format: option('responseFormat: { type: \'text\' | \'json_object\' | \'json_schema\', json_schema: { name, schema, strict } }, the output held to it'),
  tools: refused(CHAT, 'tool calling (tool definitions in the template and parsing of calls) is not supported'),
  tool_choice: refused(CHAT, 'tool calling is not supported', ['none']),
  parallel_tool_calls: refused(CHAT, 'tool calling is not supported (without tools either value changes nothing)', [true, false]),
  functions: refused(CHAT, 'function calling (the deprecated form of tools) is not supported'),
  function_call: refused(CHAT, 'function calling is not supported', ['none']),
  audio: refused(CHAT, 'audio output is not supported'),
  modalities: refused(CHAT, 'only text output is supported', [['text']]),
  prediction: refused(CHAT, 'predicted outputs (speculative decoding from a given text) are not supported'),
  reasoning_effort: refused(CHAT, 'no reasoning-effort control: the models served here are not reasoning models'),
  verbosity: refused(CHAT, 'no verbosity control'),
  web_search_options: refused(CHAT, 'web search is not available'),
  store: refused(CHAT, 'completions are not stored', [false]),
  metadata: refused(CHAT, 'metadata belongs to stored completions, which this server does not keep'),
  service_tier: route(CHAT, 'one tier: \'auto\' or \'default\' (answered as service_tier: \'default\'); other tiers are refused'),
  prompt_cache_key: informational(CHAT, 'a hint for OpenAI\'s prompt cache; the prefix cache here finds shared prefixes by itself'),
  // ------------------------------------------------------------------------ vLLM's extra sampling parameters
  top_k: option('topK (-1 or 0: off)'),
  min_p: option('minP'),
  repetition_penalty: option('repetitionPenalty (over prompt and output tokens)'),
  length_penalty: refused(BOTH, 'only meaningful with beam search, which is not supported', [1]),
  use_beam_search: refused(BOTH, 'beam search is not supported', [false]),
  stop_token_ids: option('stopTokenIds'),
  include_stop_str_in_output: option('includeStopStrInOutput'),
  ignore_eos: option('ignoreEos'),
  min_tokens: option('minTokens'),
  skip_special_tokens: option('skipSpecialTokens'),
  spaces_between_special_tokens: refused(BOTH, 'special tokens are always joined without spaces', [true]),
  truncate_prompt_tokens: option('truncatePromptTokens (-1: none)'),
  prompt_logprobs: refused(BOTH, 'prompt log-probabilities are not computed'),
  allowed_token_ids: option('allowedTokenIds (the token mask)'),
  bad_words: refused(BOTH, 'bad_words is not supported (allowed_token_ids and logit_bias ban single tokens)', [[]]),
  // ------------------------------------------------------------------------ vLLM's extra parameters
  add_special_tokens: route(BOTH, 'tokenize with the tokenizer\'s special tokens (BOS…): default true for completions, false for chat ' +
    '(the template writes its own)'),
  add_generation_prompt: refused(CHAT, 'the chat template always gets add_generation_prompt', [true]),
  continue_final_message: refused(CHAT, 'continuing the final message is not supported', [false]),
  documents: refused(CHAT, 'documents for the chat template (RAG) are not supported'),
  chat_template: refused(CHAT, 'the model\'s own chat template is used; a template per request is not accepted'),
  chat_template_kwargs: refused(CHAT, 'no extra chat template variables are accepted', [{}]),
  mm_processor_kwargs: refused(CHAT, 'multimodal inputs are not supported'),
  guided_json: refused(BOTH, STRUCTURED),
  guided_regex: refused(BOTH, STRUCTURED),
  guided_choice: refused(BOTH, STRUCTURED),
  guided_grammar: refused(BOTH, STRUCTURED),
  structural_tag: refused(BOTH, STRUCTURED),
  structured_outputs: refused(BOTH, STRUCTURED),
  guided_decoding_backend: refused(BOTH, STRUCTURED),
  guided_whitespace_pattern: refused(BOTH, STRUCTURED),
  priority: refused(BOTH, 'requests are scheduled first come, first served (no priorities)', [0]),
  request_id: route(BOTH, 'the response\'s id (cmpl-<request_id>, chatcmpl-<request_id>)'),
  logits_processors: refused(BOTH, 'custom logits processors are not supported'),
  return_tokens_as_token_ids: route(BOTH, 'log-probabilities name tokens as token_id:<id>'),
  return_token_ids: refused(BOTH, 'token ids in the response are not supported', [false]),
  cache_salt: refused(BOTH, 'the prefix cache is not salted per request'),
  kv_transfer_params: refused(BOTH, 'disaggregated serving (KV transfer) is not supported'),
  vllm_xargs: refused(BOTH, 'no extension arguments are accepted'),
  prompt_embeds: refused(COMPLETIONS, 'prompts as embeddings are not supported'),
};

/** The fields of an endpoint and their rules. */
export const fieldsOf = (endpoint: Endpoint): Array<[string, FieldRule]> =>
  Object.entries(REQUEST_FIELDS).filter(([, r]) => r.endpoints.includes(endpoint));

const sameValue = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Refuses, with a 400 naming the field, every field the endpoint does not know and every refused field given
 * a value other than its neutral ones (absent and null always pass). The other fields are read where they
 * take effect.
 */
export function checkRequestFields(body: Body, endpoint: Endpoint): void {
  for (const [field, value] of Object.entries(body)) {
    const rule = REQUEST_FIELDS[field];
    if (!rule || !rule.endpoints.includes(endpoint)) {
      const elsewhere = rule ? ` (it belongs to /v1/${rule.endpoints[0] === 'chat' ? 'chat/completions' : 'completions'})` : '';
      throw badRequest(field, `'${field}' is not a field of /v1/${endpoint === 'chat' ? 'chat/completions' : 'completions'}${elsewhere}; ` +
        'this server refuses fields it does not know rather than ignore them');
    }
    if (value === undefined || value === null) continue;
    if (rule.how === 'informational' && typeof value !== 'string') throw badRequest(field, `'${field}' must be a string`);
    if (rule.how !== 'refused') continue;
    if (rule.neutral!.some((n) => sameValue(n, value))) continue;
    const accepted = rule.neutral!.length ? ` (only ${rule.neutral!.map((n) => JSON.stringify(n)).join(' or ')} is accepted)` : '';
    throw badRequest(field, `'${field}' is not supported by this server: ${rule.note}${accepted}`);
  }
}
