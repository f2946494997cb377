/**
 * The public Engine (DESIGN section 7): load a model, then embed, generate, complete and chat. The Engine
 * speaks text (tokenizer, chat template, incremental detokenization, stop strings); the engine loop
 * (lib/engine/loop.ts) speaks token ids and batches every concurrent caller into shared forward steps on
 * the model runner (lib/models).
 */
import { GpuformerError, inputError, shown, unsupported } from '../errors';
import { DeviceName } from '../native';
import { checkTokenIds } from '../core/checks';
import { MAX_LOGIT_BIAS, SamplingParams, TokenLogprobs } from '../core/step';
import type { ModelSource } from '../core/source';
import type { ModelSpec } from '../core/spec';
import { MemoryReport, memoryReport } from '../memory/ledger';
import type { MemoryPlan } from '../memory/planner';
import { ChatTemplate, templateTokens } from '../tokenizer/chat-template';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer';
import { TokenizerPool } from '../tokenizer/pool';
import { PairIds, TextPair, TextTokenizer, TooLong } from '../tokenizer/tokenizer';
import { constraintFor } from '../structured/response-format';
import { vocabularyOffLoop } from '../structured/off-loop';
import type { TokenVocabulary } from '../structured/vocabulary';
import { pieceBytes } from '../tokenizer/token-bytes';
import { EmbedPrecision, EmbeddingOf, finishEmbeddings } from './embedding-output';
import {
  ChatMessage, EmbedOptions, GenerateOptions, LoadOptions, RerankOptions, ResolvedGenerateOptions, resolveEmbedOptions, resolveGenerateOptions,
  resolveRerankOptions,
} from './options';
import { RerankResult, activateScore, rankDocuments } from './rerank';
import { LoadedModel, loadModel } from './load';
import type { LoadPlan } from './plan';
import { createEngineLoop } from './loop';
import { longestPrompt, promptTooLong } from './scheduler';
import { StopStringMatcher } from './stop-strings';
import type { EngineLoop, FinishReason, GenerateRequest, LoopStats } from './types';

/** A token as log-probabilities name it: its id, its text on its own and its bytes. */
export interface TokenInfo {
  tokenId: number;
  /** the token's text on its own (special tokens included; U+FFFD for part of a character); `token_id:<id>` without a tokenizer */
  token: string;
  /** the token's own bytes (exact for byte-level and byte-fallback tokens) */
  bytes: number[];
}

/** The log-probabilities of one generated token (with the logprobs option). */
export interface TokenLogprob extends TokenInfo {
  /** log-probability of the token under the model's raw distribution (before bias, penalties, temperature) */
  logprob: number;
  /** the topLogprobs most likely tokens at this position, most likely first */
  topLogprobs: Array<TokenInfo & { logprob: number }>;
}

export interface GenerateChunk {
  /** the new text of this chunk (may be '' while a character or a possible stop string is incomplete) */
  text: string;
  /** the ids generated since the previous chunk */
  tokenIds: number[];
  /** with the logprobs option: one entry per id of tokenIds */
  logprobs?: TokenLogprob[];
  /** set on the last chunk */
  finishReason?: FinishReason;
}

/** Token ids an embedding reads, with their token types (default: all 0). */
export interface EmbedTokens {
  ids: number[];
  typeIds?: number[];
}

/** One embed() input: a text, a text pair, token ids, or token ids with their token types. */
export type EmbedInput = string | TextPair | number[] | EmbedTokens;

export interface Completion {
  text: string;
  tokenIds: number[];
  /** with the logprobs option: one entry per id of tokenIds */
  logprobs?: TokenLogprob[];
  finishReason: FinishReason;
  /** promptTokens counts the prompt as generated from (after truncatePromptTokens) */
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/** What Engine.load assembles; the Engine owns all of it from then on. */
export interface EngineParts {
  source: ModelSource;
  /** the load's resolved configuration (device, budgets, the memory plan) */
  plan: LoadPlan;
  loop: EngineLoop;
  tokenizer?: TextTokenizer;
  /** the tokenizer on worker threads, for the async paths (tokenize*, complete, embed) */
  tokenizerPool?: TokenizerPool;
  /** renders a conversation with the model's chat template and add_generation_prompt */
  renderChat?: (messages: ChatMessage[]) => string;
  memory: () => MemoryReport;
  /** frees the loop, the runner and everything the load allocated */
  dispose: () => Promise<void>;
}

export class Engine {
  private disposed = false;
  /** what structured output reads of the vocabulary (vocabulary()) */
  private vocab: Promise<TokenVocabulary> | undefined;

