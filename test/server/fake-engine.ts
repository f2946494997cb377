/**
 * A model-free engine for the server tests: the real engine loop over the fake runners of
 * test/engine/fake-runners.ts, with a one-character-per-token tokenizer so text is easy to predict.
 * Token 0 is BOS, token 1 is EOS (ends a generation), tokens 2..96 are the printable ASCII characters.
 */
import type { EmbedTokens } from '../../lib/engine/engine';
import { Embedding, finishEmbeddings } from '../../lib/engine/embedding-output';
import { BackgroundEngineLoop } from '../../lib/engine/loop';
import { ChatMessage, EmbedOptions, GenerateOptions, resolveEmbedOptions, resolveGenerateOptions } from '../../lib/engine/options';
import { inputError, unsupported } from '../../lib/errors';
import { NEUTRAL_SAMPLING } from '../../lib/core/step';
import type { ServedChunk, ServedEngine } from '../../lib/server/types';
import { FAKE_VOCAB, FakeDecoderRunner, FakeEncoderRunner, referenceTokens } from '../engine/fake-runners';

export const EOS = 1;

export const charTokenizer = {
  encode(text: string, opts: { addSpecialTokens?: boolean } = {}): number[] {
    // a plain loop: it runs on the server's event loop (a real engine tokenizes on worker threads), and a
    // megabyte prompt through spread and map held that loop three times as long
    const ids = opts.addSpecialTokens === false ? [] : [0];
    for (const c of text) {
      const code = c.charCodeAt(0);
      ids.push(code >= 32 && code <= 126 ? code - 30 : 2); // anything else reads as a space
    }
    return ids;
  },
  decode(ids: number[]): string {
    return ids.filter((id) => id >= 2).map((id) => String.fromCharCode(id + 30)).join('');
  },
};

export const renderFakeChat = (messages: ChatMessage[]) => messages.map((m) => `${m.role}: ${m.content}\n`).join('') + 'assistant:';

/** The text the fake engine answers for a prompt (greedy), as the server should send it. */
export function expectedText(promptIds: number[], maxTokens: number, maxModelLen: number, stop: string[] = []) {
  const ids = referenceTokens(promptIds, { maxTokens: Math.min(maxTokens, maxModelLen - promptIds.length), maxModelLen, stop: [EOS] });
  let text = charTokenizer.decode(ids);
  let finish = ids[ids.length - 1] === EOS ? 'stop' : 'length';
  for (const s of stop) {
    const i = text.indexOf(s);
    if (i >= 0) {
      text = text.slice(0, i);
      finish = 'stop';
    }
  }
  return { text, finish, completionTokens: ids.length, ids };
}

export class FakeEngine implements ServedEngine {
  readonly spec;
  readonly tokenizer = charTokenizer;
  readonly runner: FakeDecoderRunner | FakeEncoderRunner;
  readonly loop: BackgroundEngineLoop;
  /** what embeddings truncate to */
  readonly maxSeqLength: number;
  /** calls of the tokenize* methods, by method (the server should tokenize once per request) */
  readonly tokenizeCalls = { prompts: 0, chat: 0, embed: 0 };
  /** the abort signal of the latest generate() call */
  lastSignal?: AbortSignal;

  constructor(kind: 'decoder' | 'encoder', readonly maxModelLen = 256, numBlocks = 256) {
    this.runner = kind === 'decoder' ? new FakeDecoderRunner(numBlocks, 8) : new FakeEncoderRunner();
    this.spec = this.runner.spec;
    this.loop = new BackgroundEngineLoop(this.runner, { maxNumBatchedTokens: 256, maxNumSeqs: 32, maxModelLen });
    this.maxSeqLength = Math.min(64, maxModelLen);
  }

  async tokenizePrompts(prompts: Array<string | number[]>, opts: { addSpecialTokens?: boolean } = {}): Promise<number[][]> {
    this.tokenizeCalls.prompts++;
    return prompts.map((p) => this.checkPrompt(typeof p === 'string' ? charTokenizer.encode(p, { addSpecialTokens: opts.addSpecialTokens ?? true }) : p));
  }

  async tokenizeChat(messages: ChatMessage[], opts: { addSpecialTokens?: boolean } = {}): Promise<number[]> {
    this.tokenizeCalls.chat++;
    return this.checkPrompt(charTokenizer.encode(this.renderChat(messages), { addSpecialTokens: opts.addSpecialTokens ?? false }));
  }

