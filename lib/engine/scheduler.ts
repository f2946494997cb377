/**
 * The scheduler (vLLM semantics, DESIGN section 6), free of any model: it decides, step by step, which
 * tokens of which sequences the next forward pass computes, and keeps the KV block manager in step.
 *
 * Each step:
 *  1. running sequences that are decoding get their one token each (oldest first);
 *  2. running sequences still prefilling get the next chunk of their prompt from what is left of the token
 *     budget (chunked prefill: long prompts spread over several steps);
 *  3. waiting sequences are admitted strictly first come, first served while the budget, maxNumSeqs and the
 *     free blocks allow; a waiting sequence starts from its longest cached prefix (prefix caching).
 * When a running sequence needs a block and none is free, the NEWEST running sequence is preempted: its
 * blocks are freed and it goes back to the waiting queue (in arrival order) to be recomputed later, its
 * generated tokens now part of its prompt. No admission happens in a step that preempted.
 *
 * Why nothing starves: the waiting queue is ordered by arrival and admission never skips its head; the
 * oldest running sequence is never preempted while a newer one runs, and a sequence alone always fits
 * (add() refuses requests whose longest possible length needs more blocks than exist), so the oldest
 * running sequence always progresses and the others follow in arrival order.
 */
import { GpuformerError, inputError } from '../errors';
import { checkPositiveInt } from '../core/checks';
import type { KvCacheShape, SamplingState, StepBudget } from '../core/step';
import { BlockManager, KvStats } from '../kv/block-manager';
import { Sequence } from './sequence';
import type { FinishReason } from './types';

/** The step budgets (maxNumSeqs also bounds the sequences running at once), the KV cache's shape, prefix caching. */
export interface SchedulerConfig extends StepBudget, KvCacheShape {
  enablePrefixCaching: boolean;
}

/** One sequence's share of a step. */
export interface ScheduledSequence {
  seq: Sequence;
  /** first position computed this step (= tokens already in the cache) */
  start: number;
  /** how many tokens this step computes: seq.tokens[start, start + numTokens) */
  numTokens: number;
  /** the step ends the sequence's uncomputed tokens, so a next token is sampled */
  sample: boolean;
}

export interface SchedulerStep {
  /** in the order the runner gets them (decodes, then prefill chunks, then new admissions) */
  scheduled: ScheduledSequence[];
  numTokens: number;
  /** sequences admitted this step (from the waiting queue), in admission order */
  admitted: Sequence[];
  /** sequences preempted this step, newest first */
  preempted: Sequence[];
}

/** What a step produced for one sequence. */
export interface SequenceOutput {
  seq: Sequence;
  tokenId: number;
  finishReason?: FinishReason;
  /** why the sequence ended with 'abort' here (its grammar refused the token), for its caller */
  error?: unknown;
}

/** The longest prompt a sequence may have: maxModelLen less the one position it must generate into. */
export const longestPrompt = (maxModelLen: number) => maxModelLen - 1;

/**
 * The refusal of a prompt longer than longestPrompt: raised here when a sequence is added, and by the Engine
 * as soon as tokenizing shows it, or a text's byte length alone (`fromBytes`: then `tokens` is a lower
 * bound), before anything is queued.
 */
export function promptTooLong(what: string, tokens: number, maxModelLen: number,
  fromBytes?: { bytes: number; maxBytesPerToken: number }): GpuformerError {
  const count = fromBytes ? `at least ${tokens} tokens (its ${fromBytes.bytes} bytes, at most ${fromBytes.maxBytesPerToken} per token)` : `${tokens} tokens`;
  return inputError(`${what} has ${count}; maxModelLen is ${maxModelLen}, which leaves no room to generate ` +
    '(shorten the prompt or load with a larger maxModelLen)');
}

export class Scheduler {
  readonly kv: BlockManager;
  /** ordered by id (arrival); admission always takes the head */
  private readonly waiting: Sequence[] = [];
  /** in admission order: the last one is the newest, preempted first */
  private readonly running: Sequence[] = [];
  private preemptionCount = 0;

