/**
 * Engine.load's batchInvariant (issue 20) on the CPU: one greedy request gives the same ids alone, after a
 * prefix-cache hit, among other concurrent requests (7 and 32) and prefilled in chunks — on the real
 * SmolLM2 GGUF in its Q4_1 blocks (the issue's own failing case: by default its prompt's prefix-cache hit
 * changed the third token) and on the f32 llama fixture. CUDA: test/gpu/batch-invariant.test.ts.
 */
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import type { LoadOptions } from '../../lib/engine/options';
import { disagreements, tokensEveryWay } from '../helpers/batch-invariance';
import { FIXTURES, MODELS } from '../models/golden';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const base: LoadOptions = { device: 'cpu', maxModelLen: 256, maxNumSeqs: 32, maxNumBatchedTokens: 512, batchInvariant: true };

describe('batch-invariant mode on the CPU', () => {
  test('SmolLM2 Q4_1: the same greedy ids alone, cached, in batches and in chunks', async () => {
    // issue 20's prompt, as ids (an id-only run: the tokenizer is not what is tested here)
    const prompt = Array.from({ length: 37 }, (_, i) => 100 + ((i * 97) % 4000));
    const w = await tokensEveryWay((o) => Engine.load(GGUF, { ...base, ...o }), prompt, 8, 49152, [7], [13]);
    expect(disagreements(w)).toEqual([]);
    expect(w.alone).toHaveLength(8);
  }, 300_000);

  test('the f32 llama fixture (GQA): the same greedy ids alone, cached, in batches and in chunks', async () => {
    const prompt = Array.from({ length: 29 }, (_, i) => 3 + ((i * 13) % 200));
    const w = await tokensEveryWay((o) => Engine.load(path.join(FIXTURES, 'llama-gqa'), { ...base, ...o }), prompt, 10, 1000, [7, 32], [5, 16]);
    expect(disagreements(w)).toEqual([]);
  }, 120_000);

  test('batchInvariant must be a boolean', async () => {
    await expect(Engine.load(path.join(FIXTURES, 'llama-gqa'), { device: 'cpu', batchInvariant: 'yes' as unknown as boolean }))
      .rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/batchInvariant/) });
  });
});
