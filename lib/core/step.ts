/**
 * The contract between the engine loop (scheduler + block manager, lib/engine and lib/kv) and a model
 * runner (lib/models): each step the loop hands the runner a batch that fits the budget, the runner runs
 * one forward pass over it and answers with a token per sequence that asked for one.
 */
import type { ModelSpec } from './spec';

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
