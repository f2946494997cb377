/** What a run ran on: CPU, cores, memory, GPU, Node, gpuformer's commit, and how busy the machine was. */
import { execFileSync } from 'child_process';
import * as os from 'os';
import { REPO_ROOT } from './paths';
import type { Device } from './types';

export interface GpuInfo {
  name: string;
  memoryMiB: number;
  driver: string;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryBytes: number;
  platform: string;
  node: string;
  gpuformerCommit: string;
  /** uncommitted changes in the working tree when the run started */
  dirty: boolean;
  gpu?: GpuInfo;
  /** 1-minute load average at the start and end of the run (other work competing for the cores) */
  loadAverage: { start: number; end?: number };
}

function git(args: string[]): string {
  try {
    return execFileSync('git', args, { cwd: REPO_ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return '';
  }
}

function nvidiaSmi(): GpuInfo | undefined {
  try {
    const line = execFileSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader,nounits'],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n')[0];
    const [name, mem, driver] = line.split(',').map((s) => s.trim());
    return { name, memoryMiB: Number(mem), driver };
  } catch {
    return undefined;
  }
}

export function describeMachine(device: Device): MachineInfo {
  return {
    cpuModel: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
    cores: os.cpus().length,
    memoryBytes: os.totalmem(),
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
    gpuformerCommit: git(['rev-parse', '--short=12', 'HEAD']) || 'unknown',
    dirty: git(['status', '--porcelain', '--untracked-files=no']).length > 0,
    gpu: device === 'cuda' ? nvidiaSmi() : undefined,
    loadAverage: { start: os.loadavg()[0] },
  };
}

/** A file-name-safe machine name: the GPU's on CUDA runs, else the CPU model and core count. */
export function machineSlug(m: MachineInfo, device: Device): string {
  const base = device === 'cuda' && m.gpu ? m.gpu.name : `${m.cpuModel} ${m.cores}c`;
  return `${base}-${device}`.toLowerCase().replace(/\(r\)|\(tm\)|processor|\d+-core/g, '').replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}