  /** Use Engine.load(). */
  constructor(private readonly parts: EngineParts) {}

  /**
   * Loads a Hugging Face model directory, a GGUF file, or a hub id ('org/name'): reads the config, plans
   * memory (failing with ERR_GPUFORMER_OOM before allocating anything if the model cannot fit), loads the
   * weights onto the device, and starts the engine loop.
   */
  static async load(pathOrHubId: string, options: LoadOptions = {}): Promise<Engine> {
    return new Engine(engineParts(await loadModel(pathOrHubId, options)));
  }

  get spec(): ModelSpec {
    return this.parts.source.spec;
  }

  get device(): DeviceName {
    return this.parts.plan.device;
  }

  get maxModelLen(): number {
    return this.parts.plan.loop.maxModelLen;
  }

  /** What embed() truncates text to (sentence-transformers' max_seq_length, 256 for all-MiniLM-L6-v2), within maxModelLen. */
  get maxSeqLength(): number {
    return this.parts.plan.maxSeqLength;
  }

  /** The tokenizer, when the model has one (a directory without tokenizer.json speaks token ids only). */
  get tokenizer(): TextTokenizer | undefined {
    return this.parts.tokenizer;
  }

  /**
   * Sentence embeddings, one vector per input: a Float32Array, or with `precision` the int8 / uint8 codes or
   * packed sign bits vector stores keep (lib/engine/embedding-output.ts). An input is a text, a text pair
   * ([a, b]: read as one input, [CLS] a [SEP] b [SEP] with token types 0 then 1 for BERT), token ids, or
   * token ids with their token types ({ ids, typeIds }). Texts and pairs are tokenized and truncated to the
   * model's maximum as sentence-transformers does (all-MiniLM-L6-v2: max_seq_length 256 = [CLS], the first
   * 254 text tokens, [SEP]; a pair longest first); token-id inputs must already fit. Pooling and
   * normalization follow the model's sentence-transformers config (modules.json, 1_Pooling) unless the
   * options say otherwise; `dimensions` keeps the first components (Matryoshka) and normalizes them again.
   */
  async embed<P extends EmbedPrecision = 'float32'>(input: string | ReadonlyArray<EmbedInput>, opts?: EmbedOptions & { precision?: P }): Promise<Array<EmbeddingOf<P>>> {
    this.live();
    this.requireEmbedder();
    const o = resolveEmbedOptions(opts, { pooling: this.parts.source.pooling, width: this.spec.hiddenSize });
    const tokens = await this.tokenizeEmbedInputs(input, { signal: o.signal });
    if (tokens.length === 0) return [];
    const typeIds = tokens.some((t) => t.typeIds) ? tokens.map((t) => t.typeIds ?? new Array<number>(t.ids.length).fill(0)) : undefined;
    const vectors = await this.parts.loop.embed(tokens.map((t) => t.ids), { pooling: o.pooling, normalize: o.normalize, typeIds, signal: o.signal });
    return finishEmbeddings(vectors, o) as Array<EmbeddingOf<P>>;
  }

  /**
   * Streams a generation: chunks of { text, tokenIds } and finally one with finishReason ('stop' at EOS or
   * a stop string, 'length' at maxTokens or maxModelLen, 'abort' when the signal fires). Breaking out of the
   * loop cancels the request and frees its KV blocks. A text prompt is tokenized here, on the caller's thread;
   * tokenizePrompts() does it off the event loop, and generate() takes its ids.
   */
  generate(prompt: string | number[], opts?: GenerateOptions): AsyncIterable<GenerateChunk> {
    const o = this.options(opts);
    return this.stream(truncated(this.promptIds(prompt, true), o), o);
  }

