/**
 * Every failure gpuformer reports is a GpuformerError with a stable `code` (DESIGN section 3):
 * ERR_GPUFORMER_INPUT, ERR_GPUFORMER_OOM, ERR_GPUFORMER_BAD_WEIGHTS, ERR_GPUFORMER_UNSUPPORTED,
 * ERR_GPUFORMER_CUDA. Native code constructs instances of this class (registered in native.ts).
 */
export type ErrorCode =
  | 'ERR_GPUFORMER_INPUT'
  | 'ERR_GPUFORMER_OOM'
  | 'ERR_GPUFORMER_BAD_WEIGHTS'
  | 'ERR_GPUFORMER_UNSUPPORTED'
  | 'ERR_GPUFORMER_CUDA'
  | 'ERR_GPUFORMER_ABORTED';

export class GpuformerError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'GpuformerError';
    this.code = code;
  }
}

export const inputError = (message: string) => new GpuformerError('ERR_GPUFORMER_INPUT', message);
export const badWeights = (message: string) => new GpuformerError('ERR_GPUFORMER_BAD_WEIGHTS', message);
export const unsupported = (message: string) => new GpuformerError('ERR_GPUFORMER_UNSUPPORTED', message);
export const oom = (message: string) => new GpuformerError('ERR_GPUFORMER_OOM', message);

/** How much of a caller's value an error message quotes. */
const QUOTED_CHARS = 40;

/**
 * A caller's value as an error message shows it: strings JSON-escaped and cut to their first 40 characters
 * (with the full length said), short arrays of numbers as JSON, other arrays and objects by kind; so a
 * message never echoes a whole 10 KB string, a control character or a terminal escape to whoever sent it.
 */
export function shown(v: unknown): string {
  if (typeof v === 'string') {
    const cut = v.length > QUOTED_CHARS;
    return `${JSON.stringify(cut ? v.slice(0, QUOTED_CHARS) : v)}${cut ? `… (${v.length} characters)` : ''}`;
  }
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) {
    const small = v.length <= 8 && v.every((x) => typeof x === 'number' || typeof x === 'boolean');
    return small ? JSON.stringify(v) : `an array of ${v.length}`;
  }
  if (v === null || v === undefined) return String(v);
  if (typeof v === 'object') return 'an object';
  if (typeof v === 'function') return 'a function';
  return String(v);
}
