/**
 * Tokenization off the event loop. Encoding is plain JavaScript (@huggingface/tokenizers): about a second
 * per MiB of text on one core, time in which a server could answer nothing else. A TokenizerPool runs
 * large batches on worker threads, each holding its own copy of the tokenizer, and small ones (a few KiB,
 * a few milliseconds) inline, where a message to a thread would cost more than it saves. Both run the same
 * TextTokenizer.encodeBatch, so the ids do not depend on where a text went.
 */
import { availableParallelism } from 'os';
import type { Worker } from 'worker_threads';
import { startWorker } from '../worker-thread';
import { GpuformerError } from '../errors';
import type { BatchEncodeOptions, PairIds, TextPair, TextTokenizer, TokenizerFiles, TooLong } from './tokenizer';

/** Batches of at most this many characters in all are encoded inline (a few milliseconds). */
export const INLINE_CHARS = 4096;

/**
 * A thread that encoded a batch of more characters than this is stopped once it answers: encoding 7 MiB
 * grows a thread's heap by hundreds of MiB (the library's per-token objects), which V8 keeps; a fresh thread
 * starts for the next large batch, so memory goes back to what it was.
 */
export const RECYCLE_CHARS = 2 ** 20;

export interface PoolEncodeOptions extends BatchEncodeOptions {
  /** fails the batch with ERR_GPUFORMER_ABORTED (a thread already on it finishes, and its answer is dropped) */
  signal?: AbortSignal;
}

/** What a worker is started with, sent and answers (lib/tokenizer/worker.ts). */
export interface WorkerData {
  /** TokenizerFiles as UTF-8 JSON */
  shared: SharedArrayBuffer;
}
export interface WorkerJob extends BatchEncodeOptions {
  id: number;
  texts: ReadonlyArray<string | TextPair>;
}
/** a text's ids, a pair's ids and token types, or a count: the arrays travel as Int32Arrays whose memory is handed over */
export type WorkerResult = Int32Array | { ids: Int32Array; typeIds: Int32Array } | TooLong;
export type WorkerAnswer = { id: number; results: WorkerResult[] } | { id: number; error: { message: string; code?: string } };
export type Encoded = number[] | PairIds | TooLong;

interface Pending {
  job: WorkerJob;
  /** the batch's characters in all */
  chars: number;
  resolve: (r: Encoded[]) => void;
  reject: (e: Error) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
  settled?: boolean;
}

interface PoolWorker {
  worker: Worker;
  busy?: Pending;
}

export class TokenizerPool {
  private readonly workers: PoolWorker[] = [];
  private readonly queue: Pending[] = [];
  private nextId = 1;
  private disposed = false;
  /**
   * tokenizer.json and its config as UTF-8 JSON in shared memory, written once here (structured output's
   * thread reads it too, lib/structured/off-loop.ts): a thread starting later
   * parses it on its own time, where cloning the objects into it would hold this thread for ~100 ms (SmolLM2)
   */
  readonly shared: SharedArrayBuffer;

  /**
   * `tokenizer` answers inline batches; the workers build theirs from the same tokenizer.json and config.
   * `size`: most worker threads (default: 2, or 1 on a one-core machine), started on first use.
   */
  constructor(private readonly tokenizer: TextTokenizer, files: TokenizerFiles, private readonly size = Math.min(2, availableParallelism())) {
    const bytes = Buffer.from(JSON.stringify(files));
    this.shared = new SharedArrayBuffer(bytes.length);
    bytes.copy(Buffer.from(this.shared));
  }

