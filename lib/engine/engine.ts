/**
 * The public Engine (DESIGN section 7): load a model, then embed, generate, complete and chat. The Engine
 * speaks text (tokenizer, chat template, incremental detokenization, stop strings); the engine loop
 * (lib/engine/loop.ts) speaks token ids and batches every concurrent caller into shared forward steps on
 * the model runner (lib/models).
 */
import { inputError, unsupported } from '../errors';
import { DeviceName } from '../native';
import type { ModelSource } from '../core/source';
import { MemoryReport, memoryReport } from '../memory/ledger';
import type { MemoryPlan } from '../memory/planner';
import type { ModelSpec } from '../core/spec';
import type { Runner } from '../models/runner';
import { IncrementalDetokenizer } from '../tokenizer/detokenizer';
import { ChatTemplate } from '../tokenizer/chat-template';
import { TextTokenizer } from '../tokenizer/tokenizer';
import {
  ChatMessage, EmbedOptions, GenerateOptions, LoadOptions, ResolvedGenerateOptions, resolveEmbedOptions, resolveGenerateOptions,
} from './options';
import { LoadedModel, loadModel } from './load';
import { createEngineLoop } from './loop';
import { StopStringMatcher } from './stop-strings';
import type { EngineLoop, FinishReason, GenerateRequest, LoopStats } from './types';

export interface GenerateChunk {
  /** the new text of this chunk (may be '' while a character or a possible stop string is incomplete) */
  text: string;
  /** the ids generated since the previous chunk */
  tokenIds: number[];
  /** set on the last chunk */
  finishReason?: FinishReason;
}

export interface Completion {
  text: string;
  tokenIds: number[];
  finishReason: FinishReason;
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
}

/** What Engine.load assembles; the Engine owns all of it from then on. */
export interface EngineParts {
  source: ModelSource;
  device: DeviceName;
  runner: Runner;
  loop: EngineLoop;
  tokenizer?: TextTokenizer;
  /** renders a conversation with the model's chat template and add_generation_prompt */
  renderChat?: (messages: ChatMessage[]) => string;
  maxModelLen: number;
  /** the token budget embed() truncates to (sentence-transformers max_seq_length, else the position table) */
  maxSeqLength: number;
  /** ids that end a generation: EOS from generation_config.json and the model description */
  eosTokenIds: number[];
  /** ids that end a chat turn (EOS plus the template's end-of-turn token) */
  endOfTurnIds: number[];
  memory: () => MemoryReport;
  plan: MemoryPlan;
  /** frees the loop, the runner and everything the load allocated */
  dispose: () => Promise<void>;
}

