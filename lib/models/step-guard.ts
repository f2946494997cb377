/**
 * A runner's steps share its reserved buffers, so they run one at a time (the engine loop never overlaps
 * them; a second caller is refused), and each buffer is released once a step has run (it trims its cache of
 * views: ViewCache). Both runners guard their steps with one of these.
 */
import { inputError } from '../errors';

export class StepGuard {
  private busy = false;
  private disposed = false;

  /**
   * @param what the runner's entry point, for messages ('step', 'embed')
   * @param unit what runs, for messages ('a step', 'a batch')
   * @param buffers released after each step (arenas, staging)
   */
  constructor(private readonly what: string, private readonly unit: string, private readonly buffers: ReadonlyArray<{ release(): void }>) {}

  async run<R>(fn: () => Promise<R>): Promise<R> {
    if (this.disposed) throw inputError(`${this.what}: the runner has been disposed`);
    if (this.busy) throw inputError(`${this.what}: ${this.unit} is already running on this runner (the loop runs one at a time)`);
    this.busy = true;
    try {
      return await fn();
    } finally {
      for (const b of this.buffers) b.release();
      this.busy = false;
    }
  }

  /** Marks the runner disposed; true the first time (the runner then frees its tensors), false after. */
  dispose(): boolean {
    if (this.disposed) return false;
    this.disposed = true;
    return true;
  }
}
