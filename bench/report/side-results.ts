/**
 * The results BENCHMARKS.md shows beside the end-to-end runs: the load test and the load-and-fault test of
 * `gpuformer serve` (bench/e2e/load-test.mjs, fault-test.mjs --json) and the CPU kernel benchmarks
 * (bench/kernels/*.mjs), each a JSON record
 * in bench/results told apart by its `bench` field. Pure functions of the records, like markdown.ts.
 */
import { bytes } from './markdown';

export interface LoadTestRecord {
  bench: 'load-test';
  date: string;
  command: string;
  machine: { cpu: string; cores: number; node: string; loadAverage: { before: number; after: number } };
  model: string;
  endpoint: 'chat' | 'completions';
  maxTokens: number;
  concurrency: number;
  requests: number;
  failed: number;
  wallSeconds: number;
  requestsPerSecond: number;
  outputTokensPerSecond: number;
  ttftMs: { p50: number; p90: number; p99: number };
  interTokenMs: { p50: number; p90: number; p99: number };
  baseline: Record<string, number>;
  after: Record<string, number>;
  backToBaseline: boolean;
  serverMemory?: { baselineRssBytes: number; peakRssBytes: number; afterRssBytes: number };
}

export interface FaultTestRecord {
  bench: 'fault-test';
  date: string;
  command: string;
  machine: { cpu: string; cores: number; node: string; loadAverage: { before: number; after: number } };
  model: string;
  kind: 'generation' | 'embedding';
  requestTimeoutSeconds: number;
  wallSeconds: number;
  scenarios: Array<{
    name: string; count: number; failed: number; requestsPerSecond?: number;
    latencyMs: { p50: number; p90: number; p99: number; max: number };
  }>;
  after: Record<string, number>;
  backToBaseline: boolean;
  serverMemory?: { baselineRssBytes: number; peakRssBytes: number; afterRssBytes: number; maxGrowthBytes: number };
  passed: boolean;
}

export interface KernelRecord {
  bench: 'cpu-gemm' | 'cpu-attention' | 'cpu-sampling' | 'cuda-kernels';
  date: string;
  command: string;
  /** CPU kernels */
  threads?: number;
  /** CUDA kernels */
  device?: { name: string };
}

const ms = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '—');

export function renderLoadTests(records: Array<{ file: string; record: LoadTestRecord }>): string {
  if (records.length === 0) return '';
  const head = '| date (UTC) | model | clients | requests (failed) | requests/s | output tokens/s | TTFT ms p50 / p90 / p99 | ITL ms p50 / p90 / p99 | server RSS before / peak / after | KV blocks and memory back to baseline | record |';
  const rows = records.map(({ file, record: r }) => {
    const m = r.serverMemory;
    return `| ${r.date.slice(0, 16).replace('T', ' ')} | ${r.model} (${r.endpoint}, ${r.maxTokens} tokens) | ${r.concurrency} | ${r.requests} (${r.failed}) | ` +
      `${r.requestsPerSecond.toFixed(2)} | ${r.outputTokensPerSecond.toFixed(1)} | ${ms(r.ttftMs.p50)} / ${ms(r.ttftMs.p90)} / ${ms(r.ttftMs.p99)} | ` +
      `${ms(r.interTokenMs.p50)} / ${ms(r.interTokenMs.p90)} / ${ms(r.interTokenMs.p99)} | ` +
      `${m ? `${bytes(m.baselineRssBytes)} / ${bytes(m.peakRssBytes)} / ${bytes(m.afterRssBytes)}` : '—'} | ` +
      `${r.backToBaseline ? 'yes' : `**no**: ${JSON.stringify(r.after)}`} | [json](${file}) |`;
  });
  const commands = [...new Set(records.map(({ record }) => record.command))];
  return `${[head, `|${head.split(' | ').map(() => '---').join('|')}|`, ...rows].join('\n')}\n\n` +
    `Command${commands.length > 1 ? 's' : ''}: ${commands.map((c) => `\`${c}\``).join(', ')} ` +
    `(loopback; each client streams one request after another until the request or time limit).\n`;
}

/** One line per fault-test run (what passed, the streams' rate, /health's worst latency meanwhile), then its scenarios. */
export function renderFaultTests(records: Array<{ file: string; record: FaultTestRecord }>): string {
  if (records.length === 0) return '';
  return records.map(({ file, record: r }) => {
    const m = r.serverMemory;
    const load = r.machine.loadAverage;
    const head = `- ${r.date.slice(0, 16).replace('T', ' ')} UTC · ${r.model} (${r.kind}) · ${r.passed ? '**passed**' : '**FAILED**'} in ` +
      `${r.wallSeconds.toFixed(0)} s (load average ${load.before.toFixed(1)} → ${load.after.toFixed(1)} on ${r.machine.cores} cores); ` +
      `back to baseline: ${r.backToBaseline ? 'yes' : `**no**: ${JSON.stringify(r.after)}`}` +
      `${m ? `; server RSS ${bytes(m.baselineRssBytes)} / ${bytes(m.peakRssBytes)} / ${bytes(m.afterRssBytes)} (before / peak / after)` : ''}` +
      ` — [json](${file}), \`${r.command}\``;
    const rows = r.scenarios.map((s) => `  - ${s.name}: ${s.count} (${s.failed} failed)` +
      `${s.requestsPerSecond !== undefined ? `, ${s.requestsPerSecond.toFixed(2)} requests/s` : ''}; ms p50 / p90 / max ` +
      `${ms(s.latencyMs.p50)} / ${ms(s.latencyMs.p90)} / ${ms(s.latencyMs.max)}`);
    return [head, ...rows].join('\n');
  }).join('\n') + '\n';
}

export function renderKernelLinks(records: Array<{ file: string; record: KernelRecord }>): string {
  if (records.length === 0) return '';
  return records.map(({ file, record: r }) =>
    `- ${r.bench} · ${r.date.slice(0, 16).replace('T', ' ')} UTC · ${r.device ? r.device.name : `${r.threads} threads`}: [table](${file.replace(/\.json$/, '.md')}), ` +
    `[json](${file}) — \`${r.command}\``).join('\n') + '\n';
}