  /** generate() collected: the whole text, the ids, why it finished, and token counts. */
  async complete(prompt: string | number[], opts?: GenerateOptions): Promise<Completion> {
    const o = this.options(opts);
    const [ids] = await this.tokenizePrompts([prompt], { signal: o.signal });
    const promptIds = truncated(ids, o);
    return collect(this.stream(promptIds, o), promptIds.length, o.logprobs);
  }

  /**
   * A chat turn: renders the conversation with the model's chat template (add_generation_prompt) and
   * streams the assistant's answer as generate() does (ending at EOS or the template's end-of-turn token,
   * which ModelSpec.eosTokenIds holds for both).
   */
  chat(messages: ChatMessage[], opts?: GenerateOptions): AsyncIterable<GenerateChunk> {
    const o = this.options(opts);
    return this.stream(truncated(this.chatPromptIds(messages), o), o);
  }

  /** chat() collected, like complete(). */
  async completeChat(messages: ChatMessage[], opts?: GenerateOptions): Promise<Completion> {
    const o = this.options(opts);
    const promptIds = truncated(await this.tokenizeChat(messages, { signal: o.signal }), o);
    return collect(this.stream(promptIds, o), promptIds.length, o.logprobs);
  }

  /**
   * Prompts' token ids as generate() takes them, each text tokenized once with the model's special tokens and
   * off the event loop when the batch is large (the tokenizer's worker threads); token-id prompts are
   * checked. A prompt too long for maxModelLen is refused as soon as that is known: from its byte length
   * alone where the tokenizer bounds the bytes a token covers (TextTokenizer.maxBytesPerToken), else once
   * counted, never after being queued.
   */
  async tokenizePrompts(prompts: Array<string | number[]>, opts: { signal?: AbortSignal; addSpecialTokens?: boolean } = {}): Promise<number[][]> {
    this.live();
    if (!this.spec.causal) throw unsupported(`${this.spec.architecture} is an embedding model: use embed(), it does not generate text`);
    // texts alone go in, so ids alone come back
    return this.tokenizeTexts(prompts, { addSpecialTokens: opts.addSpecialTokens ?? true, limit: longestPrompt(this.maxModelLen), signal: opts.signal },
      (i) => (prompts.length > 1 ? `prompt[${i}]` : 'prompt'),
      (ids, what) => this.promptIds(ids, false, what)) as Promise<number[][]>;
  }

  /**
   * A conversation's prompt ids: rendered with the chat template, then tokenized as tokenizePrompts does, but
   * with only the special tokens the template writes (BOS included, where the model uses one) unless
   * addSpecialTokens asks for the tokenizer's too (vLLM's add_special_tokens).
   */
  async tokenizeChat(messages: ChatMessage[], opts: { signal?: AbortSignal; addSpecialTokens?: boolean } = {}): Promise<number[]> {
    this.live();
    const text = this.renderChat(messages);
    this.requireTokenizer('chat');
    const [ids] = await this.tokenizeTexts([text], { addSpecialTokens: opts.addSpecialTokens ?? false, limit: longestPrompt(this.maxModelLen), signal: opts.signal },
      () => 'the conversation', (x) => x);
    return this.promptIds(ids as number[], false);
  }

