/**
 * What the HTTP server needs from an engine: the public Engine meets it as is (lib/engine/engine.ts); tests
 * hand in fakes. Keeping it an interface lets the server be built and tested without a model.
 */
import type { TokenLogprob } from '../engine/engine';
import type { EmbedTokens } from '../engine/engine';
import type { Embedding } from '../engine/embedding-output';
import type { ChatMessage, EmbedOptions, GenerateOptions } from '../engine/options';
import type { LoopStats } from '../engine/types';
import type { RequestLimits } from './limits';

export interface ServedChunk {
  text: string;
  tokenIds: number[];
  /** with the logprobs option: one per id of tokenIds */
  logprobs?: TokenLogprob[];
  finishReason?: 'stop' | 'length' | 'abort';
}

export interface ServedEngine {
  /** numLabels: a cross-encoder's (it reranks; it does not embed) */
  readonly spec: { causal: boolean; vocabSize: number; hiddenSize: number; architecture: string; numLabels?: number };
  readonly maxModelLen: number;
  /** what embeddings truncate their inputs to (an embedding model's advertised length) */
  readonly maxSeqLength: number;
  /**
   * prompts' ids, tokenized once per request and off the event loop (with the tokenizer's special tokens unless
   * addSpecialTokens is false); over-long ones refused early (ERR_GPUFORMER_INPUT)
   */
  tokenizePrompts(prompts: Array<string | number[]>, opts?: { signal?: AbortSignal; addSpecialTokens?: boolean }): Promise<number[][]>;
  /** a conversation rendered with the chat template and tokenized, as tokenizePrompts (special tokens: the template's only, unless addSpecialTokens) */
  tokenizeChat(messages: ChatMessage[], opts?: { signal?: AbortSignal; addSpecialTokens?: boolean }): Promise<number[]>;
  /** token ids as text (echo of a token-id prompt), when the model has a tokenizer */
  readonly tokenizer?: { decode(ids: number[]): string };
  /** embedding inputs as the (truncated) ids the model reads */
  tokenizeEmbedInputs(input: string[] | number[][], opts?: { signal?: AbortSignal }): Promise<EmbedTokens[]>;
  /** the embeddings of tokenized inputs, as the options ask (dimensions, precision, signal) */
  embed(input: EmbedTokens[], opts?: EmbedOptions): Promise<Embedding[]>;
  /** a cross-encoder's (query, document) pairs as the ids and token types it reads */
  tokenizeRerankInputs(query: string, documents: readonly string[], opts?: { signal?: AbortSignal }): Promise<EmbedTokens[]>;
  /** a cross-encoder's relevance score of each tokenized pair */
  score(tokens: EmbedTokens[], opts?: { signal?: AbortSignal }): Promise<number[]>;
  generate(prompt: number[], opts?: GenerateOptions): AsyncIterable<ServedChunk>;
  stats(): LoopStats;
  /** device memory by purpose (bytes), when the engine reports it */
  memory?(): { device: string; budgetBytes: number; weightsBytes: number; workspaceBytes: number; activationsBytes: number;
    otherBytes: number; kv: { bytes: number } };
}

export interface ServerOptions extends Partial<RequestLimits> {
  /** the name clients pass as `model` (default: the model directory's or file's base name) */
  modelId: string;
  /** default 127.0.0.1: only this machine can connect unless told otherwise */
  host?: string;
  /** default 8000; 0 picks a free port */
  port?: number;
  /** when set, /v1/* requires `Authorization: Bearer <apiKey>` */
  apiKey?: string;
  /** hostnames accepted in the Host header besides localhost, 127.0.0.1 and [::1] ('*': any); see lib/server/access.ts */
  allowedHosts?: string[];
  /** origins whose browser pages may call the API (CORS; '*': any); none by default */
  allowedOrigins?: string[];
  /**
   * called once per request when it ends (method, path, status, milliseconds), e.g. for an access log; a
   * request the client abandoned has status 499; method and path come escaped and cut to 200 characters
   */
  onRequest?: (r: { method: string; path: string; status: number; ms: number }) => void;
}
