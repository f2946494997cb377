/**
 * Issue 20's scenario for one greedy request: its tokens alone; again alone (its prompt now a prefix-cache
 * hit, leaving a short suffix to prefill); inside batches of concurrent requests of other prompts and
 * lengths; and from an engine that prefills it in chunks (a small maxNumBatchedTokens). With the
 * batch-invariant mode every way must give the same ids (test/gpu/batch-invariant.test.ts on CUDA).
 */
import type { Engine } from '../../lib/engine/engine';
import type { LoadOptions } from '../../lib/engine/options';

export interface Ways {
  alone: number[];
  cached: number[];
  /** by batch size: the request among size − 1 others */
  among: Record<number, number[]>;
  /** by maxNumBatchedTokens: the request prefilled in chunks of that many tokens */
  chunked: Record<number, number[]>;
}

const greedy = (engine: Engine, prompt: number[], maxTokens: number) =>
  engine.complete(prompt, { maxTokens, temperature: 0, ignoreEos: true }).then((r) => r.tokenIds);

/** `others` prompts of varied lengths from the vocabulary's low ids, none starting like `prompt`. */
function otherPrompts(prompt: number[], n: number, vocab: number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: 3 + ((i * 7) % 40) }, (_, j) => 3 + ((i * 31 + j * 17 + prompt.length) % (vocab - 3))));
}

/**
 * Every way of running `prompt` for `maxTokens` greedy tokens; `open(options)` loads the same model with extra
 * load options (the chunked engines get maxNumBatchedTokens = each of `chunks`); `sizes`: the batches it joins.
 */
export async function tokensEveryWay(open: (o: Partial<LoadOptions>) => Promise<Engine>, prompt: number[], maxTokens: number,
  vocab: number, sizes: number[], chunks: number[]): Promise<Ways> {
  const engine = await open({});
  try {
    const alone = await greedy(engine, prompt, maxTokens);
    const cached = await greedy(engine, prompt, maxTokens);
    const among = async (n: number) => {
      const others = otherPrompts(prompt, n - 1, vocab);
      const runs = [greedy(engine, prompt, maxTokens), ...others.map((p, i) => greedy(engine, p, 2 + (i % 9) * 3))];
      return (await Promise.all(runs))[0];
    };
    const amongs: Record<number, number[]> = {};
    for (const n of sizes) amongs[n] = await among(n);
    const chunked: Record<number, number[]> = {};
    for (const c of chunks) {
      const e = await open({ maxNumBatchedTokens: c, maxNumSeqs: c });  // the scheduler wants seqs ≤ tokens per step
      try {
        chunked[c] = await greedy(e, prompt, maxTokens);
      } finally {
        await e.dispose();
      }
    }
    return { alone, cached, among: amongs, chunked };
  } finally {
    await engine.dispose();
  }
}

/** The ways that differ from running the request alone (empty when all agree). */
export function disagreements(w: Ways): string[] {
  const same = (x: number[]) => x.length === w.alone.length && x.every((t, i) => t === w.alone[i]);
  const out: string[] = [];
  if (!same(w.cached)) out.push(`after a prefix-cache hit: ${w.cached} vs alone ${w.alone}`);
  for (const [n, t] of Object.entries(w.among)) if (!same(t)) out.push(`in a batch of ${n}: ${t} vs alone ${w.alone}`);
  for (const [c, t] of Object.entries(w.chunked)) if (!same(t)) out.push(`in chunks of ${c}: ${t} vs alone ${w.alone}`);
  return out;
}
