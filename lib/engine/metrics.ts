/**
 * The engine loop's counters: tokens in and out, steps, and a throughput gauge (tokens per second over a
 * sliding window), read by stats() and the server's /metrics.
 */

/** Events counted over the last `windowMs`, in one-second buckets; rate() is per second. */
export class RateWindow {
  private readonly buckets: Array<{ second: number; count: number }> = [];

  constructor(private readonly windowMs = 10_000, private readonly now: () => number = () => performance.now()) {}

  add(count: number): void {
    const second = Math.floor(this.now() / 1000);
    const last = this.buckets[this.buckets.length - 1];
    if (last && last.second === second) last.count += count;
    else this.buckets.push({ second, count });
    this.prune(second);
  }

  /**
   * Events per second over the window, counting only the time since the first event in it (so a burst right
   * after an idle period is not diluted by the idle seconds before it).
   */
  rate(): number {
    const t = this.now();
    this.prune(Math.floor(t / 1000));
    if (this.buckets.length === 0) return 0;
    const total = this.buckets.reduce((n, b) => n + b.count, 0);
    const spanMs = Math.max(t - this.buckets[0].second * 1000, 1000);
    return (total * 1000) / spanMs;
  }

  private prune(second: number): void {
    const oldest = second - Math.ceil(this.windowMs / 1000) + 1;
    while (this.buckets.length && this.buckets[0].second < oldest) this.buckets.shift();
  }
}

export class LoopMetrics {
  promptTokens = 0;
  generatedTokens = 0;
  /** prompt tokens computed, recomputation after preemption included */
  computedTokens = 0;
  steps = 0;
  embeddedSequences = 0;
  embeddedTokens = 0;
  /** generated tokens per second */
  readonly generationRate = new RateWindow();
  /** tokens per second through the model (prefill chunks, decode tokens, embedded tokens) */
  readonly throughput = new RateWindow();

  recordStep(numTokens: number, generated: number): void {
    this.steps++;
    this.computedTokens += numTokens;
    this.generatedTokens += generated;
    this.throughput.add(numTokens);
    if (generated) this.generationRate.add(generated);
  }

  recordEmbedStep(numSequences: number, numTokens: number): void {
    this.steps++;
    this.embeddedSequences += numSequences;
    this.embeddedTokens += numTokens;
    this.throughput.add(numTokens);
  }
}
