/**
 * A decoder against golden outputs in the format of ../shared/fixtures (cases.json + golden.safetensors beside
 * a Hugging Face directory; see its README) on the device under test: the full-prefill logits of each case
 * alone, all cases packed in one step, the longest prompt prefilled in chunks over its cached prefix, and the
 * greedy continuations through the paged KV cache, each alone and all together. Shared by models.test.ts (the
 * fixtures) and fidelity.test.ts (random-weight models at real shapes made on the GPU machine by
 * bench/peers/torch_fidelity.py).
 *
 * Greedy continuations must be identical in f32. In f16 / bf16 a token is only determined where its margin —
 * the case's smallest gap between the top two logits along the greedy path, greedy_min_margin — exceeds twice
 * the largest logit error the tolerance allows (tolerance × the case's largest golden logit): logits that
 * close to the golden ones cannot swap the top two. Cases with a smaller margin are not held to identical
 * tokens in that precision.
 */
import { loadModel } from '../../lib/engine/load';
import type { DeviceOption, DtypeOption } from '../../lib/engine/options';
import { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { expectClose } from '../helpers/compare';
import { FixtureCase, Golden, goldenF32, goldenI32, readCases, readGolden, TestBlocks } from '../models/golden';
import { Act, DEVICE, describeGpu, STAND_IN } from './both-devices';
import { greedy } from '../helpers/sampling';

export const BLOCK = 16;

/** The load dtypes a golden suite runs: f32, f16 and bf16 activations on CUDA; f32 on the CPU stand-in. */
export const PRECISIONS: Array<[Exclude<DtypeOption, 'auto'>, Act]> = STAND_IN
  ? [['float32', 'f32']]
  : [['float32', 'f32'], ['float16', 'f16'], ['bfloat16', 'bf16']];

export interface GoldenSuite {
  /** the fixture's name under ../shared/fixtures or its absolute directory */
  fixture: string;
  /** the load dtypes to run and the activation dtype each gives */
  precisions: Array<[Exclude<DtypeOption, 'auto'>, Act]>;
  /** max |got − golden| ÷ max |golden| allowed per activation dtype */
  tolerance: (a: Act) => number;
  /** the engine's memory budget for a load in this activation dtype (the default takes 90 % of the GPU) */
  budgetBytes: (a: Act) => number;
}

/** A runner on the device with an explicit budget. */
export async function openRunner<R>(dir: string, dtype: DtypeOption, maxModelLen: number, budgetBytes: number): Promise<R> {
  const { runner } = await loadModel(dir, {
    device: DEVICE as DeviceOption, dtype, memoryBudgetBytes: budgetBytes, maxModelLen, maxNumBatchedTokens: 512, maxNumSeqs: 8,
    blockSize: BLOCK,
  });
  return runner as unknown as R;
}

const maxAbs = (v: Float32Array): number => v.reduce((m, x) => Math.max(m, Math.abs(x)), 0);

/** The suite for one decoder directory; call inside a describe. */
export function describeDecoderGolden(name: string, dir: string, s: GoldenSuite): void {
  const cases: FixtureCase[] = readCases(s.fixture);
  const golden: Golden = readGolden(s.fixture);
  const logitsOf = (c: FixtureCase) => goldenF32(golden, `${c.name}.logits`);

  describeGpu.each(s.precisions)('on the device in %s', (dtype, a) => {
    const tol = s.tolerance(a);
    let runner: ModelDecoderRunner;
    let blocks: TestBlocks;
    beforeAll(async () => {
      runner = await openRunner<ModelDecoderRunner>(dir, dtype, Math.max(...cases.map((c) => c.input_ids.length + c.greedy_steps!)), s.budgetBytes(a));
      blocks = new TestBlocks(BLOCK, runner.numBlocks);
    });
    afterAll(() => runner?.dispose());
    beforeEach(() => blocks.reset());

    /** Greedy decoding of several cases in lock step: one batched prefill, then one batched decode step per token. */
    async function greedyTogether(cs: FixtureCase[]): Promise<number[][]> {
      const steps = cs[0].greedy_steps!;
      const tables = cs.map((c) => blocks.take(c.input_ids.length + steps));
      const out: number[][] = cs.map(() => []);
      for (let st = 0; st < steps; st++) {
        const seqs = cs.map((c, i) => (st === 0
          ? { tokens: c.input_ids, start: 0, blockTable: tables[i], sample: greedy(0) }
          : { tokens: [out[i][st - 1]], start: c.input_ids.length + st - 1, blockTable: tables[i], sample: greedy(st) }));
        const { tokens } = await runner.step(seqs);
        cs.forEach((_, i) => out[i].push(tokens[i]));
      }
      return out;
    }

    it(`full-prefill logits of each case alone (tolerance ${tol.toPrecision(2)})`, async () => {
      for (const c of cases) {
        const [logits] = await runner.logits([{ tokens: c.input_ids, start: 0, blockTable: blocks.take(c.input_ids.length), sample: null }]);
        expectClose(logits, logitsOf(c), tol, `${name} ${dtype} ${c.name} logits`);
      }
    });

    it('all cases packed in one step', async () => {
      const all = await runner.logits(cases.map((c) => ({ tokens: c.input_ids, start: 0, blockTable: blocks.take(c.input_ids.length), sample: null })));
      cases.forEach((c, i) => expectClose(all[i], logitsOf(c), tol, `${name} ${dtype} ${c.name} packed logits`));
    });

    it('the longest prompt prefilled in chunks of 13 over its cached prefix', async () => {
      const c = cases.reduce((x, y) => (y.input_ids.length > x.input_ids.length ? y : x));
      const want = logitsOf(c);
      const V = want.length / c.input_ids.length;
      const table = blocks.take(c.input_ids.length);
      for (let start = 0; start < c.input_ids.length; start += 13) {  // chunks start mid-block
        const tokens = c.input_ids.slice(start, start + 13);
        const [logits] = await runner.logits([{ tokens, start, blockTable: table, sample: null }]);
        expectClose(logits, want.subarray(start * V, (start + tokens.length) * V), tol, `${name} ${dtype} chunk at ${start}`);
      }
    });

    const determined = cases.filter((c) => a === 'f32' || c.greedy_min_margin! > 2 * tol * maxAbs(logitsOf(c)));
    const greedyTest = determined.length ? it : it.skip;
    greedyTest(`greedy continuations identical, each alone and all together (${determined.map((c) => c.name).join(', ') || 'no case has the margin'})`, async () => {
      for (const c of determined) {
        expect(await greedyTogether([c])).toEqual([goldenI32(golden, `${c.name}.greedy`)]);
        blocks.reset();
      }
      const together = await greedyTogether(determined);
      determined.forEach((c, i) => expect(together[i]).toEqual(goldenI32(golden, `${c.name}.greedy`)));
    });
  });
}
