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
