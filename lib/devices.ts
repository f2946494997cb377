/** What this machine offers: the CPU always, CUDA devices when the binary, driver and a GPU are present. */
import { CpuIsa, CpuIsaLevel, native } from './native';

export interface CpuDevice {
  id: 'cpu';
  threads: number;
  /** the CPU kernels' instruction-set tier and sub-features in use (GPUFORMER_CPU_ISA caps it), and the machine's */
  isa: CpuIsa;
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

const describeLevel = (l: CpuIsaLevel): string =>
  [l.tier, ...(l.vnni ? ['vnni'] : []), ...(l.bf16 ? ['bf16'] : []), ...(l.dotprod ? ['dotprod'] : [])].join(' + ');

/** The CPU kernels' level in words, e.g. 'avx512 + vnni + bf16', or 'avx2 (GPUFORMER_CPU_ISA=avx2; the machine has avx512 + vnni + bf16)'. */
export function describeCpuIsa(isa: CpuIsa): string {
  const active = describeLevel(isa), machine = describeLevel(isa.machine);
  return isa.cap ? `${active} (${isa.cap}; the machine has ${machine})` : active;
}

/** The CPU device entry of devices(). */
export function cpuDevice(): CpuDevice {
  return devices()[0] as CpuDevice;
}
