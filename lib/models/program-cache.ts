/**
 * Prepared programs by shape: a runner's forward pass for a given step shape always uses the same tensors
 * (the same arena and staging offsets, weights and KV cache), so it can be parsed once (native prepare) and
 * replayed while only the data in its input buffers changes. What fixes the tensors is the caller's key.
 * Least recently used programs go when the cache is full; dispose() releases every buffer reference they hold.
 */
import type { Command, PreparedProgram } from '../native';
import { prepare } from '../ops';

export class ProgramCache {
  private readonly programs = new Map<string, PreparedProgram>(); // least recently used first

  constructor(readonly capacity: number) {}

  get size(): number {
    return this.programs.size;
  }

  /** The program for `key`, prepared from build() on a miss. */
  get(key: string, build: () => Command[]): PreparedProgram {
    let program = this.programs.get(key);
    if (program) {
      this.programs.delete(key); // re-inserted last: most recently used
    } else {
      program = prepare(build());
      while (this.programs.size >= this.capacity) {
        const [oldest, p] = this.programs.entries().next().value as [string, PreparedProgram];
        p.dispose();
        this.programs.delete(oldest);
      }
    }
    this.programs.set(key, program);
    return program;
  }

  /** How many programs are kept, how many replay CUDA graphs, and why any CUDA program could not. */
  stats(): { programs: number; graphed: number; notGraphed: string[] } {
    const all = [...this.programs.values()];
    return {
      programs: all.length,
      graphed: all.filter((p) => p.graphed).length,
      notGraphed: [...new Set(all.map((p) => p.graphNote).filter((n) => n !== ''))],
    };
  }

  dispose(): void {
    for (const p of this.programs.values()) p.dispose();
    this.programs.clear();
  }
}
