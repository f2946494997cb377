/**
 * The background engine loop (DESIGN sections 6–7): every generate() and embed() call, from any number of
 * callers, joins one queue; the loop runs one forward step at a time on the model runner, each step batching
 * whatever the scheduler admits under the budgets, and streams each request's tokens back as they come.
 *
 * It runs only while there is work: a step is scheduled with setImmediate after the previous one finishes
 * (so I/O, new requests and aborts get their turn between steps), and the loop goes idle when the queues
 * are empty. A failing step rejects the requests that were in it with the runner's error and carries on
 * with the rest; nothing the loop does can leave an unhandled rejection or a caller waiting forever.
 */
import { GpuformerError, inputError, unsupported } from '../errors';
import { checkPooling, checkPositiveInt, checkTokenIds } from '../core/checks';
import {
  DecoderRunner, EncoderRunner, MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS, PoolingMode, StepBudget, StepSequence, TokenLogprobs,
} from '../core/step';
import { EmbedBatch, EmbedBatcher, EmbedJob } from './embed-batcher';
import { LoopMetrics } from './metrics';
import { Scheduler, SchedulerStep } from './scheduler';
import { Sequence } from './sequence';
import { TokenStream } from './token-stream';
import type { EmbedRequestOptions, EngineLoop, GenerateRequest, LoopStats, TokenEvent } from './types';

const embedAborted = () => new GpuformerError('ERR_GPUFORMER_ABORTED', 'the embed request was cancelled');

/** The step budgets (maxNumBatchedTokens at least maxNumSeqs for decoders) and whether to cache prefixes. */
export interface LoopOptions extends StepBudget {
  /** share full KV blocks between sequences with the same prefix (default true) */
  enablePrefixCaching?: boolean;
}

interface ActiveRequest {
  seq: Sequence;
  stream: TokenStream;
  signal?: AbortSignal;
  onAbort?: () => void;
}

const isDecoder = (r: DecoderRunner | EncoderRunner): r is DecoderRunner => typeof (r as DecoderRunner).step === 'function';