export class Engine {
  private disposed = false;

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
    return this.parts.device;
  }

  get maxModelLen(): number {
    return this.parts.maxModelLen;
  }

  /** The tokenizer, when the model has one (a directory without tokenizer.json speaks token ids only). */
  get tokenizer(): TextTokenizer | undefined {
    return this.parts.tokenizer;
  }

  /**
   * Sentence embeddings, one Float32Array per input. Texts are tokenized and truncated to the model's
   * maximum as sentence-transformers does (all-MiniLM-L6-v2: max_seq_length 256 = [CLS], the first 254 text
   * tokens, [SEP]); token-id inputs must already fit. Pooling and normalization follow the model's
   * sentence-transformers config (modules.json, 1_Pooling) unless the options say otherwise.
   */
  async embed(input: string | string[] | number[][], opts?: EmbedOptions): Promise<Float32Array[]> {
    this.live();
    if (this.spec.causal) throw unsupported(`embed: ${this.spec.architecture} is a text generator, not an embedding model`);
    const o = resolveEmbedOptions(opts, this.parts.source);
    const batch = this.embedInputs(input);
    if (batch.length === 0) return [];
    return this.parts.loop.embed(batch, o);
  }

  /**
   * Streams a generation: chunks of { text, tokenIds } and finally one with finishReason ('stop' at EOS or
   * a stop string, 'length' at maxTokens or maxModelLen, 'abort' when the signal fires). Breaking out of the
   * loop cancels the request and frees its KV blocks.
   */
  generate(prompt: string | number[], opts?: GenerateOptions): AsyncIterable<GenerateChunk> {
    this.live();
    const o = resolveGenerateOptions(opts);
    const promptIds = this.promptIds(prompt, true);
    return this.stream(promptIds, o, this.parts.eosTokenIds);
  }

  /** generate() collected: the whole text, the ids, why it finished, and token counts. */
  async complete(prompt: string | number[], opts?: GenerateOptions): Promise<Completion> {
    this.live();
    const o = resolveGenerateOptions(opts);
    const promptIds = this.promptIds(prompt, true);
    return collect(this.stream(promptIds, o, this.parts.eosTokenIds), promptIds.length);
  }

  /**
   * A chat turn: renders the conversation with the model's chat template (add_generation_prompt) and
   * streams the assistant's answer as generate() does, stopping at the template's end-of-turn token.
   */
  chat(messages: ChatMessage[], opts?: GenerateOptions): AsyncIterable<GenerateChunk> {
    this.live();
    const o = resolveGenerateOptions(opts);
    const promptIds = this.chatPromptIds(messages);
    return this.stream(promptIds, o, this.parts.endOfTurnIds);
  }

  /** chat() collected, like complete(). */
  async completeChat(messages: ChatMessage[], opts?: GenerateOptions): Promise<Completion> {
    this.live();
    const o = resolveGenerateOptions(opts);
    const promptIds = this.chatPromptIds(messages);
    return collect(this.stream(promptIds, o, this.parts.endOfTurnIds), promptIds.length);
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
    return this.parts.plan;
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

  private requireTokenizer(what: string): TextTokenizer {
    const tok = this.parts.tokenizer;
    if (!tok) {
      throw inputError(`${what}: ${this.parts.source.path} has no tokenizer.json, so this engine takes token ids ` +
        '(number[]) and answers with ids; pass the prompt as token ids');
    }
    return tok;
  }

  private checkIds(ids: unknown, what: string): number[] {
    if (!Array.isArray(ids)) throw inputError(`${what} must be a string or an array of token ids`);
    const V = this.spec.vocabSize;
    ids.forEach((id, i) => {
      if (!Number.isInteger(id) || id < 0 || id >= V) throw inputError(`${what}[${i}] is ${String(id)}, not a token id in [0, ${V})`);
    });
    return ids as number[];
  }

  private promptIds(prompt: string | number[], addSpecialTokens: boolean): number[] {
    if (!this.spec.causal) throw unsupported(`${this.spec.architecture} is an embedding model: use embed(), it does not generate text`);
    const ids = typeof prompt === 'string'
      ? this.requireTokenizer('generate').encode(prompt, { addSpecialTokens })
      : this.checkIds(prompt, 'prompt');
    if (ids.length === 0) throw inputError('prompt is empty');
    return ids;
  }

  private chatPromptIds(messages: ChatMessage[]): number[] {
    const tok = this.requireTokenizer('chat');
    // the template writes the special tokens itself (BOS included, where the model uses one)
    return this.promptIds(tok.encode(this.renderChat(messages), { addSpecialTokens: false }), false);
  }

  private embedInputs(input: string | string[] | number[][]): number[][] {
    const max = this.parts.maxSeqLength;
    if (typeof input === 'string') input = [input];
    if (!Array.isArray(input)) throw inputError('embed: input must be a string, an array of strings, or an array of token-id arrays');
    return (input as Array<string | number[]>).map((x, i) => {
      if (typeof x === 'string') return this.requireTokenizer('embed').encodeTruncated(x, max);
      const ids = this.checkIds(x, `embed input[${i}]`);
      if (ids.length === 0) throw inputError(`embed input[${i}] is empty`);
      if (ids.length > max) throw inputError(`embed input[${i}] has ${ids.length} tokens, more than the model's ${max}`);
      return ids;
    });
  }

  private async *stream(promptIds: number[], o: ResolvedGenerateOptions, stopTokenIds: number[]): AsyncGenerator<GenerateChunk> {
    const room = this.parts.maxModelLen - promptIds.length;
    if (room < 1) {
      throw inputError(`the prompt has ${promptIds.length} tokens; this engine's maxModelLen is ${this.parts.maxModelLen}, ` +
        'which leaves no room to generate (shorten the prompt or load with a larger maxModelLen)');
    }
    const req: GenerateRequest = {
      promptIds,
      maxTokens: Math.min(o.maxTokens, room),
      sampling: { temperature: o.temperature, topK: o.topK, topP: o.topP, seed: o.seed },
      stopTokenIds: [...new Set([...(o.ignoreEos ? [] : stopTokenIds), ...o.stopTokenIds])],
      signal: o.signal,
    };
    const tok = this.parts.tokenizer;
    const detok = tok ? new IncrementalDetokenizer(tok, promptIds) : null;
    const stops = new StopStringMatcher(o.stop);
    let finished = false;
    try {
      for await (const ev of this.parts.loop.generate(req)) {
        const last = ev.finishReason !== undefined;
        // a final 'abort' event may carry no token (-1): every token was delivered already
        const ids = ev.tokenId >= 0 ? [ev.tokenId] : [];
        let piece = '';
        if (detok) {
          for (const id of ids) piece += detok.push(id);
          if (last) piece += detok.flush();
        }
        const { emit, stopped } = stops.push(piece, last);
        if (stopped) {
          finished = true;
          this.parts.loop.cancel?.(req);
          yield { text: emit, tokenIds: ids, finishReason: 'stop' };
          return;
        }
        if (last) finished = true;
        yield { text: emit, tokenIds: ids, finishReason: ev.finishReason };
        if (last) return;
      }
    } finally {
      // the caller stopped iterating early (break, throw): free the request's blocks now
      if (!finished) this.parts.loop.cancel?.(req);
    }
  }
}

