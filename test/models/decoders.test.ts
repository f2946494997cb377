/**
 * The decoder forward passes (GPT-2, Llama with GQA, Qwen2 with q/k/v bias and bf16 weights, Llama 3 RoPE
 * scaling from two shards) against the golden fixtures made by Hugging Face transformers in float64:
 * full-prefill logits at every prompt position within 1e-4 relative, greedy continuations through the
 * paged KV cache identical token for token. Each case alone, then all cases packed in one batch, then
 * prefilled in chunks over the cached prefix, then decoded in batches the runner pads (5, 6 and 7 sequences run
 * as 8, sharing prepared programs): the answers must not change.
 */
import { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { expectClose, TOLERANCE } from '../helpers/compare';
import { FixtureCase, Golden, goldenF32, goldenI32, readCases, readGolden, TestBlocks } from './golden';
import { openFixtureRunner } from './load-runner';
import { greedy } from '../helpers/sampling';

const DECODERS = ['gpt2', 'llama-gqa', 'qwen2-bias-bf16', 'llama3-rope-scaled-sharded'];
const BLOCK = 16;

describe.each(DECODERS)('%s', (name) => {
  let runner: ModelDecoderRunner;
  let golden: Golden;
  let cases: FixtureCase[];
  let blocks: TestBlocks;

  beforeAll(async () => {
    cases = readCases(name);
    golden = readGolden(name);
    const longest = Math.max(...cases.map((c) => c.input_ids.length + (c.greedy_steps ?? 0)));
    runner = await openFixtureRunner(name, { maxModelLen: longest, maxNumBatchedTokens: 512, maxNumSeqs: 8, blockSize: BLOCK });
    // the CPU plan reserves maxNumSeqs sequences of maxModelLen: enough for every case at once
    expect(runner.numBlocks).toBeGreaterThanOrEqual(cases.reduce((a, c) => a + Math.ceil((c.input_ids.length + c.greedy_steps!) / BLOCK), 0));
    blocks = new TestBlocks(BLOCK, runner.numBlocks);
  });
  afterAll(() => runner?.dispose());
  beforeEach(() => blocks.reset());

  /** Greedy decoding of several sequences in lock step: one batched prefill, then one batched decode per token. */
  async function decodeTogether(cs: FixtureCase[]): Promise<number[][]> {
    const steps = cs[0].greedy_steps!;
    expect(cs.every((c) => c.greedy_steps === steps)).toBe(true);
    const tables = cs.map((c) => blocks.take(c.input_ids.length + steps));
    const out: number[][] = cs.map(() => []);
    for (let s = 0; s < steps; s++) {
      const res = await runner.step(cs.map((c, i) => s === 0
        ? { tokens: c.input_ids, start: 0, blockTable: tables[i], sample: greedy(0) }
        : { tokens: [out[i][s - 1]], start: c.input_ids.length + s - 1, blockTable: tables[i], sample: greedy(s) }));
      cs.forEach((_, i) => out[i].push(res.tokens[i]));
    }
    return out;
  }

  it('full-prefill logits of each case alone match transformers', async () => {
    for (const c of cases) {
      const [logits] = await runner.logits([{ tokens: c.input_ids, start: 0, blockTable: blocks.take(c.input_ids.length), sample: null }]);
      expectClose(logits, goldenF32(golden, `${c.name}.logits`), TOLERANCE.f32, `${name} ${c.name} logits`);
    }
  });

  it('greedy continuation of each case alone is identical', async () => {
    for (const c of cases) {
      const [ids] = await decodeTogether([c]);
      expect(ids).toEqual(goldenI32(golden, `${c.name}.greedy`));
      blocks.reset();
    }
  });

  it('all cases packed in one step give the same logits', async () => {
    const all = await runner.logits(cases.map((c) => ({ tokens: c.input_ids, start: 0, blockTable: blocks.take(c.input_ids.length), sample: null })));
    cases.forEach((c, i) => expectClose(all[i], goldenF32(golden, `${c.name}.logits`), TOLERANCE.f32, `${name} ${c.name} packed logits`));
  });

  it('all cases decoded together give the same greedy tokens', async () => {
    const all = await decodeTogether(cases);
    cases.forEach((c, i) => expect(all[i]).toEqual(goldenI32(golden, `${c.name}.greedy`)));
  });

  it('decode steps pad to bucketed batch sizes: 5, 6 and 7 sequences reuse the programs of 8, every row its golden tokens', async () => {
    const c = cases[0];
    const want = goldenI32(golden, `${c.name}.greedy`);
    const programs: number[] = [];
    for (const n of [5, 6, 7]) {
      blocks.reset();
      const all = await decodeTogether(new Array<FixtureCase>(n).fill(c));
      all.forEach((ids) => expect(ids).toEqual(want));
      programs.push(runner.programStats().programs);
    }
    expect(programs[1]).toBe(programs[0]);
    expect(programs[2]).toBe(programs[0]);
  });

  it('a prompt prefilled in chunks over its cached prefix gives the same logits', async () => {
    const c = cases.reduce((a, b) => (b.input_ids.length > a.input_ids.length ? b : a));
    const want = goldenF32(golden, `${c.name}.logits`);
    const table = blocks.take(c.input_ids.length);
    const V = want.length / c.input_ids.length;
    const chunk = 13; // not a multiple of the block size: chunks start mid-block
    for (let start = 0; start < c.input_ids.length; start += chunk) {
      const tokens = c.input_ids.slice(start, start + chunk);
      const [logits] = await runner.logits([{ tokens, start, blockTable: table, sample: null }]);
      expectClose(logits, want.subarray(start * V, (start + tokens.length) * V), TOLERANCE.f32, `${name} ${c.name} chunk at ${start}`);
    }
  });
});
