/**
 * /metrics in the Prometheus text format (version 0.0.4): the engine's queues, KV blocks and throughput
 * (gauges and counters read from engine.stats() at scrape time) and what clients experienced (request
 * counts by route and status; latency, time-to-first-token and inter-token-latency histograms, measured
 * by the server).
 */
import type { LoopStats } from '../engine/types';
import type { ServedEngine } from './types';

/** A cumulative histogram with fixed upper bounds (seconds), as Prometheus expects. */
export class Histogram {
  private readonly counts: number[];
  private sum = 0;
  private count = 0;

  constructor(readonly name: string, readonly help: string, readonly bounds: readonly number[]) {
    this.counts = new Array(bounds.length).fill(0);
  }

  observe(v: number): void {
    this.sum += v;
    this.count++;
    for (let i = 0; i < this.bounds.length; i++) if (v <= this.bounds[i]) this.counts[i]++;
  }

  /** The q-quantile estimated from the buckets (upper bound of the bucket reaching it); NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const target = q * this.count;
    for (let i = 0; i < this.bounds.length; i++) if (this.counts[i] >= target) return this.bounds[i];
    return Infinity;
  }

  render(labels = ''): string[] {
    const l = (extra: string) => `{${[labels, extra].filter(Boolean).join(',')}}`;
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.bounds.forEach((b, i) => lines.push(`${this.name}_bucket${l(`le="${b}"`)} ${this.counts[i]}`));
    lines.push(`${this.name}_bucket${l('le="+Inf"')} ${this.count}`);
    lines.push(`${this.name}_sum${labels ? `{${labels}}` : ''} ${this.sum}`);
    lines.push(`${this.name}_count${labels ? `{${labels}}` : ''} ${this.count}`);
    return lines;
  }
}

const LATENCY_BOUNDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];
const TOKEN_BOUNDS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2, 0.3, 0.5, 1, 2.5];

export class ServerMetrics {
  readonly requestLatency = new Histogram('gpuformer_request_duration_seconds', 'Time from receiving a request to its last byte', LATENCY_BOUNDS);
  readonly timeToFirstToken = new Histogram('gpuformer_time_to_first_token_seconds', 'Time from receiving a generation request to its first token', LATENCY_BOUNDS);
  readonly interTokenLatency = new Histogram('gpuformer_inter_token_latency_seconds', 'Time between consecutive tokens of a generation', TOKEN_BOUNDS);
  private readonly requests = new Map<string, number>();
  private readonly started = Date.now();
  aborted = 0;

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  render(engine: ServedEngine): string {
    const s: LoopStats = engine.stats();
    const lines: string[] = [];
    const metric = (name: string, type: 'gauge' | 'counter', help: string, value: number | undefined) => {
      if (value === undefined || !Number.isFinite(value)) return;
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name} ${value}`);
    };
    metric('gpuformer_requests_waiting', 'gauge', 'Sequences waiting to be scheduled', s.waiting);
    metric('gpuformer_requests_running', 'gauge', 'Sequences in the running batch', s.running);
    metric('gpuformer_kv_blocks_total', 'gauge', 'KV-cache blocks', s.kvBlocksTotal);
    metric('gpuformer_kv_blocks_used', 'gauge', 'KV-cache blocks held by sequences', s.kvBlocksUsed);
    metric('gpuformer_kv_blocks_cached', 'gauge', 'Free KV-cache blocks still holding a cached prefix', s.kvBlocksCached);
    metric('gpuformer_prefix_cache_hit_rate', 'gauge', 'Share of prompt tokens found in the prefix cache', s.prefixCacheHitRate);
    metric('gpuformer_generation_tokens_per_second', 'gauge', 'Generated tokens per second over the last seconds', s.tokensPerSecond);
    metric('gpuformer_throughput_tokens_per_second', 'gauge', 'Tokens through the model per second (prefill, decode, embedding)', s.throughputTokensPerSecond);
    metric('gpuformer_generation_tokens_total', 'counter', 'Tokens generated', s.generatedTokens);
    metric('gpuformer_prompt_tokens_total', 'counter', 'Prompt tokens received for generation', s.promptTokens);
    metric('gpuformer_embedded_sequences_total', 'counter', 'Sequences embedded', s.embeddedSequences);
    metric('gpuformer_preemptions_total', 'counter', 'Sequences preempted for lack of KV blocks (recomputed later)', s.preemptions);
    metric('gpuformer_steps_total', 'counter', 'Forward steps run', s.steps);
    metric('gpuformer_client_disconnects_total', 'counter', 'Requests aborted because the client went away', this.aborted);
    metric('gpuformer_uptime_seconds', 'gauge', 'Seconds since the server started', (Date.now() - this.started) / 1000);
    const mem = engine.memory?.();
    if (mem) {
      lines.push('# HELP gpuformer_memory_bytes Device memory by purpose', '# TYPE gpuformer_memory_bytes gauge');
      const parts: Record<string, number> = {
        weights: mem.weightsBytes, kv: mem.kv.bytes, workspace: mem.workspaceBytes, activations: mem.activationsBytes, other: mem.otherBytes,
      };
      for (const [purpose, v] of Object.entries(parts)) if (Number.isFinite(v)) lines.push(`gpuformer_memory_bytes{device="${mem.device}",purpose="${purpose}"} ${v}`);
      metric('gpuformer_memory_budget_bytes', 'gauge', 'The engine\'s memory budget', mem.budgetBytes);
    }
    lines.push('# HELP gpuformer_http_requests_total HTTP requests by route and status', '# TYPE gpuformer_http_requests_total counter');
    for (const [labels, n] of this.requests) lines.push(`gpuformer_http_requests_total{${labels}} ${n}`);
    lines.push(...this.requestLatency.render(), ...this.timeToFirstToken.render(), ...this.interTokenLatency.render());
    return lines.join('\n') + '\n';
  }
}

/** Parses Prometheus text into name{labels} → value (for tests and the load test). */
export function parsePrometheus(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const i = line.lastIndexOf(' ');
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
