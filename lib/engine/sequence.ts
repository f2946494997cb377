/**
 * One generation request as the scheduler tracks it: its tokens (prompt + generated so far), how many of
 * them have keys and values in the KV cache, and the chained block hashes of its full blocks (for the prefix
 * cache). Preemption drops the cache state (numComputed = 0) but keeps every token: the generated ones
 * become part of the prompt that is recomputed on readmission.
 */
import { SamplingParams, SamplingState, hasPenalties } from '../core/step';
import { extendBlockHashes, BlockHash } from '../kv/block-hash';
import type { FinishReason, TokenConstraint } from './types';

export type SequenceStatus = 'waiting' | 'running' | 'finished';

export interface SequenceParams {
  promptIds: readonly number[];
  maxTokens: number;
  stopTokenIds: readonly number[];
  sampling: SamplingParams;
  /** the token mask of every step (allowed_token_ids); absent: every token */
  allowedTokens?: Uint32Array;
  /** the stop tokens are banned until this many tokens are generated */
  minTokens?: number;
  /** the grammar the generation is held to (structured output) */
  constraint?: TokenConstraint;
}

export class Sequence {
  readonly promptLength: number;
  readonly maxTokens: number;
  readonly stopTokenIds: ReadonlySet<number>;
  readonly sampling: SamplingParams;
  private readonly allowedTokens: Uint32Array | null;
  /** the grammar the generated tokens follow (the scheduler tells it each one), or null */
  readonly constraint: TokenConstraint | null;
  private readonly minTokens: number;
  /** the logit bias while fewer than minTokens are generated: the request's, and -inf on every stop token */
  private readonly minTokensBias: SamplingParams['logitBias'];
  /** prompt followed by the generated tokens */
  readonly tokens: number[];
  /** tokens[0, numComputed) have keys and values in the cache */
  numComputed = 0;
  status: SequenceStatus = 'waiting';
  finishReason: FinishReason | null = null;
  /** chained hashes of the full blocks of `tokens` */
  readonly blockHashes: BlockHash[] = [];
  /** how often it was preempted (its blocks freed, to be recomputed) */
  preemptions = 0;

  /**
   * @param id unique, increasing with arrival: admission order is id order (first come, first served)
   */
  constructor(readonly id: number, p: SequenceParams, private readonly blockSize: number) {
    this.tokens = [...p.promptIds];
    this.promptLength = p.promptIds.length;
    this.maxTokens = p.maxTokens;
    this.stopTokenIds = new Set(p.stopTokenIds);
    this.sampling = p.sampling;
    this.allowedTokens = p.allowedTokens ?? null;
    this.constraint = p.constraint ?? null;
    this.minTokens = p.minTokens ?? 0;
    const bias = new Map(p.sampling.logitBias.map(([t, b]) => [t, b]));
    for (const t of this.stopTokenIds) bias.set(t, -Infinity);
    this.minTokensBias = [...bias.entries()].sort((a, b) => a[0] - b[0]);
    extendBlockHashes(this.blockHashes, this.tokens, blockSize);
  }

  get numGenerated(): number {
    return this.tokens.length - this.promptLength;
  }

  /** tokens still to be computed before the next sample (the whole prompt at first, 1 while decoding) */
  get numUncomputed(): number {
    return this.tokens.length - this.numComputed;
  }

  get isFinished(): boolean {
    return this.status === 'finished';
  }

  /** Adds a sampled token (its keys and values are computed by the next step). */
  append(tokenId: number): void {
    this.tokens.push(tokenId);
    extendBlockHashes(this.blockHashes, this.tokens, this.blockSize);
  }

  /**
   * The sampling state for the token sampled after this step: the RNG counter is the token's index; the stop
   * tokens are banned while fewer than minTokens are generated; the penalties see the tokens so far; the
   * token mask is the grammar's for this step (and allowed_token_ids', where both are given).
   */
  samplingState(): SamplingState {
    const step = this.numGenerated;
    return {
      ...this.sampling,
      logitBias: step < this.minTokens ? this.minTokensBias : this.sampling.logitBias,
      step,
      allowedTokens: this.tokenMask(),
      history: hasPenalties(this.sampling) ? { id: this.id, tokens: this.tokens, promptLength: this.promptLength } : null,
    };
  }

  private tokenMask(): Uint32Array | null {
    if (!this.constraint) return this.allowedTokens;
    const grammar = this.constraint.allowedTokens();
    if (!this.allowedTokens) return grammar;
    return grammar.map((w, i) => w & this.allowedTokens![i]);
  }
}
