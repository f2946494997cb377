/**
 * Issue 20's scenario through the public Engine: a request's greedy ids must not depend on batching, chunking or
 * the prefix cache. expectInvariant runs a prompt every way — alone, again (its prompt blocks now hit the prefix
 * cache), in batches of 7 and 32 concurrent requests, prefilled a few tokens a step, and among 7 in small steps —
 * and requires identical ids. test/engine/batch-invariance.test.ts runs it on the CPU (invariant always),
 * test/gpu/batch-invariant.test.ts on CUDA with Engine.load's batchInvariant.
 */
import { Engine } from '../../lib/engine/engine';
import type { LoadOptions } from '../../lib/engine/options';
import { rng } from './random';

/** step budgets of the chunking engines: prompts are prefilled over several steps, beside other requests' decodes */
export const TINY_STEPS = 3, SMALL_STEPS = 16;

/** A model and the dtype to load it in. */
export interface Variant {
  name: string;
  path: () => string;
  dtype?: LoadOptions['dtype'];
}

/** A prompt as text (models with a tokenizer) or ids. */
export type Prompt = string | number[];

/** fn with an engine of `v` loaded with `base` and `o`, disposed afterwards. */
export async function withEngine<R>(base: LoadOptions, v: Variant, o: LoadOptions, fn: (e: Engine) => Promise<R>): Promise<R> {
  const engine = await Engine.load(v.path(), { ...base, dtype: v.dtype, ...o });
  try {
    return await fn(engine);
  } finally {
    await engine.dispose();
  }
}

/** Greedy ids of each prompt, all submitted at once (they share steps), maxTokens each (EOS ignored). */
export const greedy = (e: Engine, prompts: Prompt[], maxTokens: number) =>
  Promise.all(prompts.map((p) => e.complete(p, { maxTokens, ignoreEos: true }))).then((r) => r.map((c) => c.tokenIds));

/**
 * Every way of batching prompts[0] (and the others with it) gives the same greedy ids: alone (or `alone`, when
 * the caller already has them), again (its full prompt blocks now hit the prefix cache), concurrent with 6 and
 * with 31 others, alone with its prompt prefilled TINY_STEPS tokens a step, and among 7 in steps of SMALL_STEPS
 * tokens. The other 6 of the batch of 7 must agree with themselves in the batch of 32 and in the small steps.
 * `base`: the load options of every engine (the wide one batches whole prompts in one step).
 */
export async function expectInvariant(base: LoadOptions, v: Variant, prompts: Prompt[], maxTokens: number, alone?: number[]): Promise<void> {
  const seven = prompts.slice(0, 7);
  const runs: Array<[string, number[][]]> = [];
  await withEngine(base, v, {}, async (e) => {
    alone = alone?.slice(0, maxTokens) ?? (await greedy(e, prompts.slice(0, 1), maxTokens))[0];
    runs.push(['again (a prefix-cache hit)', await greedy(e, prompts.slice(0, 1), maxTokens)]);
    runs.push(['in a batch of 7', await greedy(e, seven, maxTokens)]);
    runs.push(['in a batch of 32', await greedy(e, prompts, maxTokens)]);
  });
  await withEngine(base, v, { maxNumBatchedTokens: TINY_STEPS, maxNumSeqs: TINY_STEPS }, async (e) => {
    runs.push([`alone, prefilled ${TINY_STEPS} tokens a step`, await greedy(e, prompts.slice(0, 1), maxTokens)]);
  });
  await withEngine(base, v, { maxNumBatchedTokens: SMALL_STEPS, maxNumSeqs: SMALL_STEPS }, async (e) => {
    runs.push([`in a batch of 7, steps of ${SMALL_STEPS} tokens`, await greedy(e, seven, maxTokens)]);
  });
  expect(alone).toHaveLength(maxTokens);
  const batchOf7 = runs.find(([way]) => way === 'in a batch of 7')![1];
  for (const [way, ids] of runs) {
    expect({ way, ids: ids[0] }).toEqual({ way, ids: alone });
    if (ids.length > 1) expect({ way, ids: ids.slice(0, 7) }).toEqual({ way, ids: batchOf7 });
  }
}

/** 32 id prompts for a model without a tokenizer: the first 40 ids long, the next sharing its first 20, others 5 to 70. */
export function idPrompts(vocab: number, seed: number): number[][] {
  const r = rng(seed);
  const random = (n: number) => Array.from({ length: n }, () => 3 + Math.floor(r() * (vocab - 3)));
  const target = random(40);
  return [target, [...target.slice(0, 20), ...random(9)], ...Array.from({ length: 30 }, (_, i) => random(5 + ((i * 37) % 66)))];
}
