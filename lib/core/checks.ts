/**
 * The checks every floor shares, each written once. The Engine's edge (lib/engine/options.ts) runs them on
 * what a caller passes; the floors below (the engine loop, the scheduler, the runners' packing) run the same
 * ones as assertions on what they are handed, so a rule and its message exist in one place.
 */
import { inputError, shown } from '../errors';
import type { PoolingMode } from './step';

export const POOLING_MODES: readonly PoolingMode[] = ['mean', 'cls', 'last'];

/** `ids` as a non-empty array of token ids in [0, vocabSize), or ERR_GPUFORMER_INPUT naming `what`, the index and the value. */
export function checkTokenIds(ids: unknown, vocabSize: number, what: string): number[] {
  if (!Array.isArray(ids) || ids.length === 0) throw inputError(`${what} must be a non-empty array of token ids`);
  ids.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw inputError(`${what}[${i}] is ${shown(id)}, not a token id in [0, ${vocabSize})`);
    }
  });
  return ids as number[];
}

/** `mode` as a pooling mode, or ERR_GPUFORMER_INPUT naming `what`. */
export function checkPooling(mode: unknown, what: string): PoolingMode {
  if (!POOLING_MODES.includes(mode as PoolingMode)) {
    throw inputError(`${what} must be ${POOLING_MODES.map((m) => `'${m}'`).join(', ')}, got ${shown(mode)}`);
  }
  return mode as PoolingMode;
}

/** `v` as a positive integer, or ERR_GPUFORMER_INPUT naming `what` and the value. */
export function checkPositiveInt(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) throw inputError(`${what} must be a positive integer, got ${shown(v)}`);
  return v;
}
