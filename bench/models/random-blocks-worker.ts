/**
 * A worker of bench/models/random-gguf.ts: random weights, uniform in ±spread from a seeded generator, quantized
 * into GGUF blocks. Message in: { id, type, seed, n, spread }; out: { id, bytes } (the blocks, transferred).
 */
import { parentPort } from 'worker_threads';
import { rng } from '../../test/helpers/random';
import { QUANT_BLOCK_BYTES, QuantType, quantizeBlocks } from './gguf-quantize';

interface Job { id: number; type: QuantType; seed: number; n: number; spread: number }

parentPort!.on('message', (job: Job) => {
  const rand = rng(job.seed);
  const x = new Float32Array(job.n);
  for (let i = 0; i < job.n; i++) x[i] = (2 * rand() - 1) * job.spread;
  const bytes = new Uint8Array((job.n / 32) * QUANT_BLOCK_BYTES[job.type]);
  quantizeBlocks(job.type, x, bytes);
  parentPort!.postMessage({ id: job.id, bytes }, [bytes.buffer]);
});
