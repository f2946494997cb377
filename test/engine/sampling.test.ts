/**
 * The sampling controls through the whole engine (Engine → loop → runner → device ops), against a float64
 * reference of the same transforms on the model's own logits: a real trained model, llama2c-260K (f32, token
 * ids only, small enough to prefill its whole sequence for every reference step), decoded greedily with
 *   penalties (repetition over prompt + output, frequency and presence over the output), logit bias, allowed
 *   tokens and min_tokens — each alone, all at once, and all of them batched together (each row its own);
 *   with a step budget small enough that prompts are prefilled in chunks, so the token counts catch up from
 *   history on a sequence's first sample and follow it step by step after;
 * and raw log-probabilities: every token's log-probability and the top 5 equal the float64 log-softmax of the
 * full-prefill logits at its position, and at temperature 0 the sampled token is the top one.
 * Seeded sampling with min-p: reproducible, and min-p 1 leaves only the greedy token.
 */
import * as path from 'path';
import { Engine, TokenLogprob } from '../../lib/engine/engine';
import { loadModel } from '../../lib/engine/load';
import type { GenerateOptions } from '../../lib/engine/options';
import { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { MODELS } from '../models/golden';
import { logSoftmax, processRow, topTokens } from '../ops/sampling-reference';

const MODEL = path.join(MODELS, 'llama2c-260K');
const EOS = 2;
const PROMPT = [1, 403, 407, 261, 378, 434, 415, 261, 286, 305, 259, 402, 268, 259, 269, 347, 379, 289, 332, 43, 307, 259, 342, 466, 295, 46];
const N = 24;
/** reference steps are compared while the top two processed logits differ by more than this (f32 decode vs f32 prefill) */
const MARGIN = 1e-3;
// 16 tokens per step: the 26-token prompt is prefilled in two chunks, so the token counts catch up at its first sample
const loadOpts = { device: 'cpu' as const, dtype: 'float32' as const, maxModelLen: 256, maxNumSeqs: 8, maxNumBatchedTokens: 16 };

let engine: Engine;
let runner: ModelDecoderRunner;
beforeAll(async () => {
  engine = await Engine.load(MODEL, loadOpts);
  // the reference prefills whole sequences in one step
  runner = (await loadModel(MODEL, { ...loadOpts, maxNumBatchedTokens: 256 })).runner as ModelDecoderRunner;
});
afterAll(async () => {
  await engine?.dispose();
  runner?.dispose();
});

/** The model's raw logits after `ids` (a full prefill of them, in float32, read as float64). */
async function logitsAfter(ids: number[]): Promise<Float64Array> {
  const blocks = Array.from({ length: Math.ceil(ids.length / runner.blockSize) }, (_, i) => i);
  const rows = await runner.logits([{ tokens: ids, start: 0, blockTable: blocks, sample: null }]);
  const V = runner.spec.vocabSize;
  return Float64Array.from(rows[0].subarray((ids.length - 1) * V));
}

/**
 * Greedy decoding as vLLM defines it, in float64 over the model's logits: the token mask, the bias (min_tokens'
 * ban on stop tokens included), the penalties, then argmax. Returns the tokens while each step's top-two gap
 * is above MARGIN.
 */
async function referenceGreedy(o: GenerateOptions, stopIds: number[], promptIds = PROMPT): Promise<number[]> {
  const out: number[] = [];
  const prompt = new Set(promptIds);
  const counts = new Map<number, number>();
  const allowed = o.allowedTokenIds ? new Set(o.allowedTokenIds) : undefined;
  for (let k = 0; k < N; k++) {
    const bias = new Map(Object.entries(o.logitBias ?? {}).map(([t, b]) => [Number(t), b as number]));
    if (k < (o.minTokens ?? 0)) for (const t of stopIds) bias.set(t, -Infinity);
    const x = processRow(await logitsAfter([...promptIds, ...out]), {
      allowed, bias: [...bias.entries()],
      penalties: {
        prompt, output: counts, repetition: o.repetitionPenalty ?? 1, frequency: o.frequencyPenalty ?? 0, presence: o.presencePenalty ?? 0,
      },
    });
    const [a, b] = topTokens(x, 2);
    if (x[a] - x[b] < MARGIN) break;
    out.push(a);
    counts.set(a, (counts.get(a) ?? 0) + 1);
    if (stopIds.includes(a) && k + 1 >= (o.minTokens ?? 0)) break;
  }
  return out;
}

const generate = (o: GenerateOptions) => engine.complete(PROMPT, { maxTokens: N, ...o });
const prefixOf = (got: number[], want: number[]) => expect(got.slice(0, want.length)).toEqual(want);

const CASES: Array<[string, GenerateOptions]> = [
  ['repetition penalty (prompt and output tokens)', { repetitionPenalty: 1.8 }],
  ['frequency penalty (output counts)', { frequencyPenalty: 1.5 }],
  ['presence penalty', { presencePenalty: 2 }],
  ['negative frequency and presence penalties (repeat more)', { frequencyPenalty: -0.7, presencePenalty: -0.5 }],
  ['logit bias', { logitBias: { 259: 4, 268: -100, 307: 2.5 } }],
  ['allowed tokens', { allowedTokenIds: [259, 268, 286, 295, 305, 347, 379, 402, 466] }],
  ['min tokens over a stop token (greedy would stop at the second token)', { minTokens: 12, stopTokenIds: [336] }],
  ['everything at once', {
    repetitionPenalty: 1.3, frequencyPenalty: 0.4, presencePenalty: 0.3, logitBias: { 295: 1.5 }, minTokens: 5, stopTokenIds: [402],
  }],
];

describe('greedy decoding with the logits processors equals the float64 reference', () => {
  let plain: number[];
  beforeAll(async () => {
    plain = (await generate({ ignoreEos: true })).tokenIds;
  });

  test.each(CASES)('%s', async (_name, o) => {
    const want = await referenceGreedy(o, [...(o.stopTokenIds ?? []), EOS]);
    expect(want.length).toBeGreaterThan(8);
    const got = (await generate(o)).tokenIds;
    prefixOf(got, want);
    expect(got).not.toEqual(plain.slice(0, got.length)); // the control changed the output
  });

  test('a prompt longer than a step\'s token list: its counts catch up in parts', async () => {
    const long = [...PROMPT, ...PROMPT.slice(1), ...PROMPT.slice(1)];
    const o = { repetitionPenalty: 1.6, frequencyPenalty: 0.3 };
    const want = await referenceGreedy(o, [EOS], long);
    expect(want.length).toBeGreaterThan(8);
    prefixOf((await engine.complete(long, { maxTokens: N, ...o })).tokenIds, want);
  });

  test('preempted and recomputed (a KV cache too small for all at once): the counts catch up again, each row still the reference', async () => {
    // 1.55 MB leaves 16 blocks of 16 tokens (what one sequence of maxModelLen needs): eight sequences of 50
    // tokens (3 blocks each besides the shared first block of their prompt) cannot all stay
    const small = await Engine.load(MODEL, { ...loadOpts, memoryBudgetBytes: 1.55e6 });
    try {
      const wants: number[][] = [];
      for (const [, o] of CASES) wants.push(await referenceGreedy(o, [...(o.stopTokenIds ?? []), EOS])); // one reference runner
      const got = await Promise.all(CASES.map(([, o]) => small.complete(PROMPT, { maxTokens: N, ...o })));
      expect(small.stats().preemptions).toBeGreaterThan(0);
      got.forEach((c, i) => prefixOf(c.tokenIds, wants[i]));
    } finally {
      await small.dispose();
    }
  });

  test('all of them batched together: each row decodes as it does alone', async () => {
    const alone = [];
    for (const [, o] of CASES) alone.push((await generate(o)).tokenIds);
    const together = await Promise.all(CASES.map(([, o]) => generate(o)));
    expect(together.map((c) => c.tokenIds)).toEqual(alone);
  });
});

describe('log-probabilities', () => {
  test('the raw log-softmax at every position, the top 5, and the greedy token first', async () => {
    const c = await generate({ logprobs: true, topLogprobs: 5, ignoreEos: true });
    expect(c.logprobs).toHaveLength(c.tokenIds.length);
    for (let k = 0; k < c.tokenIds.length; k++) {
      const want = logSoftmax(await logitsAfter([...PROMPT, ...c.tokenIds.slice(0, k)]));
      const lp: TokenLogprob = c.logprobs![k];
      expect(lp.tokenId).toBe(c.tokenIds[k]);
      expect(lp.token).toBe(`token_id:${c.tokenIds[k]}`); // no tokenizer: vLLM's return_tokens_as_token_ids form
      expect(Math.abs(lp.logprob - want[lp.tokenId])).toBeLessThan(1e-4);
      const top = topTokens(want, 6);
      expect(lp.topLogprobs.map((t) => t.tokenId)[0]).toBe(c.tokenIds[k]); // temperature 0: the chosen token is the top-1
      lp.topLogprobs.forEach((t, j) => {
        expect(Math.abs(t.logprob - want[t.tokenId])).toBeLessThan(1e-4);
        if (want[top[j]] - want[top[j + 1]] > 1e-4) expect(t.tokenId).toBe(top[j]);
      });
    }
  });

  test('are the model\'s, not the processed ones: a logit bias changes the choice but not the log-probabilities', async () => {
    const plain = await generate({ logprobs: true, maxTokens: 1 });
    const biased = await generate({ logprobs: true, maxTokens: 1, logitBias: { 300: 100 } });
    expect(biased.tokenIds).toEqual([300]);
    const want = logSoftmax(await logitsAfter(PROMPT));
    expect(Math.abs(biased.logprobs![0].logprob - want[300])).toBeLessThan(1e-4);
    expect(Math.abs(plain.logprobs![0].logprob - want[plain.tokenIds[0]])).toBeLessThan(1e-4);
  });

  test('logprobs without topLogprobs give the chosen token\'s only; none without logprobs', async () => {
    const c = await generate({ logprobs: true, maxTokens: 3 });
    expect(c.logprobs!.every((l) => l.topLogprobs.length === 0)).toBe(true);
    expect((await generate({ maxTokens: 3 })).logprobs).toBeUndefined();
  });
});

describe('seeded sampling with min-p', () => {
  test('the same seed gives the same tokens; min-p 1 keeps only the greedy token at any temperature', async () => {
    const o = { temperature: 1.5, minP: 0.05, seed: 7 };
    const a = await generate(o);
    expect((await generate(o)).tokenIds).toEqual(a.tokenIds);
    const greedyIds = (await generate({})).tokenIds;
    expect((await generate({ temperature: 2, minP: 1, seed: 3 })).tokenIds).toEqual(greedyIds);
    expect(a.tokenIds).not.toEqual(greedyIds);
  });
});

describe('bad options are ERR_GPUFORMER_INPUT naming the option', () => {
  test.each([
    [{ minP: 1.5 }, /minP must be a number in \[0, 1\]/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty must be a number > 0/],
    [{ frequencyPenalty: 3 }, /frequencyPenalty must be a number in \[-2, 2\]/],
    [{ presencePenalty: NaN }, /presencePenalty must be a number in \[-2, 2\]/],
    [{ logitBias: { 512: 1 } }, /logitBias: key .512. is not a token id of \[0, 512\)/],
    [{ logitBias: { 3: Infinity } }, /logitBias\[3\] must be a finite number/],
    [{ logitBias: [1, 2] }, /logitBias must be an object/],
    [{ allowedTokenIds: [] }, /allowedTokenIds must be a non-empty array of token ids/],
    [{ allowedTokenIds: [1, 600] }, /allowedTokenIds\[1\] = 600 is not a token id/],
    [{ topLogprobs: 3 }, /topLogprobs = 3 needs logprobs to be true/],
    [{ logprobs: true, topLogprobs: 21 }, /topLogprobs must be an integer in \[0, 20\]/],
    [{ minTokens: 30, maxTokens: 20 }, /minTokens = 30 must be at most maxTokens = 20/],
    [{ truncatePromptTokens: 0 }, /truncatePromptTokens/],
    [{ maxTokns: 5 }, /unknown option 'maxTokns'/],
  ] as Array<[object, RegExp]>)('%j', (o, message) => {
    expect(() => engine.generate(PROMPT, o as GenerateOptions)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(message) }));
  });
});

