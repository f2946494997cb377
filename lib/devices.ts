/** What this machine offers: the CPU always, CUDA devices when the binary, driver and a GPU are present. */
import { native } from './native';

export interface CpuDevice {
  id: 'cpu';
  threads: number;
}

export interface CudaDevice {
  id: string; // 'cuda:N'
  name: string;
  totalBytes: number;
  freeBytes: number;
  computeCapability: string;
  multiprocessors: number;
}

export interface CudaUnavailable {
  id: 'cuda';
  available: false;
  /** the driver's own words, or why this binary has no CUDA backend */
  reason: string;
}

export type DeviceInfo = CpuDevice | CudaDevice | CudaUnavailable;

/** [{ id: 'cpu', … }, { id: 'cuda:0', name, totalBytes, freeBytes, computeCapability }] or CUDA listed as unavailable. */
export function devices(): DeviceInfo[] {
  const d = native.devices();
  const list: DeviceInfo[] = d.devices.map((x) => ({ ...x }) as DeviceInfo);
  if (!d.cuda.available) list.push({ id: 'cuda', available: false, reason: d.cuda.reason ?? 'unknown' });
  return list;
}

export function cudaAvailable(): boolean {
  return native.devices().cuda.available;
}