  /** texts truncated to maxSeqLength (the fake keeps the first ids); token-id inputs must fit */
  async tokenizeEmbedInputs(input: string[] | number[][]): Promise<EmbedTokens[]> {
    this.tokenizeCalls.embed++;
    return (input as Array<string | number[]>).map((x) => {
      if (typeof x === 'string') return { ids: charTokenizer.encode(x).slice(0, this.maxSeqLength) };
      if (x.length > this.maxSeqLength) throw inputError(`embed input has ${x.length} tokens, more than ${this.maxSeqLength}`);
      return { ids: x };
    });
  }

  /** as Engine.embed on tokenized inputs: the loop's vectors, then dimensions and precision */
  async embed(input: EmbedTokens[], opts?: EmbedOptions): Promise<Embedding[]> {
    const o = resolveEmbedOptions(opts, { pooling: { mode: 'mean', normalize: true }, width: this.spec.hiddenSize });
    const vectors = await this.loop.embed(input.map((t) => t.ids), { pooling: o.pooling, normalize: o.normalize, signal: o.signal });
    return finishEmbeddings(vectors, o);
  }

  /** the fake models are no cross-encoders, as Engine answers for such models */
  async tokenizeRerankInputs(): Promise<EmbedTokens[]> {
    throw unsupported(`rerank: ${this.spec.architecture} is not a cross-encoder`);
  }

  async score(): Promise<number[]> {
    throw unsupported(`rerank: ${this.spec.architecture} is not a cross-encoder`);
  }

  generate(prompt: number[], opts?: GenerateOptions): AsyncIterable<ServedChunk> {
    this.lastSignal = opts?.signal;
    return this.stream(prompt, opts);
  }

  renderChat(messages: ChatMessage[]): string {
    if (messages.some((m) => m.role === 'tool')) throw inputError('chat: this template has no tool role');
    return renderFakeChat(messages);
  }

  stats() {
    return this.loop.stats();
  }

  memory() {
    return { device: 'cpu', budgetBytes: 1 << 20, weightsBytes: 1000, workspaceBytes: 10, activationsBytes: 20, otherBytes: 0, kv: { bytes: 4096 } };
  }

  private checkPrompt(ids: number[]): number[] {
    if (ids.length >= this.maxModelLen) throw inputError(`the prompt has ${ids.length} tokens; maxModelLen is ${this.maxModelLen}`);
    return ids;
  }

  private async *stream(promptIds: number[], opts?: GenerateOptions): AsyncGenerator<ServedChunk> {
    const o = resolveGenerateOptions(opts, { vocabSize: FAKE_VOCAB });
    // what this fake models: the rest would be accepted and ignored here, so a test relying on it fails loudly
    const neutral = resolveGenerateOptions({}, { vocabSize: FAKE_VOCAB });
    for (const k of ['minP', 'repetitionPenalty', 'frequencyPenalty', 'presencePenalty', 'logitBias', 'allowedTokenIds', 'minTokens',
      'logprobs', 'includeStopStrInOutput', 'skipSpecialTokens', 'truncatePromptTokens'] as const) {
      if (JSON.stringify(o[k]) !== JSON.stringify(neutral[k])) throw new Error(`FakeEngine does not model the option ${k}`);
    }
    if (promptIds.length >= this.maxModelLen) throw inputError(`the prompt has ${promptIds.length} tokens; maxModelLen is ${this.maxModelLen}`);
    if (promptIds.some((id) => id >= FAKE_VOCAB)) throw inputError('prompt: token id out of range');
    const req = {
      promptIds, maxTokens: Math.min(o.maxTokens, this.maxModelLen - promptIds.length), stopTokenIds: [EOS, ...o.stopTokenIds],
      sampling: { ...NEUTRAL_SAMPLING, temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed }, signal: o.signal,
    };
    let text = '';
    let sent = 0;
    let finished = false;
    try {
      for await (const ev of this.loop.generate(req)) {
        text += ev.tokenId >= 0 ? charTokenizer.decode([ev.tokenId]) : '';
        const hit = o.stop.map((s) => text.indexOf(s)).filter((i) => i >= 0);
        if (hit.length) {
          finished = true;
          this.loop.cancel(req);
          yield { text: text.slice(sent, Math.min(...hit)), tokenIds: [ev.tokenId], finishReason: 'stop' };
          return;
        }
        // hold back a tail that could still become a stop string
        const hold = Math.max(0, ...o.stop.map((s) => s.length - 1));
        const upTo = ev.finishReason ? text.length : Math.max(sent, text.length - hold);
        const piece = text.slice(sent, upTo);
        sent = upTo;
        if (ev.finishReason) finished = true;
        yield { text: piece, tokenIds: ev.tokenId >= 0 ? [ev.tokenId] : [], finishReason: ev.finishReason };
      }
    } finally {
      if (!finished) this.loop.cancel(req);
    }
  }
}