export class BackgroundEngineLoop implements EngineLoop {
  private readonly scheduler: Scheduler | null;
  private readonly embeds: EmbedBatcher | null;
  private readonly metrics = new LoopMetrics();
  private readonly active = new Map<Sequence, ActiveRequest>();
  private readonly byRequest = new WeakMap<GenerateRequest, ActiveRequest>();
  private nextId = 0;
  private tickQueued = false;
  private stepping: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly runner: DecoderRunner | EncoderRunner, readonly options: LoopOptions) {
    const { maxNumBatchedTokens, maxNumSeqs, maxModelLen } = options;
    if (isDecoder(runner)) {
      this.scheduler = new Scheduler({
        maxNumBatchedTokens, maxNumSeqs, maxModelLen,
        blockSize: runner.blockSize, numBlocks: runner.numBlocks, enablePrefixCaching: options.enablePrefixCaching ?? true,
      });
      this.embeds = null;
    } else {
      for (const [k, v] of Object.entries({ maxNumBatchedTokens, maxNumSeqs })) checkPositiveInt(v, `engine loop: ${k}`);
      this.scheduler = null;
      this.embeds = new EmbedBatcher(options);
    }
  }

  // ------------------------------------------------------------------------------- generate

  generate(req: GenerateRequest): AsyncIterable<TokenEvent> {
    this.checkOpen();
    const sched = this.scheduler;
    if (!sched) throw unsupported(`generate: ${this.runner.spec.architecture} is an embedding model; it does not generate`);
    this.checkGenerateRequest(req);
    const seq = new Sequence(this.nextId++, {
      promptIds: req.promptIds, maxTokens: req.maxTokens, stopTokenIds: req.stopTokenIds, sampling: req.sampling,
      allowedTokens: req.allowedTokens, minTokens: req.minTokens, constraint: req.constraint,
    }, sched.config.blockSize);
    sched.add(seq); // refuses what could never run
    this.metrics.promptTokens += seq.promptLength;
    const entry: ActiveRequest = { seq, stream: new TokenStream(() => this.end(entry, 'abort')), signal: req.signal };
    this.active.set(seq, entry);
    this.byRequest.set(req, entry);
    if (req.signal) {
      if (req.signal.aborted) {
        this.end(entry, 'abort');
        return entry.stream;
      }
      entry.onAbort = () => this.end(entry, 'abort');
      req.signal.addEventListener('abort', entry.onAbort, { once: true });
    }
    this.kick();
    return entry.stream;
  }

  /** Ends a generation early (the Engine calls it when a stop string matched, or its caller stopped reading). */
  cancel(req: GenerateRequest): void {
    const entry = this.byRequest.get(req);
    if (entry) this.end(entry, 'abort');
  }

  // ------------------------------------------------------------------------------- embed

  embed(batch: number[][], opts: EmbedRequestOptions): Promise<Float32Array[]> {
    const { signal, ...jobOpts } = opts;
    try {
      this.checkOpen();
      if (!this.embeds) throw unsupported(`embed: ${this.runner.spec.architecture} is a text generator, not an embedding model`);
      this.checkEmbedRequest(batch, opts);
      if (signal?.aborted) throw embedAborted();
    } catch (e) {
      return Promise.reject(e);
    }
    if (batch.length === 0) return Promise.resolve([]);
    return new Promise((resolve, reject) => {
      // an abort drops the inputs not yet in a batch; a batch already running finishes, its vectors unused
      const onAbort = () => this.embeds!.abort(job, embedAborted());
      const settled = () => signal?.removeEventListener('abort', onAbort);
      const job: EmbedJob = {
        batch, opts: jobOpts, results: new Array(batch.length), nextIndex: 0, pending: batch.length, failed: false,
        resolve: (v) => { settled(); resolve(v); },
        reject: (e) => { settled(); reject(e); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.embeds!.add(job);
      this.kick();
    });
  }

  // ------------------------------------------------------------------------------- stats, shutdown

  stats(): LoopStats {
    const m = this.metrics;
    const base = {
      generatedTokens: m.generatedTokens, promptTokens: m.promptTokens, steps: m.steps,
      tokensPerSecond: m.generationRate.rate(), throughputTokensPerSecond: m.throughput.rate(),
      embeddedSequences: m.embeddedSequences,
    };
    if (!this.scheduler) {
      return { ...base, waiting: this.embeds!.numWaiting, running: 0, kvBlocksTotal: 0, kvBlocksUsed: 0, kvBlocksCached: 0,
        prefixCacheHitRate: 0, preemptions: 0 };
    }
    const s = this.scheduler.stats();
    return {
      ...base, waiting: s.waiting, running: s.running, preemptions: s.preemptions,
      kvBlocksTotal: s.kv.total, kvBlocksUsed: s.kv.used, kvBlocksCached: s.kv.cached, prefixCacheHitRate: s.kv.hitRate,
    };
  }

  /** Stops taking work, ends running generations with 'abort', rejects waiting embeds, waits for the step in flight. */
  async shutdown(): Promise<void> {
    if (this.closed) {
      await this.stepping;
      return;
    }
    this.closed = true;
    for (const entry of [...this.active.values()]) this.end(entry, 'abort');
    this.embeds?.failAll(new GpuformerError('ERR_GPUFORMER_ABORTED', 'the engine shut down before this embed request ran'));
    await this.stepping;
  }

  /** Resolves once the loop has nothing to do (for tests and graceful shutdown). */
  async idle(): Promise<void> {
    while (this.stepping || this.tickQueued) {
      await this.stepping;
      await new Promise((r) => setImmediate(r));
    }
  }

  // ------------------------------------------------------------------------------- the loop

  private hasWork(): boolean {
    return !this.closed && (this.scheduler?.hasWork() || this.embeds?.hasWork() || false);
  }

  private kick(): void {
    if (this.tickQueued || this.stepping || !this.hasWork()) return;
    this.tickQueued = true;
    setImmediate(() => {
      this.tickQueued = false;
      if (this.stepping || !this.hasWork()) return;
      this.stepping = this.stepOnce().finally(() => {
        this.stepping = null;
        this.kick();
      });
    });
  }

  /** One step; never rejects. */
  private async stepOnce(): Promise<void> {
    if (this.scheduler) await this.decodeStep(this.scheduler);
    else await this.embedStep(this.embeds!);
  }

  private async decodeStep(sched: Scheduler): Promise<void> {
    let step: SchedulerStep;
    try {
      step = sched.schedule();
    } catch (e) {
      // a scheduler bug must not hang anyone: fail every request
      for (const entry of [...this.active.values()]) this.failRequest(entry, e);
      return;
    }
    if (step.scheduled.length === 0) return;
    let sampled: Int32Array;
    const logprobs = new Map<Sequence, TokenLogprobs>();
    try {
      // (a grammar's token mask is worked out here: a failure fails the step like the runner's)
      const batch: StepSequence[] = step.scheduled.map((s) => ({
        tokens: s.seq.tokens.slice(s.start, s.start + s.numTokens),
        start: s.start,
        blockTable: [...sched.blockTable(s.seq)],
        sample: sched.samplingFor(s),
      }));
      const result = await (this.runner as DecoderRunner).step(batch);
      sampled = result.tokens;
      result.logprobs.forEach((lp, i) => { if (lp) logprobs.set(step.scheduled[i].seq, lp); });
    } catch (e) {
      for (const s of step.scheduled) {
        const entry = this.active.get(s.seq);
        if (entry) this.failRequest(entry, e);
      }
      sched.failStep(step);
      return;
    }
    const outputs = sched.update(step, sampled);
    this.metrics.recordStep(step.numTokens, outputs.length);
    for (const o of outputs) {
      const entry = this.active.get(o.seq);
      if (!entry) continue;
      if (o.error !== undefined) {
        this.failRequest(entry, o.error);
        continue;
      }
      entry.stream.push({ tokenId: o.tokenId, finishReason: o.finishReason, logprobs: logprobs.get(o.seq) });
      if (o.finishReason) this.release(entry);
    }
  }

  private async embedStep(batcher: EmbedBatcher): Promise<void> {
    const batch: EmbedBatch | null = batcher.next();
    if (!batch) return;
    try {
      const opts = batch.typeIds ? { ...batch.opts, typeIds: batch.typeIds } : batch.opts;
      const vectors = await (this.runner as EncoderRunner).embed(batch.sequences, opts);
      if (vectors.length !== batch.sequences.length) {
        throw inputError(`embed: the runner returned ${vectors.length} vectors for ${batch.sequences.length} sequences`);
      }
      this.metrics.recordEmbedStep(batch.sequences.length, batch.numTokens);
      batcher.complete(batch, vectors);
    } catch (e) {
      batcher.fail(batch, e);
    }
  }

  // ------------------------------------------------------------------------------- requests

  /** Ends a request early: frees its blocks now and ends its stream with `reason`. */
  private end(entry: ActiveRequest, reason: 'abort'): void {
    if (!this.active.has(entry.seq)) return;
    this.scheduler!.abort(entry.seq);
    entry.stream.end(reason);
    this.release(entry);
    this.kick();
  }

  private failRequest(entry: ActiveRequest, error: unknown): void {
    this.scheduler!.abort(entry.seq);
    entry.stream.fail(error);
    this.release(entry);
  }

  private release(entry: ActiveRequest): void {
    this.active.delete(entry.seq);
    if (entry.onAbort) entry.signal!.removeEventListener('abort', entry.onAbort);
  }

  private checkOpen(): void {
    if (this.closed) throw new GpuformerError('ERR_GPUFORMER_ABORTED', 'the engine loop has been shut down');
  }

  /**
   * What the loop asserts of a request before it joins the queue (the Engine has validated the caller's
   * options; lengths are the scheduler's to check, in add()). Token ids are checked here rather than in the
   * step: one bad id must not fail a whole batch of other requests.
   */
  private checkGenerateRequest(req: GenerateRequest): void {
    if (!req || typeof req !== 'object') throw inputError('generate: the request must be an object');
    checkTokenIds(req.promptIds, this.runner.spec.vocabSize, 'generate: promptIds');
    if (!Array.isArray(req.stopTokenIds)) throw inputError('generate: stopTokenIds must be an array');
    const s = req.sampling;
    const V = this.runner.spec.vocabSize;
    const finite = (...xs: number[]) => xs.every((x) => Number.isFinite(x));
    if (!s || typeof s.seed !== 'bigint' || !finite(s.temperature, s.minP, s.frequencyPenalty, s.presencePenalty) ||
      !Number.isInteger(s.topK) || !(s.topP > 0 && s.topP <= 1) || !(s.repetitionPenalty > 0 && Number.isFinite(s.repetitionPenalty)) ||
      !Number.isInteger(s.logprobs) || s.logprobs < -1 || s.logprobs > MAX_TOP_LOGPROBS || !Array.isArray(s.logitBias)) {
      throw inputError('generate: sampling must be SamplingParams (lib/core/step.ts): temperature, minP and the penalties finite ' +
        `numbers, repetitionPenalty > 0, topK an integer, topP in (0, 1], seed a bigint, logprobs an integer in [-1, ${MAX_TOP_LOGPROBS}], logitBias pairs`);
    }
    // a bad entry would fail every request of the step, so it fails only this one, here
    if (s.logitBias.length + (req.minTokens ? req.stopTokenIds.length : 0) > MAX_LOGIT_BIAS ||
      !s.logitBias.every(([t, b]) => Number.isInteger(t) && t >= 0 && t < V && !Number.isNaN(b))) {
      throw inputError(`generate: logitBias must be at most ${MAX_LOGIT_BIAS} [token, bias] pairs (with the stop tokens while ` +
        `minTokens holds) of tokens in [0, ${V})`);
    }
    if (req.allowedTokens !== undefined && !(req.allowedTokens instanceof Uint32Array && req.allowedTokens.length === Math.ceil(V / 32))) {
      throw inputError(`generate: allowedTokens must be a Uint32Array of ${Math.ceil(V / 32)} words`);
    }
    const c = req.constraint;
    if (c !== undefined && !(c && typeof c.allowedTokens === 'function' && typeof c.accept === 'function' && typeof c.isComplete === 'boolean')) {
      throw inputError('generate: constraint must be a TokenConstraint (allowedTokens(), accept(), isComplete)');
    }
  }

  /** What the loop asserts of an embed batch before it joins the queue (as for generate: bad ids fail only their call). */
  private checkEmbedRequest(batch: number[][], opts: EmbedRequestOptions): void {
    if (!Array.isArray(batch)) throw inputError('embed: batch must be an array of token-id arrays');
    const V = this.runner.spec.vocabSize;
    const max = this.options.maxNumBatchedTokens;
    batch.forEach((seq, i) => {
      checkTokenIds(seq, V, `embed: batch[${i}]`);
      if (seq.length > max) throw inputError(`embed: batch[${i}] has ${seq.length} tokens, more than maxNumBatchedTokens ${max}`);
      const t = opts.typeIds?.[i];
      if (opts.typeIds && (!Array.isArray(t) || t.length !== seq.length)) throw inputError(`embed: typeIds[${i}] must have ${seq.length} entries`);
    });
    checkPooling(opts?.pooling, 'embed: pooling');
    if (typeof opts.normalize !== 'boolean') throw inputError('embed: normalize must be a boolean');
  }
}

/** The loop for a runner: generation over a DecoderRunner, embeddings over an EncoderRunner. */
export function createEngineLoop(runner: DecoderRunner | EncoderRunner, options: LoopOptions): BackgroundEngineLoop {
  return new BackgroundEngineLoop(runner, options);
}