  constructor(readonly config: SchedulerConfig) {
    const { maxNumBatchedTokens, maxNumSeqs, maxModelLen } = config;
    for (const [k, v] of Object.entries({ maxNumBatchedTokens, maxNumSeqs, maxModelLen })) checkPositiveInt(v, `scheduler: ${k}`);
    // every running sequence must be able to decode in every step, or the newest ones would starve
    if (maxNumBatchedTokens < maxNumSeqs) {
      throw inputError(`scheduler: maxNumBatchedTokens (${maxNumBatchedTokens}) must be at least maxNumSeqs (${maxNumSeqs})`);
    }
    this.kv = new BlockManager(config);
  }

  get numWaiting(): number {
    return this.waiting.length;
  }

  get numRunning(): number {
    return this.running.length;
  }

  get numPreemptions(): number {
    return this.preemptionCount;
  }

  hasWork(): boolean {
    return this.waiting.length > 0 || this.running.length > 0;
  }

  /** The waiting sequences, head first (for tests and stats). */
  waitingQueue(): readonly Sequence[] {
    return this.waiting;
  }

  runningQueue(): readonly Sequence[] {
    return this.running;
  }

  /** Longest a sequence can become: its prompt plus maxTokens, capped by maxModelLen. */
  maxLength(seq: Sequence): number {
    return Math.min(seq.promptLength + seq.maxTokens, this.config.maxModelLen);
  }

  /**
   * Queues a new sequence. Refuses one that could never run (too long for maxModelLen or for the cache): the
   * one place a request's length is checked against the model's and the cache's limits.
   */
  add(seq: Sequence): void {
    const { maxModelLen, numBlocks, blockSize } = this.config;
    if (seq.promptLength < 1) throw inputError('the prompt is empty');
    if (seq.promptLength > longestPrompt(maxModelLen)) throw promptTooLong('the prompt', seq.promptLength, maxModelLen);
    checkPositiveInt(seq.maxTokens, 'maxTokens');
    const blocks = this.kv.blocksFor(this.maxLength(seq));
    if (blocks > numBlocks) {
      throw inputError(`a request of ${this.maxLength(seq)} tokens (prompt ${seq.promptLength} + maxTokens ${seq.maxTokens}) needs ${blocks} ` +
        `KV blocks of ${blockSize} tokens; the cache has ${numBlocks} (lower maxTokens, or give the KV cache more memory)`);
    }
    const last = this.waiting[this.waiting.length - 1];
    if (last && last.id > seq.id) throw inputError(`scheduler: sequence ids must increase with arrival (${seq.id} after ${last.id})`);
    seq.status = 'waiting';
    this.waiting.push(seq);
  }

  /** Removes a sequence wherever it is and frees its blocks at once. */
  abort(seq: Sequence): void {
    if (seq.isFinished) return;
    this.finish(seq, 'abort');
  }

  /** Plans the next step. Empty when there is nothing to do. */
  schedule(): SchedulerStep {
    const { maxNumBatchedTokens, maxNumSeqs, maxModelLen } = this.config;
    let budget = maxNumBatchedTokens;
    const scheduled = new Map<Sequence, ScheduledSequence>();
    const preempted: Sequence[] = [];
    const admitted: Sequence[] = [];

    const preemptNewest = (): Sequence => {
      const victim = this.running.pop()!;
      const planned = scheduled.get(victim);
      if (planned) {
        budget += planned.numTokens;
        scheduled.delete(victim);
      }
      this.kv.free(victim.id);
      victim.numComputed = 0;
      victim.status = 'waiting';
      victim.preemptions++;
      this.preemptionCount++;
      this.insertWaiting(victim);
      preempted.push(victim);
      return victim;
    };

    // 1 and 2: running sequences, decodes first, then prefill chunks; oldest first within each
    for (const decoding of [true, false]) {
      for (const seq of [...this.running]) {
        if (seq.status !== 'running' || (seq.numUncomputed === 1) !== decoding) continue;
        if (budget === 0) break;
        const n = Math.min(seq.numUncomputed, budget, maxModelLen - seq.numComputed);
        let ok = true;
        while (!this.kv.allocate(seq.id, seq.numComputed + n)) {
          if (preemptNewest() === seq) {
            ok = false;
            break;
          }
        }
        if (!ok) continue;
        scheduled.set(seq, { seq, start: seq.numComputed, numTokens: n, sample: seq.numComputed + n === seq.tokens.length });
        budget -= n;
      }
    }

    // 3: admissions, strictly in arrival order
    while (preempted.length === 0 && budget > 0 && this.waiting.length > 0 && this.running.length < maxNumSeqs) {
      const seq = this.waiting[0];
      const hit = this.kv.lookupPrefix(seq.blockHashes, seq.tokens.length);
      const n = Math.min(seq.tokens.length - hit.numTokens, budget);
      if (!this.kv.allocate(seq.id, hit.numTokens + n, hit)) break;
      this.waiting.shift();
      seq.numComputed = hit.numTokens;
      seq.status = 'running';
      this.running.push(seq);
      admitted.push(seq);
      scheduled.set(seq, { seq, start: seq.numComputed, numTokens: n, sample: seq.numComputed + n === seq.tokens.length });
      budget -= n;
    }

    return { scheduled: [...scheduled.values()], numTokens: maxNumBatchedTokens - budget, admitted, preempted };
  }

