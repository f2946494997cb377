/**
 * CPU decode of a safetensors model quantized at load (dtype q8_0 | q4_0 | q4_1) beside decode of the same model
 * from a GGUF file of that type written by bench/peers/hf-to-gguf.ts. Both load the same blocks (the test
 * test/loader/quantize-at-load.test.ts checks them byte for byte), so both run the same kernels: their decode
 * rates should match within the noise of the machine. Decode steps of the model runner alone (no engine loop,
 * no tokenizer: the two directories' tokenizers differ), alternating between the two. Also the weight bytes and
 * the load time (reading f16 and quantizing, or reading the blocks).
 *
 *   node bench/.cache/build/bench/loader/quantized-decode.js [--model smollm2-135m] [--type q4_0] [--tokens 64] [--repeat 7]
 *
 * The model is a random-weight one with a real shape (bench/models/make-random.ts, f16), cached in bench/.cache.
 */
import '../e2e/repo-addon';
import { existsSync, mkdirSync } from 'fs';
import * as os from 'os';
import { join } from 'path';
import { LoadedModel, loadModel } from '../../lib/engine/load';
import type { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import type { QuantizedDType } from '../../lib/core/dtype';
import { CACHE_DIR } from '../e2e/paths';
import { makeRandomModel } from '../models/make-random';
import { convertHfToGguf } from '../peers/hf-to-gguf';
import { greedy } from '../../test/helpers/sampling';

function flag(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at > 0 ? process.argv[at + 1] : fallback;
}

const MODEL = flag('model', 'smollm2-135m');
const TYPE = flag('type', 'q4_0') as QuantizedDType;
const TOKENS = Number(flag('tokens', '64'));
const REPEAT = Number(flag('repeat', '7'));
if (!['q8_0', 'q4_0', 'q4_1'].includes(TYPE) || !(TOKENS > 1) || !(REPEAT >= 1)) {
  console.error('usage: quantized-decode [--model NAME] [--type q8_0|q4_0|q4_1] [--tokens N] [--repeat N]');
  process.exit(2);
}

/** A model runner on the CPU (no engine loop, no tokenizer: decode steps alone), with its load time. */
async function load(path: string, dtype: QuantizedDType | 'auto'): Promise<{ model: LoadedModel; loadS: number }> {
  const t0 = performance.now();
  const model = await loadModel(path, { device: 'cpu', dtype, maxModelLen: 256, maxNumSeqs: 1, maxNumBatchedTokens: 256 });
  return { model, loadS: (performance.now() - t0) / 1e3 };
}

/** Greedy decode steps per second of one run (the prefill step excluded). */
async function decodeRate(model: LoadedModel): Promise<number> {
  const r = model.runner as ModelDecoderRunner;
  const prompt = Array.from({ length: 16 }, (_, i) => 10 + i);
  const blockTable = Array.from({ length: Math.ceil((prompt.length + TOKENS) / 16) }, (_, i) => i);
  let last = (await r.step([{ tokens: prompt, start: 0, blockTable, sample: greedy(0) }])).tokens[0];
  const t0 = performance.now();
  for (let s = 1; s < TOKENS; s++) {
    last = (await r.step([{ tokens: [last], start: prompt.length + s - 1, blockTable, sample: greedy(s) }])).tokens[0];
  }
  return ((TOKENS - 1) * 1e3) / (performance.now() - t0);
}

async function main(): Promise<void> {
  const dir = makeRandomModel(MODEL, 'f16', undefined, console.log);
  const gguf = join(CACHE_DIR, 'gguf', `${MODEL}-f16-${TYPE}.gguf`);
  if (!existsSync(gguf)) {
    mkdirSync(join(CACHE_DIR, 'gguf'), { recursive: true });
    await convertHfToGguf(dir, gguf, TYPE.toUpperCase() as 'Q8_0' | 'Q4_0' | 'Q4_1');
  }
  const cpu = os.cpus()[0]?.model ?? '?';
  console.log(`${MODEL} ${TYPE}, CPU decode of ${TOKENS} tokens, ${REPEAT} alternating runs each, ${os.cpus().length} × ${cpu}, ` +
    `load average ${os.loadavg()[0].toFixed(1)}`);
  const a = await load(dir, TYPE);
  const b = await load(gguf, 'auto');
  try {
    const ratesA: number[] = [];
    const ratesB: number[] = [];
    // alternating, so a change in the machine's load touches both alike
    for (let r = 0; r < REPEAT; r++) {
      ratesA.push(await decodeRate(a.model));
      ratesB.push(await decodeRate(b.model));
    }
    const median = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)];
    const line = (what: string, x: { model: LoadedModel; loadS: number }, rates: number[]) =>
      console.log(`  ${what}: median ${median(rates).toFixed(1)} steps/s (runs ${rates.map((v) => v.toFixed(1)).join(' ')}), ` +
        `weights ${(x.model.plan.memory.params.bytes / 1e6).toFixed(1)} MB (${x.model.plan.memory.dtypes.weights}), load ${x.loadS.toFixed(2)} s`);
    line(`safetensors f16, dtype '${TYPE}' (quantized at load)`, a, ratesA);
    line(`GGUF ${TYPE.toUpperCase()} (hf-to-gguf), dtype 'auto'       `, b, ratesB);
    console.log(`  ratio of medians (quantized at load ÷ GGUF): ${(median(ratesA) / median(ratesB)).toFixed(3)}; load average now ${os.loadavg()[0].toFixed(1)}`);
  } finally {
    a.model.runner.dispose();
    b.model.runner.dispose();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
