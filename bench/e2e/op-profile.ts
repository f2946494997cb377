/**
 * Where a forward pass's time goes: the engine's programs run with native op profiling on (every step timed,
 * summed by op: native.setOpProfiling), and the wall time of the calls beside them, so the table also says how
 * much lies outside the programs (tokenizing, building and uploading a step, sampling's read-back, the event
 * loop). A profiled run is slower than a plain one (CUDA steps are drained one by one, no graphs); compare its
 * shares, not its totals, with the benchmarks.
 *
 *   node bench/.cache/build/bench/e2e/op-profile.js MODEL --mode embed|prefill|decode [--device cpu] [--dtype auto] [--batch 1]
 *     [--length short|long] [--prompt 128] [--tokens 128] [--reps 20] [--json]
 *
 * embed: `reps` embed() calls of `batch` sentences (bench/e2e/inputs.ts, as the benchmark's); prefill: `reps`
 * prompts of `prompt` tokens and one generated token each (a fresh prompt every time, as the benchmark's, so
 * no prefix cache answers it); decode: one greedy stream of `tokens` tokens after a 32-token prompt, `reps`
 * times. One warm-up call is not counted.
 */
import { parseArgs } from 'util';
import { Engine, type DtypeOption } from '../../lib';
import { cpuDevice, describeCpuIsa } from '../../lib/devices';
import { native } from '../../lib/native';
import { promptIds, sentences, type InputLength } from './inputs';
import { scriptArgs } from './script-args';

const USAGE = 'usage: node bench/.cache/build/bench/e2e/op-profile.js MODEL --mode embed|prefill|decode [--device cpu] '
  + '[--dtype auto] [--batch 1] [--length short|long] [--prompt 128] [--tokens 128] [--reps 20] [--json]';

const { fail, positive } = scriptArgs(USAGE);

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      mode: { type: 'string' }, device: { type: 'string', default: 'cpu' }, dtype: { type: 'string', default: 'auto' }, batch: { type: 'string', default: '1' },
      length: { type: 'string', default: 'short' }, prompt: { type: 'string', default: '128' }, tokens: { type: 'string', default: '128' },
      reps: { type: 'string', default: '20' }, json: { type: 'boolean', default: false },
    },
  });
  if (positionals.length !== 1) fail('one MODEL (a Hugging Face directory or a GGUF file)');
  const mode = values.mode;
  if (mode !== 'embed' && mode !== 'prefill' && mode !== 'decode') fail(`--mode must be embed, prefill or decode, got ${mode}`);
  const length = values.length as InputLength;
  if (length !== 'short' && length !== 'long') fail(`--length must be short or long, got ${length}`);
  const promptLen = positive('prompt', values.prompt!);
  const batch = positive('batch', values.batch!), tokens = positive('tokens', values.tokens!), reps = positive('reps', values.reps!);
  const device = values.device as 'cpu' | `cuda:${number}`;
  const engine = await Engine.load(positionals[0], { device, dtype: values.dtype as DtypeOption, ...(mode === 'embed' ? {} : { maxModelLen: Math.max(1024, promptLen + 1) }) });
  const texts = sentences(batch, length);
  let call = 0;
  const once = async (): Promise<number> => {
    if (mode === 'embed') {
      await engine.embed(texts);
      return batch;
    }
    if (mode === 'prefill') {
      const fresh = promptIds(promptLen, engine.spec.vocabSize, 30_000 + call++);
      for await (const _ of engine.generate(fresh, { maxTokens: 1, temperature: 0 })) void _;
      return promptLen;
    }
    const prompt = Array.from({ length: 32 }, (_, i) => 100 + i);
    let n = 0;
    for await (const c of engine.generate(prompt, { maxTokens: tokens, temperature: 0, ignoreEos: true })) n += c.tokenIds.length;
    return n;
  };
  await once();
  native.takeOpProfile();
  native.setOpProfiling(true);
  const t0 = performance.now();
  let units = 0;
  for (let r = 0; r < reps; r++) units += await once();
  const wall = (performance.now() - t0) / 1000;
  native.setOpProfiling(false);
  const profile = native.takeOpProfile();
  await engine.dispose();

  // per embed() call, per prompt token or per generated token
  const per = mode === 'embed' ? reps : units;
  const unit = mode === 'embed' ? 'call' : mode === 'prefill' ? 'prompt token' : 'token';
  const rows = profile.ops.sort((a, b) => b.seconds - a.seconds).map((o) => ({
    op: o.op, callsPer: o.calls / per, msPer: (o.seconds / per) * 1e3, share: o.seconds / wall,
  }));
  const outside = wall - profile.seconds;
  const between = profile.seconds - profile.ops.reduce((s, o) => s + o.seconds, 0);
  const summary = {
    model: positionals[0], mode, device, batch, length, tokens, reps, cpuKernels: describeCpuIsa(cpuDevice().isa),
    msPerUnit: (wall / per) * 1e3, unit, programsPerUnit: profile.programs / per,
    outsideProgramsMs: (outside / per) * 1e3, betweenStepsMs: (between / per) * 1e3, ops: rows,
  };
  if (values.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`${summary.model} ${mode} (${mode === 'embed' ? `batch ${batch} ${length}` : `${tokens} tokens`}), ${device}, ${summary.cpuKernels}`);
  console.log(`${summary.msPerUnit.toFixed(3)} ms per ${unit}, ${summary.programsPerUnit.toFixed(2)} programs per ${unit}`);
  const line = (name: string, calls: string, ms: number, share: number) =>
    console.log(`${name.padEnd(22)} ${calls.padStart(8)} ${ms.toFixed(3).padStart(9)} ${(share * 100).toFixed(1).padStart(6)} %`);
  console.log(`${'op'.padEnd(22)} ${`calls/${unit}`.padStart(8)} ${`ms/${unit}`.padStart(9)}  share`);
  for (const r of rows) line(r.op, r.callsPer.toFixed(1), r.msPer, r.share);
  line('(between steps)', '', summary.betweenStepsMs, between / wall);
  line('(outside programs)', '', summary.outsideProgramsMs, outside / wall);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
