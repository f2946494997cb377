/** What a run ran on: CPU, cores, memory, GPU, Node, gpuformer's commit, and how busy the machine was. */
import { execFileSync } from 'child_process';
import { readFileSync } from 'fs';
import * as os from 'os';
import { cpuDevice, describeCpuIsa } from '../../lib/devices';
import { REPO_ROOT } from './paths';
import type { Device } from './types';

export interface GpuInfo {
  name: string;
  memoryMiB: number;
  driver: string;
}

export interface MachineInfo {
  cpuModel: string;
  /** gpuformer's CPU kernel tier, e.g. 'avx512 + vnni + bf16' (GPUFORMER_CPU_ISA caps it) */
  cpuKernels?: string;
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
  /** share of the machine's CPU time other processes used during the run (Linux; see otherCpuShare) */
  otherCpuShare?: number;
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
    cpuKernels: describeCpuIsa(cpuDevice().isa),
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

/** CPU seconds the whole machine was busy and this process with its reaped children used, from /proc (Linux). */
export interface CpuReading {
  machineBusySeconds: number;
  ownSeconds: number;
  at: bigint;
}

const CLOCK_TICKS = 100; // USER_HZ: /proc reports times in these on every Linux architecture Node runs on

export function readCpu(): CpuReading | undefined {
  try {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal …: busy is everything but idle and iowait
    const busy = fields.slice(0, 8).reduce((a, b) => a + b, 0) - fields[3] - fields[4];
    // /proc/self/stat: fields 14–17 are utime, stime, cutime, cstime (children the process has waited for)
    const self = readFileSync('/proc/self/stat', 'utf8');
    const own = self.slice(self.lastIndexOf(')') + 2).split(' ').slice(11, 15).map(Number).reduce((a, b) => a + b, 0);
    return { machineBusySeconds: busy / CLOCK_TICKS, ownSeconds: own / CLOCK_TICKS, at: process.hrtime.bigint() };
  } catch {
    return undefined;
  }
}

/**
 * The share of the machine's CPU time (cores × wall time) that other processes used between two readings:
 * 0 on an otherwise idle machine; 0.5 on 2 cores means one core's worth of other work ran meanwhile.
 */
export function otherCpuShare(a: CpuReading | undefined, b: CpuReading | undefined, cores: number): number | undefined {
  if (!a || !b) return undefined;
  const wall = Number(b.at - a.at) / 1e9;
  if (!(wall > 0)) return undefined;
  const other = (b.machineBusySeconds - a.machineBusySeconds) - (b.ownSeconds - a.ownSeconds);
  return Math.max(0, other) / (cores * wall);
}
