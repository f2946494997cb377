/**
 * A worker of bench/models/random-gguf.ts: random weights, uniform in ±spread from a seeded generator (the
 * costly part of writing a random model, spread over the cores; the main thread quantizes them with the native
 * quantizer). Message in: { id, seed, n, spread }; out: { id, values } (a Float32Array, transferred).
 */
import { parentPort } from 'worker_threads';
import { rng } from '../../test/helpers/random';

interface Job { id: number; seed: number; n: number; spread: number }

parentPort!.on('message', (job: Job) => {
  const rand = rng(job.seed);
  const values = new Float32Array(job.n);
  for (let i = 0; i < job.n; i++) values[i] = (2 * rand() - 1) * job.spread;
  parentPort!.postMessage({ id: job.id, values }, [values.buffer]);
});