describe('enablePrefixCaching', () => {
  test('false: a repeated prompt is computed again (no cache hits); the default caches it', async () => {
    const off = await Engine.load(MODEL, { ...loadOpts, enablePrefixCaching: false });
    try {
      const long = [...PROMPT, ...PROMPT.slice(1)];
      for (const e of [engine, off]) {
        await e.complete(long, { maxTokens: 2 });
        await e.complete(long, { maxTokens: 2 });
      }
      expect(engine.stats().prefixCacheHitRate).toBeGreaterThan(0);
      expect(off.stats().prefixCacheHitRate).toBe(0);
      await expect(Engine.load(MODEL, { enablePrefixCaching: 'no' } as never)).rejects.toThrow(/enablePrefixCaching must be a boolean/);
    } finally {
      await off.dispose();
    }
  });
});

describe('batchInvariant', () => {
  test('the CPU is batch invariant always: the option changes no token of a batch; a non-boolean is refused', async () => {
    const on = await Engine.load(MODEL, { ...loadOpts, batchInvariant: true });
    try {
      const prompts = [PROMPT, PROMPT.slice(0, 9), PROMPT.slice(5)];
      const ids = (e: Engine) => Promise.all(prompts.map((p) => e.complete(p, { maxTokens: 8, ignoreEos: true }))).then((r) => r.map((c) => c.tokenIds));
      expect(await ids(on)).toEqual(await ids(engine));
    } finally {
      await on.dispose();
    }
    await expect(Engine.load(MODEL, { batchInvariant: 'yes' } as never))
      .rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/batchInvariant must be a boolean/) });
  });
});

describe('prompt options', () => {
  test('truncatePromptTokens keeps the last n tokens of the prompt', async () => {
    const c = await engine.complete(PROMPT, { maxTokens: 4, truncatePromptTokens: 10 });
    expect(c.usage.promptTokens).toBe(10);
    expect(c.tokenIds).toEqual((await engine.complete(PROMPT.slice(-10), { maxTokens: 4 })).tokenIds);
  });
});