  /** Each text's ids, each pair's ids and token types (or, past opts.limit, a count), as TextTokenizer.encodeBatch answers them. */
  async encode(texts: ReadonlyArray<string | TextPair>, opts: PoolEncodeOptions = {}): Promise<Encoded[]> {
    const { signal, ...batch } = opts;
    if (this.disposed) throw new GpuformerError('ERR_GPUFORMER_ABORTED', 'the tokenizer pool has been disposed');
    if (signal?.aborted) throw aborted();
    const chars = texts.reduce((n, t) => n + (typeof t === 'string' ? t.length : t[0].length + t[1].length), 0);
    if (chars <= INLINE_CHARS || this.size < 1) return this.tokenizer.encodeBatch(texts, batch);
    return new Promise((resolve, reject) => {
      const pending: Pending = { job: { id: this.nextId++, texts, ...batch }, chars, resolve, reject, signal };
      if (signal) {
        pending.onAbort = () => {
          const i = this.queue.indexOf(pending);
          if (i >= 0) this.queue.splice(i, 1);
          this.settle(pending, aborted());
        };
        signal.addEventListener('abort', pending.onAbort, { once: true });
      }
      this.queue.push(pending);
      this.dispatch();
    });
  }

  /** Worker threads running now (for tests and stats). */
  get threads(): number {
    return this.workers.length;
  }

  /** Stops the threads; queued and running batches fail with ERR_GPUFORMER_ABORTED. */
  async dispose(): Promise<void> {
    this.disposed = true;
    for (const p of this.queue.splice(0)) this.settle(p, aborted());
    const workers = this.workers.splice(0);
    for (const w of workers) if (w.busy) this.settle(w.busy, aborted());
    await Promise.all(workers.map((w) => w.worker.terminate()));
  }

  private dispatch(): void {
    while (this.queue.length > 0) {
      let w = this.workers.find((x) => !x.busy);
      if (!w && this.workers.length < this.size) w = this.spawn();
      if (!w) return;
      const pending = this.queue.shift()!;
      w.busy = pending;
      w.worker.ref();
      w.worker.postMessage(pending.job);
    }
  }

  private spawn(): PoolWorker {
    const w: PoolWorker = { worker: startWorker(__dirname, 'worker', { shared: this.shared }) };
    w.worker.on('message', (answer: WorkerAnswer) => {
      const pending = w.busy;
      if (!pending || pending.job.id !== answer.id) return;
      w.busy = undefined;
      w.worker.unref();
      if (pending.settled) {
        // aborted while this thread worked on it: nobody waits for the answer
      } else if ('error' in answer) {
        const e = answer.error.code ? new GpuformerError(answer.error.code as GpuformerError['code'], answer.error.message) : new Error(answer.error.message);
        this.settle(pending, e);
      } else {
        this.settle(pending, undefined, answer.results.map(fromWorker));
      }
      if (pending.chars > RECYCLE_CHARS) this.retire(w);
      this.dispatch();
    });
    // a thread that dies (out of memory, a bug) fails its batch; the next batch starts a new one
    const lost = (e: Error) => {
      const i = this.workers.indexOf(w);
      if (i < 0) return;
      this.workers.splice(i, 1);
      if (w.busy) this.settle(w.busy, new Error(`a tokenizer thread stopped: ${e.message}`));
      w.busy = undefined;
      if (!this.disposed) this.dispatch();
    };
    w.worker.on('error', lost);
    w.worker.on('exit', (code) => lost(new Error(`exit code ${code}`)));
    w.worker.unref();
    this.workers.push(w);
    return w;
  }

  /** Stops a thread and forgets it (its 'exit' then finds it gone). */
  private retire(w: PoolWorker): void {
    const i = this.workers.indexOf(w);
    if (i >= 0) this.workers.splice(i, 1);
    void w.worker.terminate();
  }

  /** Answers a batch once (an aborted batch's late answer is dropped). */
  private settle(p: Pending, error?: Error, results?: Encoded[]): void {
    if (p.settled) return;
    p.settled = true;
    if (p.onAbort) p.signal!.removeEventListener('abort', p.onAbort);
    if (error) p.reject(error);
    else p.resolve(results!);
  }
}

const aborted = () => new GpuformerError('ERR_GPUFORMER_ABORTED', 'tokenization was cancelled');

/** A worker's result as encodeBatch answers it (isView, not instanceof: under a test runner's sandbox the arrays come from another realm). */
function fromWorker(r: WorkerResult): Encoded {
  if (ArrayBuffer.isView(r)) return Array.from(r);
  if ('ids' in r) return { ids: Array.from(r.ids), typeIds: Array.from(r.typeIds) };
  return r;
}
