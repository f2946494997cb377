/**
 * Greedy output does not depend on batching, chunking or the prefix cache (issue 20): the token ids of a
 * temperature-0 request are the same computed alone, again after a prefix-cache hit, with its prompt prefilled in
 * chunks of several sizes, and inside batches of 7 and 32 concurrent requests (where prefill chunks of some
 * requests share steps with the decode steps of others). On the CPU, through the public Engine, for every weight
 * type on the real SmolLM2 GGUF and the llama fixtures:
 * - SmolLM2-135M-Instruct Q4_1 (Q8_0 embedding and tied head) as stored, and dequantized to f32 at load; first
 *   the exact repro (one prompt, 40 tokens, complete() three times);
 * - llama-gqa, qwen2-bias-bf16 (q/k/v biases, MQA) and llama2.c 260K (head dim 8, a 172-wide MLP) in f32, f16 and
 *   bf16 (the load dtype) and Q8_0, Q4_0 and Q4_1 (GGUF files the test writes with bench/peers/hf-to-gguf);
 * - llama3-rope-scaled-sharded in f32, f16 and bf16 (gpuformer's GGUF loader does not read llama3 RoPE scaling, so
 *   it has no quantized variant).
 * Batch invariance is exact: the greedy ids must be identical, not close. The CPU is invariant always (its linear
 * and attention fix every row's arithmetic), without Engine.load's batchInvariant; the ways themselves are
 * test/helpers/batch-invariance.ts's, which test/gpu/batch-invariant.test.ts runs on CUDA with the option.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { convertHfToGguf } from '../../bench/peers/hf-to-gguf';
import type { GgufTensorType } from '../../bench/peers/gguf-writer';
import type { LoadOptions } from '../../lib/engine/options';
import { Variant, expectInvariant, idPrompts, withEngine } from '../helpers/batch-invariance';
import { FIXTURES, MODELS } from '../models/golden';

const SMOLLM2 = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
/** the repro prompt */
const STORY = 'Story q7x2k9: The village sat at the edge of a dark forest where the old river bent twice before reaching the sea, and every spring the people gathered to';

/** Load options shared by every engine of a variant: the wide engine batches whole prompts in one step. */
const BASE: LoadOptions = { device: 'cpu', maxModelLen: 256, maxNumSeqs: 32, maxNumBatchedTokens: 512, memoryBudgetBytes: 2 ** 31 };

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batch-invariance-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** 32 text prompts for SmolLM2: the story, one sharing its first words, and 30 short ones. */
function textPrompts(): string[] {
  const topics = ['a lighthouse keeper', 'the first snow', 'a lost key', 'two rival bakers', 'a quiet library', 'the night train',
    'an old map', 'a stubborn goat', 'the harbour market', 'a broken clock'];
  return [STORY, `${STORY.slice(0, 60)} a festival of lanterns`,
    ...Array.from({ length: 30 }, (_, i) => `Tale ${i}: a ${i % 3 === 0 ? 'long' : 'short'} story about ${topics[i % topics.length]}`)];
}

// ------------------------------------------------------------------------------------------------- SmolLM2

describe('SmolLM2-135M-Instruct GGUF', () => {
  const SMOL_TOKENS = 10;

  it('Q4_1 as stored: the issue\'s repro (one prompt, 40 tokens, complete() three times), then chunked and in batches', async () => {
    const v: Variant = { name: 'Q4_1', path: () => SMOLLM2 };
    const repro: number[][] = [];
    await withEngine(BASE, v, {}, async (e) => {
      for (let i = 0; i < 3; i++) repro.push((await e.complete(STORY, { maxTokens: 40 })).tokenIds);
    });
    expect(repro[0]).toHaveLength(40);
    expect(repro[1]).toEqual(repro[0]);
    expect(repro[2]).toEqual(repro[0]);
    // greedy steps do not look ahead: the first SMOL_TOKENS ids of the 40 are the ids of a shorter request
    await expectInvariant(BASE, v, textPrompts(), SMOL_TOKENS, repro[0]);
  });

  it('f32 (dequantized at load): alone, after a prefix hit, chunked, in batches of 7 and 32', async () => {
    await expectInvariant(BASE, { name: 'f32', path: () => SMOLLM2, dtype: 'float32' }, textPrompts(), SMOL_TOKENS);
  });
});

// ------------------------------------------------------------------------------------------------ fixtures

const FLOAT_TYPES = [['f32', 'float32'], ['f16', 'float16'], ['bf16', 'bfloat16']] as const;
/** The fixture as a GGUF file whose matrices are of `type`, written into this file's temporary directory. */
async function writeGguf(dir: string, type: GgufTensorType): Promise<string> {
  const file = path.join(tmp, `${path.basename(dir)}.${type}.gguf`);
  await convertHfToGguf(dir, file, type);
  return file;
}
const QUANT_TYPES: GgufTensorType[] = ['Q8_0', 'Q4_0', 'Q4_1'];
const FIXTURE_TOKENS = 16;

describe.each([
  ['llama-gqa', path.join(FIXTURES, 'llama-gqa'), true],
  ['qwen2-bias-bf16', path.join(FIXTURES, 'qwen2-bias-bf16'), true],
  ['llama2.c 260K', path.join(MODELS, 'llama2c-260K'), true],
  ['llama3-rope-scaled-sharded', path.join(FIXTURES, 'llama3-rope-scaled-sharded'), false],
] as const)('%s', (_name, dir, quantized) => {
  const vocab = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf8')).vocab_size as number;
  const prompts = idPrompts(vocab, vocab + dir.length);

  it.each(FLOAT_TYPES)('%s weights: alone, after a prefix hit, chunked, in batches of 7 and 32', async (name, dtype) => {
    await expectInvariant(BASE, { name, path: () => dir, dtype }, prompts, FIXTURE_TOKENS);
  });

  if (quantized) {
    it.each(QUANT_TYPES)('%s weights (GGUF): alone, after a prefix hit, chunked, in batches of 7 and 32', async (type) => {
      const file = await writeGguf(dir, type);
      await expectInvariant(BASE, { name: type, path: () => file }, prompts, FIXTURE_TOKENS);
    });
  }
});

describe('seeded sampling (llama-gqa, f32)', () => {
  it('a seeded request samples the same ids alone and in a batch of 7 mixing greedy and sampled requests', async () => {
    const prompts = idPrompts(1000, 7);
    const sampled = { maxTokens: 16, ignoreEos: true, temperature: 0.9, topK: 50, topP: 0.95, seed: 1234 };
    await withEngine(BASE, { name: 'f32', path: () => path.join(FIXTURES, 'llama-gqa'), dtype: 'float32' }, {}, async (e) => {
      const alone = (await e.complete(prompts[0], sampled)).tokenIds;
      const batch = await Promise.all(prompts.slice(0, 7).map((p, i) =>
        e.complete(p, i % 2 === 0 ? { ...sampled, seed: sampled.seed + i } : { maxTokens: 16, ignoreEos: true })));
      expect(alone).toHaveLength(16);
      expect(batch[0].tokenIds).toEqual(alone);
    });
  });
});
