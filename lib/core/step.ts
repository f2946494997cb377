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

/**
 * How one request samples, with vLLM's meaning and order of application (native/include/gpuformer/op_decls.inc):
 * the token mask, the logit bias and the penalties change the logits first (process_logits); then the
 * temperature divides them, min-p, top-k and top-p cut the candidates, and the seeded draw picks one (sample).
 */
export interface SamplingParams {
  /** ≤ 0: greedy (the largest processed logit) */
  temperature: number;
  /** ≤ 0: off */
  topK: number;
  /** ≥ 1: off */
  topP: number;
  /** drop tokens whose probability is below minP × the most likely one's (after temperature); 0: off */
  minP: number;
  /** 64-bit seed (same seed, same tokens) */
  seed: bigint;
  /** divides positive logits and multiplies negative ones of every token of the prompt or the output; 1: off */
  repetitionPenalty: number;
  /** subtracted once per occurrence of the token in the output; 0: off */
  frequencyPenalty: number;
  /** subtracted once if the token occurs in the output; 0: off */
  presencePenalty: number;
  /** [token, bias] added to the logits, tokens distinct; at most MAX_LOGIT_BIAS entries */
  logitBias: ReadonlyArray<readonly [number, number]>;
  /** the log-probabilities returned with each token: -1 none, 0 the sampled token's, k also the k most likely (≤ 20) */
  logprobs: number;
}

/** Sampling that changes nothing: greedy, no cut, no processor, no log-probabilities. */
export const NEUTRAL_SAMPLING: SamplingParams = {
  temperature: 0, topK: 0, topP: 1, minP: 0, seed: 0n, repetitionPenalty: 1, frequencyPenalty: 0, presencePenalty: 0,
  logitBias: [], logprobs: -1,
};

/** The most logit-bias entries of one sampled token (the runner reserves room for this many per sequence). */
export const MAX_LOGIT_BIAS = 1024;
/** The most top log-probabilities per token (OpenAI's top_logprobs bound; native kMaxTopLogprobs). */
export const MAX_TOP_LOGPROBS = 20;

/** Whether the penalties change anything (only then does the runner keep token counts for the sequence). */
export const hasPenalties = (p: SamplingParams): boolean =>
  p.repetitionPenalty !== 1 || p.frequencyPenalty !== 0 || p.presencePenalty !== 0;

/** What the runner needs to sample one sequence's next token. */
export interface SamplingState extends SamplingParams {
  /** index of the token being sampled within this sequence (the RNG counter) */
  step: number;
  /**
   * The token mask: the tokens allowed at this step, bit t % 32 of word t >> 5 (ceil(V / 32) words); null allows
   * every token. Applied first, before the logit bias and the penalties. allowed_token_ids sets it for a whole
   * request; constrained decoding (structured output) sets it step by step.
   */
  allowedTokens: Uint32Array | null;
  /**
   * The sequence so far, when a penalty is on (null otherwise): its id (unique), its tokens (the prompt, then
   * the generated ones; read, never copied) and the prompt's length. The runner counts tokens on the device
   * as they pass through steps and uses this only to catch up on what it has not seen.
   */
  history: { id: number; tokens: readonly number[]; promptLength: number } | null;
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

/** The log-probabilities of one sampled token (raw: the log-softmax of the model's logits, vLLM's default). */
export interface TokenLogprobs {
  /** the sampled token's */
  logprob: number;
  /** the most likely tokens, most likely first (as many as SamplingParams.logprobs asked) */
  top: Array<{ tokenId: number; logprob: number }>;
}

export interface StepResult {
  /** one token per sequence with `sample`, in batch order; -1 for the others */
  tokens: Int32Array;
  /** per sequence, its token's log-probabilities where its sampling asked for them (logprobs ≥ 0), else null */
  logprobs: Array<TokenLogprobs | null>;
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
