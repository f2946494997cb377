/**
 * The contract between the engine loop (scheduler + block manager, lib/engine and lib/kv) and a model
 * runner (lib/models): each step the loop hands the runner a batch that fits the budget, the runner runs
 * one forward pass over it and answers with a token per sequence that asked for one.
 */
import type { ModelSpec } from './spec';

/**
 * The budgets of every step, fixed when a model is loaded (lib/memory/planner decides them from the load
 * options, the model and the memory there is): the loop schedules within them and the runner reserves its
 * buffers for them once.
 */
export interface StepBudget {
  /**
   * most tokens one forward step computes (decode tokens + prefill chunks; an encoder's whole batch). Default
   * 2048 for decoders (longer prompts are prefilled in chunks), max(16384, maxModelLen) for encoders (an
   * encoder takes each input in one step)
   */
  maxNumBatchedTokens: number;
  /** most sequences in one step; default 256 on CUDA, 64 on the CPU */
  maxNumSeqs: number;
  /** longest sequence, prompt + generated; default the model's position limit, capped at what fits in memory */
  maxModelLen: number;
}

/** The paged KV cache of a decoder: numBlocks blocks of blockSize tokens (encoders have none: numBlocks 0). */
export interface KvCacheShape {
  /** tokens per block; default 16 */
  blockSize: number;
  /** blocks in the cache: what the memory budget leaves after weights and workspace */
  numBlocks: number;
}

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