  /**
   * embed()'s inputs as the token ids (and token types) it embeds: texts and pairs tokenized off the event loop
   * when large and truncated to maxSeqLength as sentence-transformers does, token-id inputs checked (they
   * must already fit). Their lengths are the tokens the model reads; embed() takes them back as inputs.
   */
  async tokenizeEmbedInputs(input: string | ReadonlyArray<EmbedInput>, opts: { signal?: AbortSignal } = {}): Promise<EmbedTokens[]> {
    this.live();
    this.requireEmbedder();
    const max = this.maxSeqLength;
    const items = typeof input === 'string' ? [input] : input;
    if (!Array.isArray(items)) throw inputError(`embed: input must be a string or an array of inputs, got ${shown(items)}`);
    const what = (i: number) => `embed input[${i}]`;
    const types: Array<number[] | undefined> = [];
    const flat = items.map((x: unknown, i): string | TextPair | number[] => {
      if (typeof x === 'string') return x;
      if (Array.isArray(x) && x.some((e) => typeof e === 'string')) {
        if (x.length !== 2 || !x.every((e) => typeof e === 'string')) throw inputError(`${what(i)}: a text pair must be two strings, got ${shown(x)}`);
        return x as unknown as TextPair;
      }
      if (Array.isArray(x)) return x;
      if (x !== null && typeof x === 'object' && 'ids' in x) {
        const { ids, typeIds } = x as EmbedTokens;
        if (typeIds !== undefined) types[i] = this.checkTypeIds(typeIds, Array.isArray(ids) ? ids.length : 0, `${what(i)}.typeIds`);
        return ids;
      }
      throw inputError(`${what(i)} must be a text, a [text, text] pair, token ids or { ids, typeIds }, got ${shown(x)}`);
    });
    const encoded = await this.tokenizeTexts(flat, { truncateTo: max, signal: opts.signal }, what, (x, w) => {
      const ids = checkTokenIds(x, this.spec.vocabSize, w);
      if (ids.length > max) throw inputError(`${w} has ${ids.length} tokens, more than the model's ${max}`);
      return ids;
    });
    return encoded.map((e, i) => (!Array.isArray(e) ? e : types[i] ? { ids: e, typeIds: types[i] } : { ids: e }));
  }

  /**
   * Ranks documents by their relevance to a query with a cross-encoder (a BertForSequenceClassification
   * checkpoint with one label, e.g. cross-encoder/ms-marco-MiniLM-L6-v2), as sentence-transformers'
   * CrossEncoder.rank does: each (query, document) pair is read as one input ([CLS] query [SEP] document
   * [SEP], cut longest first to the model's length), its logit becomes the score through the activation the
   * config names (sigmoid for one label unless it says otherwise), and the results come best first.
   */
  async rerank(query: string, documents: readonly string[], opts?: RerankOptions): Promise<RerankResult[]> {
    this.live();
    const o = resolveRerankOptions(opts);
    const tokens = await this.tokenizeRerankInputs(query, documents, { signal: o.signal });
    return rankDocuments(await this.score(tokens, { signal: o.signal }), documents, o);
  }

  /** rerank()'s pairs as the token ids and token types the cross-encoder reads (their lengths are the tokens it reads). */
  async tokenizeRerankInputs(query: string, documents: readonly string[], opts: { signal?: AbortSignal } = {}): Promise<EmbedTokens[]> {
    this.live();
    this.requireReranker();
    if (typeof query !== 'string') throw inputError(`rerank: query must be a string, got ${shown(query)}`);
    if (!Array.isArray(documents)) throw inputError(`rerank: documents must be an array of strings, got ${shown(documents)}`);
    documents.forEach((d, i) => {
      if (typeof d !== 'string') throw inputError(`rerank: documents[${i}] must be a string, got ${shown(d)}`);
    });
    const pairs = documents.map((d): TextPair => [query, d]);
    return await this.tokenizeTexts(pairs, { truncateTo: this.maxSeqLength, signal: opts.signal }, (i) => `rerank documents[${i}]`,
      (x) => x) as PairIds[]; // pairs alone go in, so ids with token types come back
  }

  /** The cross-encoder's relevance score of each tokenized pair (tokenizeRerankInputs' answer), in order. */
  async score(tokens: EmbedTokens[], opts: { signal?: AbortSignal } = {}): Promise<number[]> {
    this.live();
    this.requireReranker();
    if (tokens.length === 0) return [];
    const typeIds = tokens.map((t) => t.typeIds ?? new Array<number>(t.ids.length).fill(0));
    const logits = await this.parts.loop.embed(tokens.map((t) => t.ids), { pooling: 'cls', normalize: false, typeIds, signal: opts.signal });
    return logits.map(([logit]) => activateScore(logit, this.parts.source.scoreActivation!));
  }

