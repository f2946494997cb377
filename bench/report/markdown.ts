/**
 * BENCHMARKS.md from the run records in bench/results: the goals with their status in the latest run that
 * measured them, then one section per run (machine, command, medians, ratios of gpuformer to each peer).
 * Pure functions of the records, so the rendering is tested without running anything.
 */
import type { BenchArgs } from '../e2e/args';
import type { MachineInfo } from '../e2e/machine';
import { ratio } from '../e2e/stats';
import type { DecodePoint, EngineName, JobResult } from '../e2e/types';
import { floorRows } from './gpu';

export interface RunRecord {
  schema: 1;
  command: string;
  args: BenchArgs;
  machine: MachineInfo;
  startedAt: string;
  finishedAt: string;
  /** CUDA runs: device-to-device copy bandwidth (bytes/s, read + write) */
  copyBytesPerSec?: number;
  /** what the person running it says about the conditions (npm run bench -- --note "…") */
  note?: string;
  results: JobResult[];
}

export const PEERS: EngineName[] = ['transformers.js', 'node-llama-cpp', 'pytorch'];

const fmt = (x: number | null | undefined, digits = 3): string => {
  if (x == null || !Number.isFinite(x)) return '—';
  if (x >= 1000) return Math.round(x).toLocaleString('en-US');
  return Number(x.toPrecision(digits)).toString();
};
const times = (r: number | null) => (r == null ? '—' : `${r.toFixed(2)}×`);
/** Bytes in the largest binary unit that keeps the number at 1 or more. */
export function bytes(b: number | null | undefined): string {
  if (b == null || !Number.isFinite(b)) return '—';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (b >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${i === 0 ? b : Number(b.toPrecision(3))} ${units[i]}`;
}
const pct = (x: number | null | undefined) => (x == null || !Number.isFinite(x) ? '—' : `${(x * 100).toFixed(0)} %`);

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return '';
  return [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n') + '\n';
}

function ok(run: RunRecord): JobResult[] {
  return run.results.filter((r) => r.ok);
}

/** Engines other than gpuformer that ran in this run for this kind of measurement, in a fixed order. */
function peersWith(run: RunRecord, has: (r: JobResult) => boolean): EngineName[] {
  return PEERS.filter((p) => ok(run).some((r) => r.engine === p && has(r)));
}

function find(run: RunRecord, engine: EngineName, modelId: string): JobResult | undefined {
  return ok(run).find((r) => r.engine === engine && r.model.id === modelId);
}

function modelIds(run: RunRecord, has: (r: JobResult) => boolean): string[] {
  return [...new Set(ok(run).filter(has).map((r) => r.model.id))];
}

export function embedTable(run: RunRecord): string {
  const has = (r: JobResult) => !!r.embed?.length;
  const peers = peersWith(run, has);
  const rows: string[][] = [];
  for (const id of modelIds(run, has)) {
    const g = find(run, 'gpuformer', id);
    const any = g ?? ok(run).find((r) => r.model.id === id && has(r))!;
    for (const p of any.embed!) {
      const mine = g?.embed?.find((x) => x.batch === p.batch && x.length === p.length);
      const row = [id, `${p.length} (${fmt(p.tokensPerBatch / p.batch)} tok)`, String(p.batch),
        mine ? `${fmt(mine.sentencesPerSec)} (${fmt(mine.tokensPerSec)} tok/s)` : '—'];
      for (const peer of peers) {
        const q = find(run, peer, id)?.embed?.find((x) => x.batch === p.batch && x.length === p.length);
        row.push(q ? fmt(q.sentencesPerSec) : '—', times(ratio(mine?.sentencesPerSec, q?.sentencesPerSec)));
      }
      rows.push(row);
    }
  }
  return table(['model', 'input', 'batch', 'gpuformer sentences/s', ...peers.flatMap((p) => [p, 'ratio'])], rows);
}

export function prefillTable(run: RunRecord): string {
  const has = (r: JobResult) => !!r.prefill?.length;
  const peers = peersWith(run, has);
  const rows: string[][] = [];
  for (const id of modelIds(run, has)) {
    const g = find(run, 'gpuformer', id);
    const lens = [...new Set(ok(run).filter((r) => r.model.id === id).flatMap((r) => r.prefill?.map((p) => p.promptLen) ?? []))];
    for (const len of lens) {
      const mine = g?.prefill?.find((p) => p.promptLen === len);
      const row = [id, String(len), fmt(mine?.tokensPerSec)];
      for (const peer of peers) {
        const q = find(run, peer, id)?.prefill?.find((p) => p.promptLen === len);
        row.push(fmt(q?.tokensPerSec), times(ratio(mine?.tokensPerSec, q?.tokensPerSec)));
      }
      rows.push(row);
    }
  }
  return table(['model', 'prompt tokens', 'gpuformer tokens/s', ...peers.flatMap((p) => [p, 'ratio'])], rows);
}

export function decodeTable(run: RunRecord): string {
  const has = (r: JobResult) => !!r.decode;
  const peers = peersWith(run, has);
  const rows: string[][] = [];
  for (const id of modelIds(run, has)) {
    const g = find(run, 'gpuformer', id)?.decode;
    const cell = (d: DecodePoint | undefined) => (d ? `${fmt(d.tokensPerSec.median)} (${fmt(d.interTokenMs.median)} / ${fmt(d.interTokenMs.p90)} ms; ${d.tokens} tokens)` : '—');
    const row = [id, cell(g)];
    for (const peer of peers) {
      const q = find(run, peer, id)?.decode;
      row.push(cell(q), times(ratio(g?.tokensPerSec.median, q?.tokensPerSec.median)));
    }
    rows.push(row);
  }
  return table(['model', 'gpuformer tokens/s (ITL p50 / p90; tokens per run)', ...peers.flatMap((p) => [p, 'ratio'])], rows);
}

export function concurrencyTable(run: RunRecord): string {
  const rows: string[][] = [];
  for (const r of ok(run)) {
    for (const c of r.concurrency ?? []) {
      const kv = c.kv;
      rows.push([
        r.model.id, r.engine, String(c.concurrency), fmt(c.tokensPerSec),
        `${fmt(c.ttftMs.median)} / ${fmt(c.ttftMs.p90)}`, `${fmt(c.interTokenMs.median)} / ${fmt(c.interTokenMs.p90)}`,
        kv ? `${bytes(kv.peakMeasuredBytes)} (${pct(kv.measuredWaste)} waste)` : '—',
        kv ? `${bytes(kv.peakUsedBytes)}` : '—',
        kv ? `${bytes(kv.peakContiguousBytes)} (${pct(kv.contiguousWaste)} waste)` : '—',
      ]);
    }
  }
  return table(['model', 'engine', 'streams', 'tokens/s (all streams)', 'TTFT ms p50 / p90', 'ITL ms p50 / p90',
    'KV reserved, peak (waste)', 'KV used, peak', 'contiguous max-length (waste)'], rows);
}

interface EngineMemoryLike { weightsBytes?: number; kv?: { bytes?: number }; peakBytes?: number; kvReservedBytes?: number }

export function memoryTable(run: RunRecord): string {
  const rows = run.results.filter((r) => r.ok).map((r) => {
    const m = (r.engineMemory ?? {}) as EngineMemoryLike;
    return [r.model.id, r.engine, fmt(r.loadSeconds), bytes(r.rss?.peakBytes), bytes(r.rss?.baselineBytes),
      bytes(m.weightsBytes), bytes(m.kv?.bytes ?? m.kvReservedBytes), bytes(m.peakBytes),
      r.otherCpuShare === undefined ? '—' : `${pct1(r.otherCpuShare)}${r.otherCpuShare > BUSY_SHARE ? ' (disturbed)' : ''}`];
  });
  return table(['model', 'engine', 'load s', 'peak RSS', 'RSS before load', 'weights (engine)', 'KV cache (engine)', 'engine peak',
    'other processes\' CPU share during the job'], rows);
}

/**
 * Every comparison of the run that gpuformer loses (ratio below 1), with both numbers: embedding
 * sentences/s, prefill and decode tokens/s, and all-streams tokens/s of the concurrency runs.
 */
export function slowerThanPeers(run: RunRecord): string[] {
  const out: string[] = [];
  const lose = (what: string, mine: number | undefined, peer: EngineName, theirs: number | undefined, unit: string) => {
    const r = ratio(mine, theirs);
    if (r != null && r < 1) out.push(`${what}: gpuformer ${fmt(mine)} ${unit}, ${peer} ${fmt(theirs)} (${times(r)})`);
  };
  for (const g of ok(run).filter((r) => r.engine === 'gpuformer')) {
    for (const peer of PEERS) {
      const q = find(run, peer, g.model.id);
      if (!q) continue;
      for (const p of g.embed ?? []) {
        const o = q.embed?.find((x) => x.batch === p.batch && x.length === p.length);
        lose(`${g.model.id} embed ${p.length} ×${p.batch}`, p.sentencesPerSec, peer, o?.sentencesPerSec, 'sentences/s');
      }
      for (const p of g.prefill ?? []) {
        lose(`${g.model.id} prefill ${p.promptLen}`, p.tokensPerSec, peer, q.prefill?.find((x) => x.promptLen === p.promptLen)?.tokensPerSec, 'tokens/s');
      }
      if (g.decode) lose(`${g.model.id} decode`, g.decode.tokensPerSec.median, peer, q.decode?.tokensPerSec.median, 'tokens/s');
      for (const c of g.concurrency ?? []) {
        const o = q.concurrency?.find((x) => x.concurrency === c.concurrency);
        lose(`${g.model.id} ${c.concurrency} streams`, c.tokensPerSec, peer, o?.tokensPerSec, 'tokens/s (all streams)');
      }
    }
  }
  return out;
}

/** Other processes' CPU share above which a run or a job counts as disturbed. */
export const BUSY_SHARE = 0.1;
const pct1 = (x: number) => `${(x * 100).toFixed(1)} %`;

/** The job during which other processes used the most CPU, if the record measured it. */
function worstJob(run: RunRecord): JobResult | undefined {
  return run.results.filter((r) => r.otherCpuShare !== undefined).sort((a, b) => b.otherCpuShare! - a.otherCpuShare!)[0];
}

export function runTitle(run: RunRecord): string {
  const m = run.machine;
  const where = run.args.device === 'cuda' && m.gpu ? `${m.gpu.name} (${m.cpuModel}, ${m.cores} cores)` : `${m.cpuModel}, ${m.cores} cores, ${(m.memoryBytes / 2 ** 30).toFixed(0)} GiB${m.cpuKernels ? `, gpuformer CPU kernels ${m.cpuKernels}` : ''}`;
  return `${run.startedAt.slice(0, 16).replace('T', ' ')} UTC · ${run.args.device.toUpperCase()}${run.args.quick ? ' quick' : ''} · ${where}`;
}

/** One run's section; `plotPrefix` names its PNGs (relative to BENCHMARKS.md). */
export function renderRun(run: RunRecord, plotPrefix: string | null, plots: string[] = []): string {
  const m = run.machine;
  const load = `load average ${m.loadAverage.start.toFixed(1)} at the start` +
    `${m.loadAverage.end !== undefined ? `, ${m.loadAverage.end.toFixed(1)} at the end (the run's own threads included)` : ''}`;
  // Other processes' measured CPU share decides where the record has it; else the load average at the start
  // (by the end the run's own threads are in the average).
  const worst = worstJob(run);
  const others = m.otherCpuShare !== undefined
    ? ` · other processes used ${pct1(m.otherCpuShare)} of the machine's CPU time during the run` +
      `${worst ? ` (at most ${pct1(worst.otherCpuShare ?? 0)} during one job: ${worst.engine} · ${worst.model.id})` : ''}`
    : '';
  const busy = (m.otherCpuShare !== undefined ? Math.max(m.otherCpuShare, worst?.otherCpuShare ?? 0) > BUSY_SHARE : m.loadAverage.start > m.cores / 2)
    ? ` — **a busy machine: other work competed for the cores, so these numbers are noisy**` : '';
  const versions = [...new Set(run.results.filter((r) => r.ok).map((r) => r.engineVersion))].join(', ');
  const parts = [
    `### ${runTitle(run)}\n`,
    `\`${run.command}\` · gpuformer ${m.gpuformerCommit}${m.dirty ? ' (uncommitted changes)' : ''} · Node ${m.node} · ` +
      `${run.args.threads} CPU threads per engine · ${load}${others}${busy}\n`,
    versions ? `Engines: ${versions}.\n` : '',
    run.note ? `Conditions: ${run.note}\n` : '',
  ];
  const section = (title: string, note: string, body: string) => { if (body) parts.push(`**${title}** ${note}\n\n${body}`); };
  section('Embedding throughput', '(sentences/s, median; ratio = gpuformer ÷ peer, above 1 is faster)', embedTable(run));
  section('Prefill', '(prompt tokens/s: prompt length ÷ time to first token, median)', prefillTable(run));
  section('Decode, one stream', '(tokens/s, median; inter-token latency p50 / p90; tokens per run: every engine now ignores EOS and decodes exactly the asked length; fewer in older runs means EOS ended them)', decodeTable(run));
  section('Concurrent streams', '(requests of mixed prompt and output lengths started together; KV waste = reserved bytes not holding a token)', concurrencyTable(run));
  section('Memory', '(peak RSS of the engine\'s own worker process; the engine\'s own accounting where it reports one)', memoryTable(run));
  const slower = slowerThanPeers(run);
  if (slower.length) parts.push(`**Where gpuformer is slower than a peer in this run** (ratio = gpuformer ÷ peer):\n\n${slower.map((x) => `- ${x}`).join('\n')}\n`);
  const failed = run.results.filter((r) => !r.ok);
  if (failed.length) parts.push(`**Did not run:**\n\n${failed.map((r) => `- ${r.engine} · ${r.model.id}: ${(r.error ?? '').split('\n')[0]}`).join('\n')}\n`);
  // the same note from several engines once, naming them
  const byNote = new Map<string, EngineName[]>();
  for (const r of run.results) for (const n of r.notes) byNote.set(n, [...new Set([...(byNote.get(n) ?? []), r.engine])]);
  if (byNote.size) parts.push(`Notes:\n\n${[...byNote].map(([n, engines]) => `- ${n} (${engines.join(', ')})`).join('\n')}\n`);
  if (plotPrefix && plots.length) parts.push(plots.map((p) => `![${p}](${p})`).join('\n') + '\n');
  return parts.join('\n');
}

// ------------------------------------------------------------------------------------------- goals

export interface GoalStatus {
  goal: string;
  status: string;
  run?: string;
}

function decodeRatio(run: RunRecord, peer: EngineName, weights: string[]): Array<{ id: string; r: number }> {
  const out: Array<{ id: string; r: number }> = [];
  for (const g of ok(run).filter((r) => r.engine === 'gpuformer' && r.decode && weights.includes(r.model.weights))) {
    const r = ratio(g.decode!.tokensPerSec.median, find(run, peer, g.model.id)?.decode?.tokensPerSec.median);
    if (r != null) out.push({ id: g.model.id, r });
  }
  return out;
}

function verdict(pairs: Array<{ id: string; r: number }>, threshold: number): string {
  if (pairs.length === 0) return 'not measured yet';
  const worst = Math.min(...pairs.map((p) => p.r));
  const list = pairs.map((p) => `${p.id} ${p.r.toFixed(2)}×`).join(', ');
  return `${worst >= threshold ? 'met' : 'not met'} (${list})`;
}

/** Each goal of issues 7, 9, 13, 14 and 18, judged on the newest run that measured it (runs newest first). */
export function goals(runs: RunRecord[]): GoalStatus[] {
  const pick = (device: string, f: (run: RunRecord) => Array<{ id: string; r: number }>): { pairs: Array<{ id: string; r: number }>; run?: RunRecord } => {
    for (const run of runs) {
      if (run.args.device !== device) continue;
      const pairs = f(run);
      if (pairs.length) return { pairs, run };
    }
    return { pairs: [] };
  };
  const embedRatios = (peer: EngineName, onlyModel?: string) => (run: RunRecord) => ok(run)
    .filter((r) => r.engine === 'gpuformer' && r.embed && (!onlyModel || r.model.id === onlyModel))
    .flatMap((g) => g.embed!.map((p) => ({
      id: `${g.model.id} ${p.length}×${p.batch}`,
      r: ratio(p.sentencesPerSec, find(run, peer, g.model.id)?.embed?.find((q) => q.batch === p.batch && q.length === p.length)?.sentencesPerSec),
    }))).filter((x): x is { id: string; r: number } => x.r != null);
  const bandwidth = (run: RunRecord) => {
    if (!run.copyBytesPerSec) return [];
    return ok(run).filter((r) => r.engine === 'gpuformer' && r.decode).flatMap((g) => {
      const w = (g.engineMemory as EngineMemoryLike | undefined)?.weightsBytes;
      return w ? [{ id: g.model.id, r: g.decode!.tokensPerSec.median / (run.copyBytesPerSec! / w) }] : [];
    });
  };
  // the smallest step-to-step gain in all-streams tokens/s as streams go 1 → 8 → 64, per model
  const growth = (run: RunRecord) => ok(run).filter((r) => r.engine === 'gpuformer' && (r.concurrency?.length ?? 0) > 1).map((g) => {
    const pts = [...g.concurrency!].sort((x, y) => x.concurrency - y.concurrency);
    const gains = pts.slice(1).map((p, i) => p.tokensPerSec / pts[i].tokensPerSec);
    return { id: `${g.model.id} (${pts.map((p) => fmt(p.tokensPerSec)).join(' → ')} tokens/s at ${pts.map((p) => p.concurrency).join('/')} streams)`, r: Math.min(...gains) };
  });
  // gpuformer's prompt tokens/s at one prompt length as a fraction of a target rate (models by id prefix:
  // 'llama-3.2-1b (random, f16)' is the Llama-3.2-1B shape)
  const prefillRate = (model: RegExp, promptLen: number, target: number) => (run: RunRecord) => ok(run)
    .filter((r) => r.engine === 'gpuformer' && model.test(r.model.id))
    .flatMap((g) => (g.prefill ?? []).filter((p) => p.promptLen === promptLen)
      .map((p) => ({ id: `${g.model.id} ${promptLen}-token prompts ${fmt(p.tokensPerSec)} tokens/s`, r: p.tokensPerSec / target })));
  // gpuformer ÷ peer prompt tokens/s at every prompt length, for the models whose weights are listed
  const prefillRatios = (peer: EngineName, weights: string[]) => (run: RunRecord) => ok(run)
    .filter((r) => r.engine === 'gpuformer' && r.prefill && weights.includes(r.model.weights))
    .flatMap((g) => g.prefill!.map((p) => ({
      id: `${g.model.id} prefill ${p.promptLen}`,
      r: ratio(p.tokensPerSec, find(run, peer, g.model.id)?.prefill?.find((q) => q.promptLen === p.promptLen)?.tokensPerSec),
    }))).filter((x): x is { id: string; r: number } => x.r != null);
  // issue 14's goals hold on a CPU whose kernels run at the AVX-512 tier: only such runs count for them
  const onAvx512 = (f: (run: RunRecord) => Pairs) => (run: RunRecord) => (run.machine.cpuKernels?.startsWith('avx512') ? f(run) : []);
  const both = (f: (run: RunRecord) => Pairs, g: (run: RunRecord) => Pairs) => (run: RunRecord) => [...f(run), ...g(run)];
  const rows: Array<[string, string, { pairs: Array<{ id: string; r: number }>; run?: RunRecord }, number]> = [
    ['CPU embedding throughput ≥ transformers.js (all-MiniLM-L6-v2, every batch size and length)', 'cpu', pick('cpu', embedRatios('transformers.js', 'all-MiniLM-L6-v2')), 1],
    ['CPU decode ≥ node-llama-cpp at f32 / f16 (same weights, 2 threads)', 'cpu', pick('cpu', (run) => decodeRatio(run, 'node-llama-cpp', ['f32', 'f16'])), 1],
    ['CPU decode ≥ node-llama-cpp with quantized weights (SmolLM2-135M Q4_1, the same GGUF; issue 9)', 'cpu', pick('cpu', (run) => decodeRatio(run, 'node-llama-cpp', ['q4_1'])), 1],
    ['CPU embedding ≥ 1.3 × transformers.js on an AVX-512 CPU (all-MiniLM-L6-v2 f32, every case; issue 14)', 'cpu',
      pick('cpu', onAvx512(embedRatios('transformers.js', 'all-MiniLM-L6-v2'))), 1.3],
    ['CPU bf16 mode ≥ 2 × transformers.js f32 on an AVX-512 CPU (all-MiniLM-L6-v2, dtype bfloat16, every case; issue 14)', 'cpu',
      pick('cpu', onAvx512(embedRatios('transformers.js', 'all-MiniLM-L6-v2 bf16'))), 2],
    ['CPU SmolLM2-135M Q4_1 decode and prefill ≥ 3 × node-llama-cpp on an AVX-512 CPU (the same GGUF; issue 14)', 'cpu',
      pick('cpu', onAvx512(both((run) => decodeRatio(run, 'node-llama-cpp', ['q4_1']), prefillRatios('node-llama-cpp', ['q4_1'])))), 3],
    ['CPU throughput grows with concurrent streams (gpuformer, all streams, each step up; issue 6; ratio = smallest step gain)', 'cpu', pick('cpu', growth), 1],
    ['GPU embedding throughput ≥ 1.5 × sentence-transformers in f16', 'cuda', pick('cuda', embedRatios('pytorch')), 1.5],
    ['GPU single-stream decode ≥ 80 % of the bandwidth bound (weight bytes per token ÷ measured copy bandwidth)', 'cuda', pick('cuda', bandwidth), 0.8],
    ...issue13Goals(pick),
    ['GPU prefill ≥ 150,000 tokens/s, Llama-3.2-1B 512-token prompts (issue 18; ratio = measured ÷ 150,000)', 'cuda', pick('cuda', prefillRate(/^llama-3\.2-1b/, 512, 150_000)), 1],
    ['GPU prefill ≥ 20,000 tokens/s, Llama-2-7B shape 128-token prompts (issue 18; ratio = measured ÷ 20,000)', 'cuda', pick('cuda', prefillRate(/^llama-7b/, 128, 20_000)), 1],
  ];
  return rows.map(([goal, , p, threshold]) => ({ goal, status: verdict(p.pairs, threshold), run: p.run ? runTitle(p.run) : undefined }));
}

type Pairs = Array<{ id: string; r: number }>;
type Pick = (device: string, f: (run: RunRecord) => Pairs) => { pairs: Pairs; run?: RunRecord };

/** Issue 13's decode goals (the floors: bench/report/gpu.ts); ratio = measured ÷ goal, so 1 meets it. */
function issue13Goals(pick: Pick): Array<[string, string, ReturnType<Pick>, number]> {
  const rows = (run: RunRecord, model: RegExp) => floorRows([run]).filter((r) => model.test(r.model));
  const oneStream = (model: RegExp, score: (r: ReturnType<typeof floorRows>[number]) => number | undefined) => (run: RunRecord) =>
    rows(run, model).flatMap((r) => { const x = score(r); return x == null ? [] : [{ id: r.model, r: x }]; });
  const streams64 = (run: RunRecord) => rows(run, /^llama-3\.2-1b/).flatMap((r) => r.streams.filter((s) => s.n === 64)
    .map((s) => ({ id: `${r.model} (${fmt(s.tokensPerSec)} tokens/s, ITL p50 ${fmt(s.itlP50Ms)} ms)`, r: Math.min(s.tokensPerSec / 20000, 3 / s.itlP50Ms) })));
  return [
    ['GPU Llama-2-7B-shape f16 decode, one stream, ≥ 85 % of the bandwidth floor (issue 13; ratio = of floor ÷ 0.85)', 'cuda',
      pick('cuda', oneStream(/^llama-7b .*f16/, (r) => (r.ofFloor == null ? undefined : r.ofFloor / 0.85))), 1],
    ['GPU Llama-3.2-1B f16 decode, one stream, ≥ 1,000 tokens/s (issue 13)', 'cuda',
      pick('cuda', oneStream(/^llama-3\.2-1b .*f16/, (r) => (r.gpuformerTokensPerSec == null ? undefined : r.gpuformerTokensPerSec / 1000))), 1],
    ['GPU Llama-3.2-1B, 64 concurrent streams: ≥ 20,000 tokens/s and ITL p50 ≤ 3 ms (issue 13)', 'cuda', pick('cuda', streams64), 1],
    ['GPU quantized decode (GGUF Q4_0 / Q8_0 / Q4_1), one stream, ≥ 80 % of the floor for its bytes (issue 13; ratio = of floor ÷ 0.8)', 'cuda',
      pick('cuda', (run) => floorRows([run]).filter((r) => /^q\d/.test(r.weights) && r.ofFloor != null).map((r) => ({ id: r.model, r: r.ofFloor! / 0.8 }))), 1],
  ];
}

export function renderGoals(runs: RunRecord[]): string {
  return table(['goal', 'status (ratio, worst decides)', 'run'], goals(runs).map((g) => [g.goal, g.status, g.run ?? '—']));
}
