/**
 * The engine loop's interface (lib/engine/loop.ts), as the Engine and the server see it: generation
 * requests in token ids, streamed token events out, the loop's counters. The loop's contract with the model
 * runner below it is lib/core/step.ts.
 */
import type { PoolingMode, SamplingParams, TokenLogprobs } from '../core/step';

export type FinishReason = 'stop' | 'length' | 'abort';

/** A generation request as the loop sees it: token ids in, token ids out (text lives in the Engine). */
export interface GenerateRequest {
  promptIds: number[];
  maxTokens: number;
  sampling: SamplingParams;
  /** the tokens that may be generated, as a token mask (bit t % 32 of word t >> 5); absent: every token */
  allowedTokens?: Uint32Array;
  /** stopTokenIds cannot be generated before this many tokens (default 0) */
  minTokens?: number;
  /** holds the generation to a grammar (structured output): the tokens allowed at each step, and its end */
  constraint?: TokenConstraint;
  /** finish with 'stop' after emitting one of these (EOS, end-of-turn) */
  stopTokenIds: number[];
  signal?: AbortSignal;
}

/**
 * A generation held to a grammar (lib/structured's GrammarConstraint): asked for the tokens allowed before
 * each sampled token, told each token generated. Stop tokens are among the allowed ones exactly when the
 * output may end there.
 */
export interface TokenConstraint {
  /** the tokens allowed next, bit t % 32 of word t >> 5 (never written by the caller) */
  allowedTokens(): Uint32Array;
  /** follows a generated token (a token allowedTokens() did not allow is an error) */
  accept(tokenId: number): void;
  /** nothing more can follow: the generation is over */
  readonly isComplete: boolean;
}

/** An embed request as the loop sees it, beside its token ids. */
export interface EmbedRequestOptions {
  pooling: PoolingMode;
  normalize: boolean;
  /** token types per sequence (default: all 0) */
  typeIds?: number[][];
  /** drops the request's inputs not yet in a batch and rejects it with ERR_GPUFORMER_ABORTED */
  signal?: AbortSignal;
}

export interface TokenEvent {
  /** the generated id; -1 on a final 'abort' event that carries no token (every token was already delivered) */
  tokenId: number;
  /** set on the last event of a request */
  finishReason?: FinishReason;
  /** the token's log-probabilities, when the request's sampling asks for them */
  logprobs?: TokenLogprobs;
}

/**
 * The background engine loop (lib/engine/loop.ts): admits requests under the scheduler's budgets, runs
 * steps on the runner, streams tokens back. Concurrent callers batch together automatically.
 */
export interface EngineLoop {
  /** Streams the generated tokens; ends after the event with finishReason. Aborting via signal ends it with 'abort'. */
  generate(req: GenerateRequest): AsyncIterable<TokenEvent>;
  /** Embeds token-id sequences (already truncated) on an encoder model. */
  embed(batch: number[][], opts: EmbedRequestOptions): Promise<Float32Array[]>;
  /** Ends a generation early from outside (the Engine calls it when a stop string matches). */
  cancel(req: GenerateRequest): void;
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
  steps: number;
  /** sequences preempted (blocks freed, recomputed later) so far */
  preemptions: number;
  /** generated tokens per second over the last seconds */
  tokensPerSecond: number;
  /** tokens through the model per second (prefill, decode, embedding) over the last seconds */
  throughputTokensPerSecond: number;
  embeddedSequences: number;
}