  /** The chat template's rendering of a conversation (with the generation prompt), as text. */
  renderChat(messages: ChatMessage[]): string {
    if (!this.parts.renderChat) {
      throw inputError(`chat: ${this.parts.source.path} has no chat template (tokenizer_config.json chat_template or GGUF tokenizer.chat_template)`);
    }
    if (!Array.isArray(messages) || messages.length === 0) throw inputError('chat: messages must be a non-empty array');
    messages.forEach((m, i) => {
      if (!m || typeof m.role !== 'string' || typeof m.content !== 'string') {
        throw inputError(`chat: messages[${i}] must be { role: string, content: string }`);
      }
    });
    return this.parts.renderChat(messages);
  }

  /** Device memory by purpose (the allocator's ledger) and the KV cache's use. */
  memory(): MemoryReport {
    return this.parts.memory();
  }

  /** The planner's numbers for this load (budget, parameter bytes by group, KV blocks, maxModelLen…). */
  plan(): MemoryPlan {
    return this.parts.plan.memory;
  }

  /** The loop's queues and counters. */
  stats(): LoopStats {
    return this.parts.loop.stats();
  }

  /** Stops the loop (running requests end with 'abort') and frees every byte this engine allocated. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.parts.dispose();
  }

  // --------------------------------------------------------------------------------- internals

  private live(): void {
    if (this.disposed) throw inputError('the engine has been disposed');
  }

  /** A generation's options checked against this model (after checking the engine is live). */
  private options(opts: GenerateOptions | undefined): ResolvedGenerateOptions {
    this.live();
    return resolveGenerateOptions(opts, { vocabSize: this.spec.vocabSize });
  }

  /** Refuses embed() on a model that does not embed (a text generator, a cross-encoder). */
  private requireEmbedder(): void {
    if (this.spec.causal) throw unsupported(`embed: ${this.spec.architecture} is a text generator, not an embedding model`);
    if (this.spec.numLabels !== undefined) {
      throw unsupported(`embed: ${this.spec.architecture} is a cross-encoder: it scores (query, document) pairs with rerank(), it does not embed`);
    }
  }

  /** Refuses rerank() on a model that is not a one-label cross-encoder. */
  private requireReranker(): void {
    const n = this.spec.numLabels;
    if (n === undefined) {
      throw unsupported(`rerank: ${this.spec.architecture} is ${this.spec.causal ? 'a text generator' : 'an embedding model'}; rerank needs a ` +
        'cross-encoder (a BertForSequenceClassification checkpoint with one label, e.g. cross-encoder/ms-marco-MiniLM-L6-v2)');
    }
    if (n !== 1) throw unsupported(`rerank: ${this.spec.architecture} has ${n} labels; rerank needs one relevance score per pair (one label)`);
  }

  /** Token types for `n` tokens: integers the model has a token-type embedding for (0 alone where it has none). */
  private checkTypeIds(typeIds: unknown, n: number, what: string): number[] {
    const kinds = Math.max(this.spec.typeVocabSize ?? 0, 1);
    if (!Array.isArray(typeIds) || typeIds.length !== n) throw inputError(`${what} must be an array of ${n} token types, one per id, got ${shown(typeIds)}`);
    typeIds.forEach((t, j) => {
      if (!Number.isInteger(t) || t < 0 || t >= kinds) throw inputError(`${what}[${j}] is ${shown(t)}, not a token type in [0, ${kinds})`);
    });
    return typeIds as number[];
  }

  private requireTokenizer(what: string): TextTokenizer {
    const tok = this.parts.tokenizer;
    if (!tok) {
      throw inputError(`${what}: ${this.parts.source.path} has no tokenizer.json, so this engine takes token ids ` +
        '(number[]) and answers with ids; pass the prompt as token ids');
    }
    return tok;
  }

