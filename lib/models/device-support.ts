/**
 * What a model needs of a device beyond memory, checked when the load is planned, before anything is
 * allocated or read: a model the device cannot run fails at load with ERR_GPUFORMER_UNSUPPORTED rather than
 * at its first attention step.
 */
import { unsupported } from '../errors';
import type { DeviceName } from '../native';
import type { ModelSpec } from '../core/spec';

/** Head dims the CUDA attention kernels are instantiated for (the switches in native/cuda/attention.cu and
 * paged_attention.cu). The CPU kernels take any head dim. */
export const CUDA_HEAD_DIMS: readonly number[] = [32, 64, 80, 96, 128, 256];

export function checkDeviceSupport(spec: ModelSpec, device: DeviceName): void {
  if (device === 'cpu') return;
  if (!CUDA_HEAD_DIMS.includes(spec.headDim)) {
    throw unsupported(`${spec.architecture}: head dim ${spec.headDim} has no CUDA attention kernel (CUDA has ` +
      `${CUDA_HEAD_DIMS.join(', ')}); load it with device: 'cpu'`);
  }
}
