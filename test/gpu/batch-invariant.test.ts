/**
 * Engine.load's batchInvariant (issue 20) on CUDA: a greedy request gives the same ids alone, after a prefix-cache
 * hit, in batches of 7 and 32 concurrent requests, prefilled a few tokens a step and among 7 in small steps
 * (test/helpers/batch-invariance.ts), in f32, f16 and bf16 activations — every linear on the row kernels
 * (gemv.cuh) and every attention on the per-query kernels with fixed split points (paged_attention.cu,
 * paged_decode.cu). The CPU, invariant always: test/engine/batch-invariance.test.ts.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { DtypeOption, LoadOptions } from '../../lib/engine/options';
import { expectInvariant, idPrompts } from '../helpers/batch-invariance';
import { FIXTURES, MODELS } from '../models/golden';
import { describeCuda } from './both-devices';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const BASE: LoadOptions = {
  device: 'cuda:0', maxModelLen: 256, maxNumSeqs: 32, maxNumBatchedTokens: 512, memoryBudgetBytes: 2 ** 30, batchInvariant: true,
};
const DTYPES: DtypeOption[] = ['float32', 'float16', 'bfloat16'];

describeCuda.each(DTYPES)('batch-invariant mode on CUDA, %s', (dtype) => {
  test('the llama fixture (GQA): the same greedy ids every way', async () => {
    await expectInvariant(BASE, { name: dtype, path: () => path.join(FIXTURES, 'llama-gqa'), dtype }, idPrompts(1000, 20), 10);
  }, 300_000);

  // float32 dequantizes the blocks (the generic row kernel), the half precisions keep them (the int8 one)
  (fs.existsSync(GGUF) ? test : test.skip)('SmolLM2 Q4_1: the same greedy ids every way', async () => {
    await expectInvariant(BASE, { name: dtype, path: () => GGUF, dtype }, idPrompts(49152, 20), 12);
  }, 300_000);
});