  /**
   * A prompt's ids, checked here at the edge so that generate() refuses a bad prompt when it is called; its
   * length against maxModelLen and the KV cache is the scheduler's to check (Scheduler.add).
   */
  private promptIds(prompt: string | number[], addSpecialTokens: boolean, what = 'prompt'): number[] {
    if (!this.spec.causal) throw unsupported(`${this.spec.architecture} is an embedding model: use embed(), it does not generate text`);
    const ids = typeof prompt === 'string' ? this.requireTokenizer('generate').encode(prompt, { addSpecialTokens }) : prompt;
    if (Array.isArray(ids) && ids.length === 0) throw inputError(`${what} is empty`);
    return checkTokenIds(ids, this.spec.vocabSize, what);
  }

  private chatPromptIds(messages: ChatMessage[]): number[] {
    const tok = this.requireTokenizer('chat');
    // the template writes the special tokens itself (BOS included, where the model uses one)
    return this.promptIds(tok.encode(this.renderChat(messages), { addSpecialTokens: false }), false);
  }

  /** The sampling of a request as the loop takes it, and its token mask. */
  private samplingOf(o: ResolvedGenerateOptions, stopTokenIds: number[]): Pick<GenerateRequest, 'sampling' | 'allowedTokens' | 'minTokens'> {
    if (o.minTokens > 0) {
      const banned = new Set([...o.logitBias.map(([t]) => t), ...stopTokenIds]).size;
      if (banned > MAX_LOGIT_BIAS) {
        throw inputError(`logitBias and the ${stopTokenIds.length} stop tokens that minTokens bans come to ${banned} tokens; at most ${MAX_LOGIT_BIAS} are allowed`);
      }
    }
    const sampling: SamplingParams = {
      temperature: o.temperature, topK: o.topK, topP: o.topP, minP: o.minP, seed: o.seed,
      repetitionPenalty: o.repetitionPenalty, frequencyPenalty: o.frequencyPenalty, presencePenalty: o.presencePenalty,
      logitBias: o.logitBias, logprobs: o.logprobs ? o.topLogprobs : -1,
    };
    let allowedTokens: Uint32Array | undefined;
    if (o.allowedTokenIds) {
      allowedTokens = new Uint32Array(Math.ceil(this.spec.vocabSize / 32));
      for (const t of o.allowedTokenIds) allowedTokens[t >> 5] |= 1 << (t & 31);
    }
    return { sampling, allowedTokens, minTokens: o.minTokens };
  }

  /** A token as log-probabilities name it (text and bytes from the tokenizer, when there is one). */
  private tokenInfo(tokenId: number): TokenInfo {
    const tok = this.parts.tokenizer;
    if (!tok) return { tokenId, token: `token_id:${tokenId}`, bytes: [...Buffer.from(`token_id:${tokenId}`)] };
    return { tokenId, token: tok.tokenText(tokenId), bytes: tok.tokenBytes(tokenId) };
  }

  private tokenLogprob(tokenId: number, lp: TokenLogprobs): TokenLogprob {
    return {
      ...this.tokenInfo(tokenId), logprob: lp.logprob,
      topLogprobs: lp.top.map((t) => ({ ...this.tokenInfo(t.tokenId), logprob: t.logprob })),
    };
  }

