/**
 * The real models of ../shared/models through the Engine on the device (test/engine/engine-real.test.ts does
 * the same on the CPU): all-MiniLM-L6-v2 embeddings against sentence-transformers' own (cosine ≥ 0.9999 per
 * sentence, the README's goal) in f32 and in the default f16; and llama2c-260K, whose head dim of 8 has no
 * CUDA attention kernel, refused with a coded error rather than a crash.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import type { DeviceOption, DtypeOption } from '../../lib/engine/options';
import { FIXTURES, MODELS } from '../models/golden';
import { DEVICE, describeCuda, describeGpu, STAND_IN } from './both-devices';

const device = DEVICE as DeviceOption;
const budget = 2 ** 31;  // an explicit budget: the default would reserve 90% of the GPU for one engine

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

describe('all-MiniLM-L6-v2', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'all-MiniLM-L6-v2.json'), 'utf8')) as {
    cases: Array<{ text: string; input_ids: number[]; embedding: number[] }>;
  };
  const dtypes: DtypeOption[] = STAND_IN ? ['float32'] : ['float32', 'auto'];

  describeGpu.each(dtypes)('on the device, dtype %s', (dtype) => {
    let engine: Engine;
    beforeAll(async () => {
      engine = await Engine.load(path.join(MODELS, 'all-MiniLM-L6-v2'), {
        device, dtype, memoryBudgetBytes: budget, maxNumSeqs: 16, maxNumBatchedTokens: 1024,
      });
    });
    afterAll(async () => engine?.dispose());

    it('embeds every sentence with cosine ≥ 0.9999 to sentence-transformers, in one call, and from token ids', async () => {
      expect(engine.device).toBe(DEVICE);
      const got = await engine.embed(ref.cases.map((c) => c.text));
      ref.cases.forEach((c, i) => {
        const cos = cosine(got[i], c.embedding);
        if (!(cos >= 0.9999)) throw new Error(`sentence ${i} ${JSON.stringify(c.text.slice(0, 40))}: cosine ${cos}`);
        expect(Math.hypot(...got[i])).toBeCloseTo(1, 3);  // normalized (the norm is taken in the activation dtype)
      });
      const fromIds = await engine.embed(ref.cases.map((c) => c.input_ids));
      fromIds.forEach((v, i) => expect(cosine(v, ref.cases[i].embedding)).toBeGreaterThanOrEqual(0.9999));
    });
  });
});

describeCuda('llama2c-260K (head dim 8) on CUDA', () => {
  it('is refused with a coded error naming the head dim, at load or at the first step', async () => {
    let caught: unknown;
    try {
      const engine = await Engine.load(path.join(MODELS, 'llama2c-260K'), { device, memoryBudgetBytes: budget, maxNumSeqs: 2 });
      try {
        await engine.complete([1], { maxTokens: 4 });
      } finally {
        await engine.dispose();
      }
    } catch (e) {
      caught = e;
    }
    expect(caught).toMatchObject({ code: expect.stringMatching(/^ERR_GPUFORMER_(UNSUPPORTED|INPUT)$/), message: expect.stringMatching(/head dim/) });
  });
});
