/**
 * The fidelity numbers of weights quantized at load, for the README (the test test/models/quantized.test.ts
 * holds q8_0 to its bounds): all-MiniLM-L6-v2's cosine to float32 per reference sentence, and for the llama
 * fixtures and llama2.c stories260K the greedy agreement with float32 and the logit change (see
 * test/models/quantized-fidelity.ts for what each number means). CPU.
 *
 *   node bench/.cache/build/bench/loader/quantized-fidelity.js [q8_0 q4_0 q4_1]
 */
import '../e2e/repo-addon';
import type { DtypeChoice } from '../../lib/models/precision';
import { decoderFidelity, llama2c, llamaFixtures, miniLmCosines } from '../../test/models/quantized-fidelity';

async function main(): Promise<void> {
  const types = (process.argv.length > 2 ? process.argv.slice(2) : ['q8_0', 'q4_0', 'q4_1']) as DtypeChoice[];
  for (const dtype of types) {
    for (const what of ['weights', 'run'] as const) {
      const cos = await miniLmCosines(dtype, what);
      console.log(`${dtype}: all-MiniLM-L6-v2 cosine to float32 (${what === 'run' ? 'as run' : 'weights alone, f32 kernels'}): ` +
        `min ${Math.min(...cos).toFixed(5)}, mean ${(cos.reduce((a, b) => a + b, 0) / cos.length).toFixed(5)} over ${cos.length} sentences`);
    }
    for (const m of [...llamaFixtures(), llama2c()]) {
      const r = await decoderFidelity(m, dtype);
      const agree = r.reduce((a, x) => a + x.agree, 0);
      const steps = r.reduce((a, x) => a + x.steps, 0);
      console.log(`${dtype}: ${m.name}: greedy agrees for ${agree}/${steps} steps (per case ${r.map((x) => `${x.agree}/${x.steps}`).join(' ')}; ` +
        `decided ${r.map((x) => x.decided).join(' ')}), logits within ${(Math.max(...r.map((x) => x.relLogitError)) * 100).toFixed(2)} % ` +
        `(largest change ${Math.max(...r.map((x) => x.maxLogitChange)).toFixed(3)}, smallest float32 margin ${Math.min(...r.map((x) => x.minMargin)).toFixed(3)})`);
    }
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
