/**
 * A one-line progress bar for long CLI work (downloads, weight loading), redrawn in place with \r. It draws
 * only on a terminal: piped or redirected output stays free of control characters.
 */
import { formatBytes } from '../memory/format';

export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export class ProgressBar {
  private lastDraw = 0;
  private readonly startedAt = performance.now();
  private drawn = false;
  private readonly enabled: boolean;

  /** @param unit 'bytes' shows sizes and a rate; 'items' plain counts */
  constructor(private readonly stream: ProgressStream, private label: string, private readonly unit: 'bytes' | 'items' = 'bytes',
    private readonly minIntervalMs = 100) {
    this.enabled = stream.isTTY === true;
  }

  /** Redraws (at most every minIntervalMs, and always at 100%). */
  update(done: number, total: number, label?: string): void {
    if (!this.enabled) return;
    if (label !== undefined && label !== this.label) {
      this.label = label;
      this.lastDraw = 0;
    }
    const now = performance.now();
    if (now - this.lastDraw < this.minIntervalMs && done < total) return;
    this.lastDraw = now;
    this.stream.write(`\r${this.render(done, total, now)}\x1b[K`);
    this.drawn = true;
  }

  /** Ends the line (keeps the final bar visible). */
  finish(): void {
    if (this.enabled && this.drawn) this.stream.write('\n');
    this.drawn = false;
  }

  /** The bar as text (exposed for tests). */
  render(done: number, total: number, now = performance.now()): string {
    const frac = total > 0 ? Math.min(Math.max(done / total, 0), 1) : 0;
    const width = Math.max(10, Math.min(30, (this.stream.columns ?? 80) - 60));
    const filled = Math.round(frac * width);
    const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
    const pct = `${(frac * 100).toFixed(0).padStart(3)}%`;
    const seconds = (now - this.startedAt) / 1000;
    if (this.unit === 'items') return `${this.label} ${bar} ${pct} ${done}/${total}`;
    const rate = seconds > 0 ? ` ${formatBytes(done / seconds)}/s` : '';
    return `${this.label} ${bar} ${pct} ${formatBytes(done)}/${formatBytes(total)}${rate}`;
  }
}
