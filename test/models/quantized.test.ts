/**
 * Fidelity of weights quantized at load (quantized-fidelity.ts measures; these are the README's claims):
 * all-MiniLM-L6-v2's q8_0 weights keep cosine ≥ 0.999 to its float32 embedding on every reference sentence (≥ 0.998
 * as run on the CPU, whose quantized kernels also round activations to 8-bit blocks), and the
 * llama fixtures' greedy ids in q8_0 equal float32's at least up to the first step whose margin quantization
 * could overturn (twice the largest logit change it makes there), with logits within 2 % of float32's. (The
 * numbers of every dtype, and of the trained llama2.c stories260K, come from bench/loader/quantized-fidelity.ts.)
 */
import { CaseFidelity, decoderFidelity, llamaFixtures, miniLmCosines } from './quantized-fidelity';

describe('all-MiniLM-L6-v2 in q8_0', () => {
  const atLeast = (cos: number[], bound: number) => {
    expect(cos).toHaveLength(15);
    cos.forEach((c, i) => {
      if (!(c >= bound)) throw new Error(`sentence ${i}: cosine ${c} to float32, below ${bound}`);
    });
  };

  it('the quantizer alone (weights widened back to f32, float32\'s kernels): cosine ≥ 0.999 on every reference sentence', async () => {
    atLeast(await miniLmCosines('q8_0', 'weights'), 0.999);
  });

  it('as run on the CPU (its kernels also quantize activations to 8 bits): cosine ≥ 0.998 on every reference sentence', async () => {
    atLeast(await miniLmCosines('q8_0'), 0.998);
  });
});

describe.each(llamaFixtures().map((m) => [m.name, m] as const))('%s in q8_0', (_name, m) => {
  let results: CaseFidelity[];
  beforeAll(async () => {
    results = await decoderFidelity(m, 'q8_0');
  });

  it('greedy ids equal float32\'s up to the first step quantization could overturn', () => {
    for (const r of results) {
      if (r.agree < r.decided) {
        throw new Error(`${r.model} ${r.case}: q8_0 greedy leaves float32's at step ${r.agree}, yet every margin up to step ` +
          `${r.decided} exceeds twice the logit change (margin ≥ ${r.minMargin.toFixed(4)}, change ≤ ${r.maxLogitChange.toFixed(4)})`);
      }
    }
  });

  it('logits stay within 2 % of float32\'s along the path', () => {
    for (const r of results) {
      expect(r.relLogitError).toBeLessThan(0.02);
      expect(r.relLogitError).toBeGreaterThan(0); // quantized for real: the weights moved
    }
  });
});
