/**
 * SmolLM2-135M-Instruct from its Q4_1 GGUF file on the device, with the checks test/engine/engine-gguf.test.ts
 * makes on the CPU, against ../shared/fixtures/SmolLM2-135M-Instruct.json (transformers on the GGUF's weights
 * dequantized to float32):
 * - dtype 'float32' (weights dequantized once at load, f32 activations): the greedy ids match the reference
 *   up to the first step whose reference margin is below 0.01, the chat answers are the reference's, and
 *   prefill and decode logits agree with the CPU's float32 path (the CPU's own reference check) within the
 *   f32 fixture tolerance;
 * - the default quantized path (Q4_1 / Q8_0 blocks read in place, f16 activations on CUDA): the weights stay
 *   small, greedy ids agree with the reference up to the first step whose margin is below 0.15, and the
 *   logits are within QUANT_TOLERANCE of the CPU's float32 path;
 * - seeded sampling through the engine: the same seed gives the same tokens, alone or among other requests.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { loadModel } from '../../lib/engine/load';
import type { DeviceOption, LoadOptions } from '../../lib/engine/options';
import { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { QUANTIZED_LOGITS_TOLERANCE, relError, TOLERANCE } from '../helpers/compare';
import { FIXTURES, MODELS } from '../models/golden';
import { DEVICE, describeGpu } from './both-devices';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'SmolLM2-135M-Instruct.json'), 'utf8')) as {
  cases: Array<{ kind: 'chat' | 'text'; input: unknown; prompt_ids: number[]; greedy_ids: number[]; greedy_text: string; greedy_margins: number[] }>;
};
const EOS = 2;
/**
 * Quantized path against the dequantized one, relative to the largest logit: the CPU's bound for 8-bit
 * activations (QUANTIZED_LOGITS_TOLERANCE), plus the fixtures' f16 tolerance for the f16 activations the
 * device computes in.
 */
const QUANT_TOLERANCE = QUANTIZED_LOGITS_TOLERANCE + TOLERANCE.f16;
/** the explicit budget keeps each load small: the default would reserve 90% of the GPU for one engine */
const onDevice: LoadOptions = { device: DEVICE as DeviceOption, maxModelLen: 512, maxNumSeqs: 8, maxNumBatchedTokens: 512, memoryBudgetBytes: 2 ** 31 };

/**
 * Greedy ids (one list per reference case, all cases run together) equal the reference's up to the case's
 * first step whose reference margin is below `margin` — logits off by less than half the margin cannot swap
 * the top two before it — and for at most `cap` tokens.
 */
async function expectGreedyAgreement(engine: Engine, margin: number, cap: number): Promise<void> {
  const results = await Promise.all(ref.cases.map((c) => engine.complete(c.prompt_ids, { maxTokens: Math.min(cap, c.greedy_ids.length) })));
  ref.cases.forEach((c, i) => {
    const close = c.greedy_margins.findIndex((m) => m < margin);
    const need = Math.min(close < 0 ? c.greedy_ids.length : close, cap);
    const got = results[i].tokenIds;
    expect({ case: i, margins: c.greedy_margins.slice(0, need + 1), ids: got.slice(0, need) })
      .toEqual({ case: i, margins: c.greedy_margins.slice(0, need + 1), ids: c.greedy_ids.slice(0, need) });
  });
}

