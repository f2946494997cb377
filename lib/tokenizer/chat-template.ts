/**
 * Chat templates: a model's Jinja template (tokenizer_config.json's chat_template, or GGUF
 * tokenizer.chat_template) rendered with @huggingface/jinja, with the variables transformers'
 * apply_chat_template provides (messages, add_generation_prompt, bos_token, eos_token, plus any extras such as
 * tools); raise_exception and strftime_now come from the library.
 */
import { Template } from '@huggingface/jinja';
import { badWeights, GpuformerError, inputError } from '../errors';

export interface ChatMessage {
  role: string;
  /** text, or a list of content parts for templates that take them */
  content?: string | null | Array<Record<string, unknown>>;
  [field: string]: unknown;
}

export interface RenderChatOptions {
  /** end with the opening of an assistant turn, so the model writes the answer */
  addGenerationPrompt?: boolean;
  bosToken?: string;
  eosToken?: string;
  /** further template variables (tools, documents, date_string…), passed as given */
  [variable: string]: unknown;
}

/** A parsed chat template, reusable across requests. */
export class ChatTemplate {
  private readonly template: Template;

  constructor(readonly source: string) {
    if (typeof source !== 'string' || source.length === 0) throw badWeights('chat template: expected a non-empty string');
    try {
      this.template = new Template(source);
    } catch (e) {
      throw badWeights(`chat template does not parse: ${(e as Error).message}`);
    }
  }

  render(messages: ChatMessage[], opts: RenderChatOptions = {}): string {
    checkMessages(messages);
    const { addGenerationPrompt, bosToken, eosToken, ...extra } = opts;
    try {
      return this.template.render({
        ...extra,
        messages,
        add_generation_prompt: addGenerationPrompt ?? false,
        bos_token: bosToken ?? '',
        eos_token: eosToken ?? '',
      });
    } catch (e) {
      if (e instanceof GpuformerError) throw e;
      // raise_exception() in templates reports unusable conversations ("roles must alternate", …)
      throw inputError(`chat template: ${(e as Error).message}`);
    }
  }

  /**
   * The special token that closes an assistant turn (ChatML's <|im_end|>, Llama 3's <|eot_id|>, or the EOS
   * token): found by rendering a user/assistant exchange and reading which of `specialTokens` directly follows
   * the assistant's text. Undefined when none does; generation then stops at EOS only.
   */
  endOfTurn(specialTokens: Iterable<string>, opts: RenderChatOptions = {}): string | undefined {
    const answer = 'gpuformer-end-of-turn-probe';
    let text: string;
    try {
      text = this.render([{ role: 'user', content: 'hi' }, { role: 'assistant', content: answer }], opts);
    } catch {
      return undefined; // templates that refuse this exchange (e.g. require a system turn) have no probe
    }
    const at = text.lastIndexOf(answer);
    if (at < 0) return undefined;
    const rest = text.slice(at + answer.length);
    let best: string | undefined;
    for (const token of specialTokens) {
      if (token.length > 0 && rest.startsWith(token) && (best === undefined || token.length > best.length)) best = token;
    }
    return best;
  }
}

/**
 * The bos_token and eos_token strings transformers passes to chat templates, from tokenizer_config.json
 * (where each is a string or an added-token object { content }).
 */
export function templateTokens(tokenizerConfig: Record<string, unknown> | undefined): Pick<RenderChatOptions, 'bosToken' | 'eosToken'> {
  const text = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string'
      ? (v as { content: string }).content : undefined;
  return { bosToken: text(tokenizerConfig?.bos_token), eosToken: text(tokenizerConfig?.eos_token) };
}

/**
 * The id of the special token that closes an assistant turn in `template`, given the model's tokenizer.json
 * (its special added tokens are the candidates) and tokenizer config (bos_token / eos_token strings).
 * Generation stops there (lib/loader/end-of-generation.ts); for ChatML models whose EOS is <|endoftext|> it
 * is <|im_end|>.
 */
export function endOfTurnTokenId(template: string,
  tokenizer: { json: Record<string, unknown>; config?: Record<string, unknown> }): number | undefined {
  const special = new Map<string, number>();
  const added = (tokenizer.json.added_tokens ?? []) as Array<{ id: number; content: string; special?: boolean }>;
  for (const t of added) if (t.special) special.set(t.content, t.id);
  const token = new ChatTemplate(template).endOfTurn(special.keys(), templateTokens(tokenizer.config));
  return token === undefined ? undefined : special.get(token);
}

/** Renders a conversation in one call (parses the template each time: keep a ChatTemplate to reuse it). */
export function renderChat(template: string, messages: ChatMessage[], opts: RenderChatOptions = {}): string {
  return new ChatTemplate(template).render(messages, opts);
}

function checkMessages(messages: ChatMessage[]): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw inputError('chat: messages must be a non-empty array of { role, content }');
  }
  messages.forEach((m, i) => {
    if (m === null || typeof m !== 'object') throw inputError(`chat: messages[${i}] is not an object`);
    if (typeof m.role !== 'string' || m.role.length === 0) {
      throw inputError(`chat: messages[${i}].role must be a non-empty string, got ${JSON.stringify(m.role)}`);
    }
    const c = m.content;
    if (!(typeof c === 'string' || c === null || c === undefined || Array.isArray(c))) {
      throw inputError(`chat: messages[${i}].content must be a string, null, absent or an array of parts, got ${typeof c}`);
    }
  });
}
