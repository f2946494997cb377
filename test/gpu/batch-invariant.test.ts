/**
 * Engine.load's batchInvariant (issue 20) on CUDA: one greedy request gives the same ids alone, after a
 * prefix-cache hit, among 7 and 32 concurrent requests and prefilled in chunks of several sizes, in f32, f16
 * and bf16 activations — every linear on the row kernels (gemv.cuh) and every attention on the per-query
 * kernels with fixed split points (paged_attention.cu). The CPU, invariant always: test/engine/batch-invariance.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import type { DtypeOption, LoadOptions } from '../../lib/engine/options';
import { disagreements, tokensEveryWay } from '../helpers/batch-invariance';
import { FIXTURES, MODELS } from '../models/golden';
import { describeCuda } from './both-devices';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const base: LoadOptions = { device: 'cuda:0', maxModelLen: 256, maxNumSeqs: 32, maxNumBatchedTokens: 512, memoryBudgetBytes: 2 ** 30 };
const DTYPES: DtypeOption[] = ['float32', 'float16', 'bfloat16'];

describeCuda.each(DTYPES)('batch-invariant mode on CUDA, %s', (dtype) => {
  test('the llama fixture (GQA): the same greedy ids alone, cached, in batches and in chunks', async () => {
    const prompt = Array.from({ length: 29 }, (_, i) => 3 + ((i * 13) % 200));
    const open = (o: Partial<LoadOptions>) => Engine.load(path.join(FIXTURES, 'llama-gqa'), { ...base, dtype, batchInvariant: true, ...o });
    const w = await tokensEveryWay(open, prompt, 10, 1000, [7, 32], [5, 16]);
    expect(disagreements(w)).toEqual([]);
  }, 300_000);

  (fs.existsSync(GGUF) ? test : test.skip)('SmolLM2 Q4_1: the same greedy ids every way', async () => {
    const prompt = Array.from({ length: 37 }, (_, i) => 100 + ((i * 97) % 4000));
    // float32 dequantizes the blocks (the generic row kernel), the half precisions keep them (the int8 one)
    const open = (o: Partial<LoadOptions>) => Engine.load(GGUF, { ...base, dtype, batchInvariant: true, ...o });
    const w = await tokensEveryWay(open, prompt, 12, 49152, [7, 32], [13, 24]);
    expect(disagreements(w)).toEqual([]);
  }, 300_000);
});