describeGpu('SmolLM2 GGUF dequantized to float32, on the device', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(GGUF, { ...onDevice, dtype: 'float32' });
  });
  afterAll(async () => engine?.dispose());

  it('greedy ids match the reference up to the first step with margin < 0.01 (all cases batched together)', async () => {
    expect(engine.device).toBe(DEVICE);
    await expectGreedyAgreement(engine, 0.01, Infinity);
  });

  it('chat answers stop at <|im_end|> with the reference text', async () => {
    for (const c of ref.cases.filter((x) => x.kind === 'chat')) {
      const r = await engine.completeChat(c.input as Array<{ role: string; content: string }>, { maxTokens: 64 });
      expect(r.tokenIds).toEqual(c.greedy_ids);
      expect(r.tokenIds[r.tokenIds.length - 1]).toBe(EOS);
      expect(r.text).toBe(c.greedy_text.replace('<|im_end|>', ''));
    }
  });

  it('the same seed gives the same sampled tokens, alone and among other requests', async () => {
    const c = ref.cases[0];
    const opts = (seed: number) => ({ maxTokens: 24, temperature: 0.9, topP: 0.95, seed });
    const alone = await engine.complete(c.prompt_ids, opts(1234));
    const crowd = await Promise.all([
      engine.complete(c.prompt_ids, opts(1234)), ...ref.cases.slice(1).map((x, i) => engine.complete(x.prompt_ids, opts(i))),
    ]);
    expect(crowd[0].tokenIds).toEqual(alone.tokenIds);
    const seeds = await Promise.all([1, 2, 3, 4].map((s) => engine.complete(c.prompt_ids, opts(s))));
    expect(new Set(seeds.map((r) => r.tokenIds.join(' '))).size).toBeGreaterThan(1);  // the seed matters
  });
});

describeGpu('SmolLM2 GGUF with quantized weights (the default), on the device', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(GGUF, onDevice);
  });
  afterAll(async () => engine?.dispose());

  it('keeps the weights in their blocks: about 97 MB instead of 540 MB', () => {
    expect(engine.plan().params.bytes).toBeLessThan(100e6);
    expect(engine.memory().weightsBytes).toBeLessThan(100e6);
  });

  it('greedy ids agree with the reference up to the first step with margin < 0.15 (16 at most)', async () => {
    // the quantized path's logits may differ from the reference's by a few percent of their range (the CPU
    // test's measurement): tokens are determined only where the reference's margin is wide
    await expectGreedyAgreement(engine, 0.15, 16);
  });

  it(`prefill and decode logits: float32 within ${TOLERANCE.f32} and quantized within ${QUANT_TOLERANCE} of the CPU's float32 path`, async () => {
    const runners: ModelDecoderRunner[] = [];
    const open = async (o: LoadOptions) => {
      const r = (await loadModel(GGUF, o)).runner as ModelDecoderRunner;
      runners.push(r);
      return r;
    };
    try {
      const cpu = await open({ device: 'cpu', dtype: 'float32', maxModelLen: 512, maxNumSeqs: 8, maxNumBatchedTokens: 512 });
      const f32 = await open({ ...onDevice, dtype: 'float32' });
      const quant = await open(onDevice);
      for (const c of ref.cases) {
        const table = Array.from({ length: Math.ceil((c.prompt_ids.length + 8) / quant.blockSize) }, (_, i) => i);
        // the prompt in one step (matrix-matrix products), then 8 reference tokens one at a time (matrix-vector)
        const decode = c.greedy_ids.slice(0, 8).map((t, j) => ({ tokens: [t], start: c.prompt_ids.length + j }));
        for (const s of [{ tokens: c.prompt_ids, start: 0 }, ...decode]) {
          const [want] = await cpu.logits([{ ...s, blockTable: table, sample: null }]);
          const [got32] = await f32.logits([{ ...s, blockTable: table, sample: null }]);
          const [gotQ] = await quant.logits([{ ...s, blockTable: table, sample: null }]);
          const at = `${c.kind} case, step at ${s.start}`;
          expect({ at, err: relError(got32, want) <= TOLERANCE.f32 ? 'ok' : relError(got32, want) }).toEqual({ at, err: 'ok' });
          expect({ at, err: relError(gotQ, want) <= QUANT_TOLERANCE ? 'ok' : relError(gotQ, want) }).toEqual({ at, err: 'ok' });
        }
      }
    } finally {
      for (const r of runners) r.dispose();
    }
  });
});
