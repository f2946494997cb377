/**
 * Decode speed of one stream (or a few together) on one model, and the engine loop's statistics: what scripts/gpu-check.sh runs under Nsight Compute to get the kernels of a decode step,
 * and on its own for ms per token with and without graphs. One JSON line per repetition, then programStats.
 *
 *   node bench/.cache/build/bench/e2e/decode-profile.js MODEL [--device cuda:0] [--tokens 128] [--reps 3]
 *     [--streams 1] [--max-model-len 1024]
 *
 * MODEL is a Hugging Face directory or a GGUF file. The prompt is 32 fixed token ids per stream; generation is
 * greedy and fixed-length (ignoreEos). ms_per_step = (last token − first token time) ÷ the steps between them.
 */
import { parseArgs } from 'util';
import { Engine } from '../../lib';
import { scriptArgs } from './script-args';

const USAGE = 'usage: node bench/.cache/build/bench/e2e/decode-profile.js MODEL [--device cuda:0] [--tokens 128] [--reps 3] ' +
  '[--streams 1] [--max-model-len 1024]';

const { fail, positive } = scriptArgs(USAGE);

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      device: { type: 'string', default: 'cuda:0' }, tokens: { type: 'string', default: '128' }, reps: { type: 'string', default: '3' },
      streams: { type: 'string', default: '1' }, 'max-model-len': { type: 'string', default: '1024' },
    },
  });
  if (positionals.length !== 1) fail('one MODEL (a Hugging Face directory or a GGUF file)');
  const tokens = positive('tokens', values.tokens!), reps = positive('reps', values.reps!), streams = positive('streams', values.streams!);
  const device = values.device as 'cpu' | `cuda:${number}`;
  const engine = await Engine.load(positionals[0], {
    device, maxModelLen: positive('max-model-len', values['max-model-len']!),
    ...(device.startsWith('cuda') ? { gpuMemoryUtilization: 0.3 } : {}),
  });
  const graphs = process.env.GPUFORMER_CUDA_GRAPHS ?? 'default';
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    let first = 0;
    let n = 0;
    await Promise.all(Array.from({ length: streams }, async (_, s) => {
      const prompt = Array.from({ length: 32 }, (_, i) => 100 + i + s);
      for await (const c of engine.generate(prompt, { maxTokens: tokens, temperature: 0, ignoreEos: true })) {
        if (!first) first = performance.now();
        n += c.tokenIds.length;
      }
    }));
    const t1 = performance.now();
    const steps = n / streams - 1;
    console.log(JSON.stringify({ graphs, rep: r, streams, tokens: n, ttft_ms: +(first - t0).toFixed(2), ms_per_step: +((t1 - first) / steps).toFixed(3) }));
  }
  console.log('stats', JSON.stringify(engine.stats()));
  await engine.dispose();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