  /** The block table the runner needs for a scheduled sequence (positions [0, start + numTokens)). */
  blockTable(seq: Sequence): readonly number[] {
    return this.kv.table(seq.id);
  }

  /** What the runner needs to sample for a scheduled sequence, or null. */
  samplingFor(s: ScheduledSequence): SamplingState | null {
    return s.sample ? s.seq.samplingState() : null;
  }

  /**
   * Applies a finished step: advances each sequence's computed tokens, offers newly full blocks to the
   * prefix cache, appends sampled tokens and finishes sequences (stop token, a grammar nothing more can
   * follow, maxTokens, maxModelLen).
   * `sampled[i]` is the token of step.scheduled[i] (ignored where it did not sample). Sequences aborted
   * while the step ran are skipped.
   */
  update(step: SchedulerStep, sampled: ArrayLike<number>): SequenceOutput[] {
    const out: SequenceOutput[] = [];
    step.scheduled.forEach((s, i) => {
      const seq = s.seq;
      if (seq.status !== 'running') return;
      seq.numComputed = s.start + s.numTokens;
      this.kv.commit(seq.id, seq.blockHashes, seq.numComputed);
      if (!s.sample) return;
      const tokenId = sampled[i];
      seq.append(tokenId);
      let reason: FinishReason | undefined;
      let error: unknown;
      if (seq.stopTokenIds.has(tokenId)) reason = 'stop';
      else if (seq.constraint) {
        try {
          seq.constraint.accept(tokenId);
          if (seq.constraint.isComplete) reason = 'stop';
        } catch (e) {
          reason = 'abort';
          error = e;
        }
      }
      if (!reason && seq.tokens.length >= this.maxLength(seq)) reason = 'length';
      if (reason) this.finish(seq, reason);
      out.push({ seq, tokenId, finishReason: reason, ...(error === undefined ? {} : { error }) });
    });
    return out;
  }

  /** Ends every sequence of a step that failed (with reason 'abort'); the caller reports the error. */
  failStep(step: SchedulerStep): Sequence[] {
    const failed = step.scheduled.map((s) => s.seq).filter((seq) => !seq.isFinished);
    for (const seq of failed) this.finish(seq, 'abort');
    return failed;
  }

  stats(): { waiting: number; running: number; preemptions: number; kv: KvStats } {
    return { waiting: this.waiting.length, running: this.running.length, preemptions: this.preemptionCount, kv: this.kv.stats() };
  }

  // ------------------------------------------------------------------------------- internals

  private finish(seq: Sequence, reason: FinishReason): void {
    const q = seq.status === 'waiting' ? this.waiting : this.running;
    const i = q.indexOf(seq);
    if (i >= 0) q.splice(i, 1);
    this.kv.free(seq.id);
    seq.status = 'finished';
    seq.finishReason = reason;
  }

  /** Puts a preempted sequence back by arrival, so the queue stays first come, first served. */
  private insertWaiting(seq: Sequence): void {
    let lo = 0;
    let hi = this.waiting.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.waiting[mid].id < seq.id) lo = mid + 1;
      else hi = mid;
    }
    this.waiting.splice(lo, 0, seq);
  }
}
