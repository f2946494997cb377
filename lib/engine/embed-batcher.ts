/**
 * Packs the sequences of concurrent embed() calls into encoder batches under the step budgets
 * (maxNumBatchedTokens tokens, maxNumSeqs sequences), first come, first served. One call's sequences may
 * span several batches and one batch may hold several calls' sequences; a batch only mixes calls that
 * pool the same way, since the runner pools a whole batch with one mode.
 */
import type { PoolingMode, StepBudget } from '../core/step';

export interface EmbedJobOptions {
  pooling: PoolingMode;
  normalize: boolean;
  typeIds?: number[][];
}

export interface EmbedJob {
  batch: number[][];
  opts: EmbedJobOptions;
  /** vectors by input index, filled as batches finish */
  results: Float32Array[];
  /** inputs [0, nextIndex) have been handed to a batch */
  nextIndex: number;
  /** inputs still without a vector */
  pending: number;
  resolve: (v: Float32Array[]) => void;
  reject: (e: unknown) => void;
  failed: boolean;
}

/** One encoder batch: which input of which job each sequence is. */
export interface EmbedBatch {
  sequences: number[][];
  typeIds?: number[][];
  opts: { pooling: PoolingMode; normalize: boolean };
  owners: Array<{ job: EmbedJob; index: number }>;
  numTokens: number;
}

export class EmbedBatcher {
  private readonly queue: EmbedJob[] = [];

  constructor(private readonly budget: Pick<StepBudget, 'maxNumBatchedTokens' | 'maxNumSeqs'>) {}

  get numWaiting(): number {
    return this.queue.reduce((n, j) => n + j.batch.length - j.nextIndex, 0);
  }

  hasWork(): boolean {
    return this.queue.some((j) => j.nextIndex < j.batch.length);
  }

  add(job: EmbedJob): void {
    this.queue.push(job);
  }

  /** The next batch, or null when no input waits. */
  next(): EmbedBatch | null {
    const head = this.queue.find((j) => j.nextIndex < j.batch.length);
    if (!head) return null;
    const { pooling, normalize } = head.opts;
    const batch: EmbedBatch = { sequences: [], opts: { pooling, normalize }, owners: [], numTokens: 0 };
    const anyTypeIds = this.queue.some((j) => j.opts.typeIds);
    if (anyTypeIds) batch.typeIds = [];
    for (const job of this.queue) {
      if (job.nextIndex >= job.batch.length) continue;
      if (job.opts.pooling !== pooling || job.opts.normalize !== normalize) break; // keep FCFS: never skip ahead
      while (job.nextIndex < job.batch.length) {
        const seq = job.batch[job.nextIndex];
        const full = batch.sequences.length >= this.budget.maxNumSeqs || batch.numTokens + seq.length > this.budget.maxNumBatchedTokens;
        if (full && batch.sequences.length > 0) return batch;
        batch.sequences.push(seq);
        batch.typeIds?.push(job.opts.typeIds?.[job.nextIndex] ?? new Array(seq.length).fill(0));
        batch.owners.push({ job, index: job.nextIndex });
        batch.numTokens += seq.length;
        job.nextIndex++;
      }
    }
    return batch;
  }

  /** Hands a finished batch's vectors to their jobs; resolves the jobs that are complete. */
  complete(batch: EmbedBatch, vectors: Float32Array[]): void {
    batch.owners.forEach(({ job, index }, i) => {
      if (job.failed) return;
      job.results[index] = vectors[i];
      job.pending--;
    });
    for (const { job } of batch.owners) {
      if (!job.failed && job.pending === 0) {
        this.remove(job);
        job.failed = true; // settled: ignore further completions
        job.resolve(job.results);
      }
    }
  }

  /** Rejects every job with a sequence in the batch and drops their remaining inputs. */
  fail(batch: EmbedBatch, error: unknown): void {
    for (const { job } of batch.owners) this.reject(job, error);
  }

  /** Rejects one job (its caller gave up): its inputs not yet handed to a batch are dropped. */
  abort(job: EmbedJob, error: unknown): void {
    this.reject(job, error);
  }

  /** Rejects every queued job (shutdown). */
  failAll(error: unknown): void {
    for (const job of [...this.queue]) this.reject(job, error);
  }

  private reject(job: EmbedJob, error: unknown): void {
    if (job.failed) return;
    job.failed = true;
    this.remove(job);
    job.reject(error);
  }

  private remove(job: EmbedJob): void {
    const i = this.queue.indexOf(job);
    if (i >= 0) this.queue.splice(i, 1);
  }
}
