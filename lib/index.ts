/** gpuformer's public API (DESIGN section 7). */
export { GpuformerError } from './errors';
export type { ErrorCode } from './errors';
export { devices, cudaAvailable } from './devices';
export type { DeviceInfo, CpuDevice, CudaDevice, CudaUnavailable } from './devices';
export { Tensor, native } from './native';
export type { DType, MemoryTag } from './native';
export { ops, run, runSync } from './ops';