  /**
   * Texts, text pairs and token-id inputs to ids: the texts and pairs in one batch on the tokenizer pool
   * (a pair answers with its token types too), each token-id input through `checkIds`. With `limit`, a text
   * longer than that many tokens is refused as promptTooLong, from its byte length when the tokenizer bounds
   * the bytes per token (before any tokenizing), else from its count.
   */
  private async tokenizeTexts(items: Array<string | TextPair | number[]>, o: { addSpecialTokens?: boolean; truncateTo?: number; limit?: number; signal?: AbortSignal },
    what: (i: number) => string, checkIds: (ids: number[], what: string) => number[]): Promise<Array<number[] | PairIds>> {
    const out: Array<number[] | PairIds> = new Array(items.length);
    const isText = (x: string | TextPair | number[]): x is string | TextPair => typeof x === 'string' || (Array.isArray(x) && typeof x[0] === 'string');
    const at = items.flatMap((x, i) => (isText(x) ? [i] : []));
    items.forEach((x, i) => {
      if (!isText(x)) out[i] = checkIds(x, what(i));
    });
    if (at.length === 0) return out;
    const tok = this.requireTokenizer('tokenize');
    const texts = at.map((i) => items[i] as string | TextPair);
    const maxBytes = o.limit !== undefined ? tok.maxBytesPerToken : undefined;
    if (maxBytes !== undefined) {
      at.forEach((i, k) => {
        const t = texts[k];
        const bytes = typeof t === 'string' ? Buffer.byteLength(t) : Buffer.byteLength(t[0]) + Buffer.byteLength(t[1]);
        if (bytes > o.limit! * maxBytes) {
          throw promptTooLong(what(i), Math.ceil(bytes / maxBytes), this.maxModelLen, { bytes, maxBytesPerToken: maxBytes });
        }
      });
    }
    const results = await this.parts.tokenizerPool!.encode(texts, o);
    results.forEach((r, k) => {
      const i = at[k];
      if ((r as TooLong).tooLong !== undefined) throw promptTooLong(what(i), (r as TooLong).tooLong, this.maxModelLen);
      out[i] = Array.isArray(r) ? checkIds(r, what(i)) : (r as PairIds);
    });
    return out;
  }

  /**
   * The vocabulary as structured output reads it (each token's bytes, a trie), built on structured output's
   * thread when a request first asks for a response format (0.3–2 s that the event loop stays free for).
   * Whether it can be built at all is known at once: vocabularyCheck.
   */
  private vocabulary(): Promise<TokenVocabulary> {
    // (a failure is not kept: the next request tries again)
    this.vocab ??= vocabularyOffLoop(this.parts.tokenizerPool!.shared, this.spec.vocabSize).catch((e: unknown) => {
      this.vocab = undefined;
      throw e;
    });
    return this.vocab;
  }

  /** Refuses a response format where the model's tokens have no known bytes (no tokenizer.json, a decoder token-bytes.ts does not know). */
  private vocabularyCheck(): void {
    const files = this.parts.source.tokenizer;
    if (!files || !this.parts.tokenizerPool) throw inputError(`responseFormat: ${this.parts.source.path} has no tokenizer.json, so the text of its tokens is unknown`);
    try {
      pieceBytes(files.json.decoder as Record<string, unknown> | null);
    } catch (e) {
      throw e instanceof GpuformerError ? unsupported(`response_format: ${e.message}`) : e;
    }
  }

  /**
   * A generation: the request as the loop takes it, built now (so that generate() refuses what it cannot do
   * when it is called), run as the stream of its chunks.
   */
  private stream(promptIds: number[], o: ResolvedGenerateOptions): AsyncGenerator<GenerateChunk> {
    const stopTokenIds = [...new Set([...(o.ignoreEos ? [] : this.spec.eosTokenIds), ...o.stopTokenIds])];
    const req: GenerateRequest = {
      promptIds, maxTokens: o.maxTokens, stopTokenIds, signal: o.signal, ...this.samplingOf(o, stopTokenIds),
    };
    if (o.responseFormat) this.vocabularyCheck();
    return this.run(req, promptIds, o);
  }

