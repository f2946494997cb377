/**
 * The contract between the engine loop (scheduler + block manager, lib/engine and lib/kv) and a model
 * runner (lib/models): each step the loop hands the runner a batch that fits the budget, the runner runs
 * one forward pass over it and answers with a token per sequence that asked for one.
 */
import type { ModelSpec } from '../models/spec';

export interface SamplingState {
  /** ≤ 0: greedy */
  temperature: number;
  /** ≤ 0: off */
  topK: number;
  /** ≥ 1: off */
  topP: number;
  /** 64-bit seed (same seed, same tokens) */
  seed: bigint;
  /** index of the token being sampled within this sequence (the RNG counter) */
  step: number;
}

export interface StepSequence {
  /** the new tokens whose keys and values this step computes (a prefill chunk, or one decode token) */
  tokens: number[];
  /** position of tokens[0] in the sequence (= tokens already in the cache) */
  start: number;
  /** KV block ids holding positions [0, start + tokens.length), in order */
  blockTable: number[];
  /** sample a next token after this step (true for decode and for the last prefill chunk) */
  sample: SamplingState | null;
}

export interface StepResult {
  /** one token per sequence with `sample`, in batch order; -1 for the others */
  tokens: Int32Array;
}

/** A decoder the loop can drive. KV cache tensors are owned by the runner (numBlocks × blockSize slots). */
export interface DecoderRunner {
  readonly spec: ModelSpec;
  readonly blockSize: number;
  readonly numBlocks: number;
  step(seqs: StepSequence[]): Promise<StepResult>;
  dispose(): void;
}

export type PoolingMode = 'mean' | 'cls' | 'last';

/** An encoder the loop can drive: packed sequences in, one pooled vector each out. */
export interface EncoderRunner {
  readonly spec: ModelSpec;
  embed(batch: number[][], opts: { pooling: PoolingMode; normalize: boolean; typeIds?: number[][] }): Promise<Float32Array[]>;
  dispose(): void;
}

// ------------------------------------------------------------------------------------------ the loop
export type FinishReason = 'stop' | 'length' | 'abort';

/** A generation request as the loop sees it: token ids in, token ids out (text lives in the Engine). */
export interface GenerateRequest {
  promptIds: number[];
  maxTokens: number;
  sampling: { temperature: number; topK: number; topP: number; seed: bigint };
  /** finish with 'stop' after emitting one of these (EOS, end-of-turn) */
  stopTokenIds: number[];
  signal?: AbortSignal;
}

export interface TokenEvent {
  /** the generated id; -1 on a final 'abort' event that carries no token (every token was already delivered) */
  tokenId: number;
  /** set on the last event of a request */
  finishReason?: FinishReason;
}

/**
 * The background engine loop (lib/engine/loop.ts): admits requests under the scheduler's budgets, runs
 * steps on the runner, streams tokens back. Concurrent callers batch together automatically.
 */
export interface EngineLoop {
  /** Streams the generated tokens; ends after the event with finishReason. Aborting via signal ends it with 'abort'. */
  generate(req: GenerateRequest): AsyncIterable<TokenEvent>;
  /** Embeds token-id sequences (already truncated) on an encoder model. */
  embed(batch: number[][], opts: { pooling: PoolingMode; normalize: boolean; typeIds?: number[][] }): Promise<Float32Array[]>;
  /** Ends a generation early from outside (the Engine calls it when a stop string matches). */
  cancel?(req: GenerateRequest): void;
  stats(): LoopStats;
  shutdown(): Promise<void>;
}

export interface LoopStats {
  waiting: number;
  running: number;
  kvBlocksTotal: number;
  kvBlocksUsed: number;
  kvBlocksCached: number;
  prefixCacheHitRate: number;
  generatedTokens: number;
  promptTokens: number;
  /** forward steps run so far */
  steps?: number;
  /** sequences preempted (blocks freed, recomputed later) so far */
  preemptions?: number;
  /** generated tokens per second over the last seconds */
  tokensPerSecond?: number;
  /** tokens through the model per second (prefill, decode, embedding) over the last seconds */
  throughputTokensPerSecond?: number;
  embeddedSequences?: number;
}