async function collect(chunks: AsyncIterable<GenerateChunk>, promptTokens: number): Promise<Completion> {
  let text = '';
  const tokenIds: number[] = [];
  let finishReason: FinishReason = 'length';
  for await (const c of chunks) {
    text += c.text;
    tokenIds.push(...c.tokenIds);
    if (c.finishReason) finishReason = c.finishReason;
  }
  return {
    text, tokenIds, finishReason,
    usage: { promptTokens, completionTokens: tokenIds.length, totalTokens: promptTokens + tokenIds.length },
  };
}

/** Starts the engine loop on a loaded runner and gathers what the Engine needs (frees the runner on failure). */
function engineParts({ source, plan, runner }: LoadedModel): EngineParts {
  try {
    const m = plan.memory;
    const tokenizer = source.tokenizer ? new TextTokenizer(source.tokenizer.json, source.tokenizer.config) : undefined;
    const eosTokenIds = endOfSequenceIds(source);
    const chat = source.chatTemplate !== undefined && tokenizer ? chatRenderer(source, tokenizer) : undefined;
    const loop = createEngineLoop(runner, {
      maxNumBatchedTokens: m.workspace.maxNumBatchedTokens,
      maxNumSeqs: m.workspace.maxNumSeqs,
      maxModelLen: m.maxModelLen,
    });
    return {
      source,
      device: plan.device,
      runner,
      loop,
      tokenizer,
      renderChat: chat?.render,
      maxModelLen: m.maxModelLen,
      maxSeqLength: Math.min(source.maxSeqLength ?? source.spec.maxPositionEmbeddings, m.maxModelLen),
      eosTokenIds,
      endOfTurnIds: [...new Set([...eosTokenIds, ...(chat?.endOfTurnIds ?? [])])],
      plan: m,
      memory: () => {
        const s = loop.stats();
        return memoryReport(plan.device, m, { usedBlocks: s.kvBlocksUsed, cachedBlocks: s.kvBlocksCached });
      },
      dispose: async () => {
        try {
          await loop.shutdown();
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

/** EOS ids: generation_config.json's eos_token_id (one id or a list) and the model description's. */
function endOfSequenceIds(source: ModelSource): number[] {
  const ids = new Set<number>(source.spec.eosTokenIds);
  const g = source.generationConfig?.eos_token_id;
  for (const id of Array.isArray(g) ? g : [g]) if (Number.isInteger(id)) ids.add(id as number);
  return [...ids];
}

/**
 * The chat template with the variables transformers passes (bos_token, eos_token from the tokenizer
 * config), and the special token that closes an assistant turn in it (ChatML's <|im_end|>, Llama 3's
 * <|eot_id|>), which ends a chat answer even where it is not the model's EOS.
 */
function chatRenderer(source: ModelSource, tokenizer: TextTokenizer) {
  const template = new ChatTemplate(source.chatTemplate!);
  const config = source.tokenizer?.config ?? {};
  const tokenString = (v: unknown): string | undefined =>
    typeof v === 'string' ? v : v && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string'
      ? (v as { content: string }).content : undefined;
  const vars = { bosToken: tokenString(config.bos_token), eosToken: tokenString(config.eos_token) };
  const special = [...tokenizer.specialIds].map((id) => tokenizer.idToToken(id)).filter((t): t is string => t !== undefined);
  const endOfTurn = template.endOfTurn(special, vars);
  const endOfTurnId = endOfTurn !== undefined ? tokenizer.tokenToId(endOfTurn) : undefined;
  return {
    render: (messages: Array<{ role: string; content: string }>) => template.render(messages, { ...vars, addGenerationPrompt: true }),
    endOfTurnIds: endOfTurnId !== undefined ? [endOfTurnId] : [],
  };
}
