/**
 * A tokenizer thread of a TokenizerPool (lib/tokenizer/pool.ts): builds its tokenizer once from the
 * tokenizer.json it was started with, then answers batches with TextTokenizer.encodeBatch. Ids go back as
 * Int32Arrays whose memory is handed over, not copied.
 */
import { parentPort, workerData } from 'worker_threads';
import { GpuformerError } from '../errors';
import type { WorkerAnswer, WorkerJob } from './pool';
import { TextTokenizer } from './tokenizer';

const tokenizer = new TextTokenizer(workerData.json, workerData.config);

parentPort!.on('message', ({ id, texts, ...opts }: WorkerJob) => {
  let answer: WorkerAnswer;
  const transfer: ArrayBuffer[] = [];
  try {
    const results = tokenizer.encodeBatch(texts, opts).map((r) => {
      if (!Array.isArray(r)) return r;
      const ids = Int32Array.from(r);
      transfer.push(ids.buffer);
      return ids;
    });
    answer = { id, results };
  } catch (e) {
    answer = { id, error: { message: (e as Error).message, code: e instanceof GpuformerError ? e.code : undefined } };
  }
  parentPort!.postMessage(answer, transfer);
});
