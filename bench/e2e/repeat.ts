/**
 * How many times a measurement repeats: at least minReps, more while the time spent is under minSeconds,
 * never more than maxReps, and no new repetition once maxSeconds are spent. Big configurations (batch 256 of
 * long inputs on two cores) then take one or two repetitions while small ones take many, which keeps a full
 * CPU run to minutes.
 */

export interface RepeatPolicy {
  /** untimed runs first (first-call allocations, thread pool start, page faults of the weights) */
  warmup: number;
  minReps: number;
  maxReps: number;
  minSeconds: number;
  maxSeconds: number;
}

export const QUICK_POLICY: RepeatPolicy = { warmup: 1, minReps: 2, maxReps: 5, minSeconds: 0.5, maxSeconds: 4 };
export const FULL_POLICY: RepeatPolicy = { warmup: 1, minReps: 3, maxReps: 20, minSeconds: 2, maxSeconds: 15 };

/** Whether to run another repetition after `done` of them took `elapsedSeconds` in all. */
export function wantsAnother(done: number, elapsedSeconds: number, p: RepeatPolicy): boolean {
  if (done >= p.maxReps) return false;
  if (done >= 1 && elapsedSeconds >= p.maxSeconds) return false;
  if (done < p.minReps) return true;
  return elapsedSeconds < p.minSeconds;
}

/**
 * Runs fn under the policy; fn does one repetition and answers the seconds it measured (a caller may time
 * only part of its work, e.g. up to the first token). fn gets the repetition's index (warmups count from
 * -warmup to -1), so it can vary its input, e.g. a fresh prompt that no prefix cache has seen.
 */
export async function repeatMeasured(fn: (rep: number) => Promise<number>, p: RepeatPolicy): Promise<number[]> {
  for (let i = 0; i < p.warmup; i++) await fn(i - p.warmup);
  const times: number[] = [];
  let elapsed = 0;
  while (wantsAnother(times.length, elapsed, p)) {
    const s = await fn(times.length);
    times.push(s);
    elapsed += s;
  }
  return times;
}

/** repeatMeasured, timing the whole of each call. */
export function repeatTimed(fn: (rep: number) => Promise<unknown>, p: RepeatPolicy): Promise<number[]> {
  return repeatMeasured(async (rep) => {
    const t0 = process.hrtime.bigint();
    await fn(rep);
    return secondsSince(t0);
  }, p);
}

/** Seconds since t0 (a process.hrtime.bigint() reading). */
export function secondsSince(t0: bigint): number {
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