  /**
   * Runs a generation on the loop and turns its token events into text chunks (incremental detokenization,
   * stop strings). The scheduler refuses a prompt that leaves no room in maxModelLen and ends the generation
   * there ('length') when maxTokens would run past it.
   */
  private async *run(req: GenerateRequest, promptIds: number[], o: ResolvedGenerateOptions): AsyncGenerator<GenerateChunk> {
    if (o.responseFormat) req.constraint = constraintFor(o.responseFormat, await this.vocabulary(), req.stopTokenIds);
    const tok = this.parts.tokenizer;
    const detok = tok ? new IncrementalDetokenizer(tok, promptIds, { skipSpecialTokens: o.skipSpecialTokens }) : null;
    const stops = new StopStringMatcher(o.stop, o.includeStopStrInOutput);
    let finished = false;
    let generated = 0;
    try {
      for await (const ev of this.parts.loop.generate(req)) {
        const last = ev.finishReason !== undefined;
        // a final 'abort' event may carry no token (-1): every token was delivered already
        const ids = ev.tokenId >= 0 ? [ev.tokenId] : [];
        generated += ids.length;
        let piece = '';
        if (detok) {
          for (const id of ids) piece += detok.push(id);
          if (last) piece += detok.flush();
        }
        const chunk = (text: string, finishReason: FinishReason | undefined): GenerateChunk => ({
          text, tokenIds: ids, finishReason,
          ...(o.logprobs ? { logprobs: ev.logprobs && ids.length ? [this.tokenLogprob(ev.tokenId, ev.logprobs)] : [] } : {}),
        });
        // vLLM looks for stop strings only once more than minTokens tokens are out
        const { emit, stopped } = stops.push(piece, last, generated > o.minTokens);
        if (stopped) {
          finished = true;
          this.parts.loop.cancel(req);
          yield chunk(emit, 'stop');
          return;
        }
        if (last) finished = true;
        yield chunk(emit, ev.finishReason);
        if (last) return;
      }
    } finally {
      // the caller stopped iterating early (break, throw): free the request's blocks now
      if (!finished) this.parts.loop.cancel(req);
    }
  }
}

/**
 * vLLM's truncate_prompt_tokens: the last n tokens of the prompt (the text nearest the answer stays). The
 * server counts a request's prompt tokens with it too.
 */
export const truncated = (ids: number[], o: Pick<GenerateOptions, 'truncatePromptTokens'>): number[] =>
  (o.truncatePromptTokens !== undefined && ids.length > o.truncatePromptTokens ? ids.slice(-o.truncatePromptTokens) : ids);

async function collect(chunks: AsyncIterable<GenerateChunk>, promptTokens: number, withLogprobs: boolean): Promise<Completion> {
  let text = '';
  const tokenIds: number[] = [];
  const logprobs: TokenLogprob[] = [];
  let finishReason: FinishReason = 'length';
  for await (const c of chunks) {
    text += c.text;
    tokenIds.push(...c.tokenIds);
    if (c.logprobs) logprobs.push(...c.logprobs);
    if (c.finishReason) finishReason = c.finishReason;
  }
  return {
    text, tokenIds, finishReason, ...(withLogprobs ? { logprobs } : {}),
    usage: { promptTokens, completionTokens: tokenIds.length, totalTokens: promptTokens + tokenIds.length },
  };
}

/** Starts the engine loop on a loaded runner and gathers what the Engine needs (frees the runner on failure). */
function engineParts({ source, plan, runner }: LoadedModel): EngineParts {
  try {
    const tokenizer = source.tokenizer ? new TextTokenizer(source.tokenizer.json, source.tokenizer.config) : undefined;
    const loop = createEngineLoop(runner, plan.loop);
    const tokenizerPool = tokenizer ? new TokenizerPool(tokenizer, source.tokenizer!) : undefined;
    return {
      source,
      plan,
      loop,
      tokenizer,
      tokenizerPool,
      renderChat: source.chatTemplate !== undefined && tokenizer ? chatRenderer(source) : undefined,
      memory: () => {
        const s = loop.stats();
        return memoryReport(plan.device, plan.memory, { usedBlocks: s.kvBlocksUsed, cachedBlocks: s.kvBlocksCached });
      },
      dispose: async () => {
        try {
          await Promise.all([loop.shutdown(), tokenizerPool?.dispose()]);
        } finally {
          runner.dispose();
        }
      },
    };
  } catch (e) {
    runner.dispose();
    throw e;
  }
}

/** The chat template, rendered with the variables transformers passes (bos_token, eos_token from the tokenizer config). */
function chatRenderer(source: ModelSource): (messages: ChatMessage[]) => string {
  const template = new ChatTemplate(source.chatTemplate!);
  const vars = templateTokens(source.tokenizer?.config);
  return (messages: Array<{ role: string; content: string }>) => template.render(messages, { ...vars, addGenerationPrompt: true });
}
