/**
 * A tokenizer thread of a TokenizerPool (lib/tokenizer/pool.ts): builds its tokenizer once from the
 * tokenizer.json it was started with (in shared memory), then answers batches with
 * TextTokenizer.encodeBatch. Ids go back as Int32Arrays whose memory is handed over, not copied.
 */
import { parentPort, workerData } from 'worker_threads';
import { GpuformerError } from '../errors';
import type { WorkerAnswer, WorkerData, WorkerJob, WorkerResult } from './pool';
import { TextTokenizer, TokenizerFiles } from './tokenizer';

// copied out of the shared memory first: the decoder does not read shared buffers
const files = JSON.parse(Buffer.from(new Uint8Array((workerData as WorkerData).shared)).toString('utf8')) as TokenizerFiles;
const tokenizer = new TextTokenizer(files.json, files.config);

parentPort!.on('message', ({ id, texts, ...opts }: WorkerJob) => {
  let answer: WorkerAnswer;
  const transfer: ArrayBuffer[] = [];
  try {
    const handOver = (a: number[]) => {
      const ids = Int32Array.from(a);
      transfer.push(ids.buffer);
      return ids;
    };
    const results = tokenizer.encodeBatch(texts, opts).map((r): WorkerResult => {
      if (Array.isArray(r)) return handOver(r);
      if ('ids' in r) return { ids: handOver(r.ids), typeIds: handOver(r.typeIds) };
      return r;
    });
    answer = { id, results };
  } catch (e) {
    answer = { id, error: { message: (e as Error).message, code: e instanceof GpuformerError ? e.code : undefined } };
  }
  parentPort!.postMessage(answer, transfer);
});
