/**
 * Loads the addon through node-gyp-build (a prebuilt binary from prebuilds/, else build/Release) and gives
 * it types. Everything else in lib/ talks to native code through this module.
 */
import * as fs from 'fs';
import * as path from 'path';
import { GpuformerError } from './errors';

// eslint-disable-next-line @typescript-eslint/no-var-requires
const nodeGypBuild: { path(dir: string): string } = require('node-gyp-build');

export type DType = 'f32' | 'f16' | 'bf16' | 'i32' | 'i64' | 'i8' | 'q8_0' | 'q4_0' | 'q4_1';
export type MemoryTag = 'weights' | 'kv' | 'workspace' | 'activations' | 'other';
export type DeviceName = string; // 'cpu' | `cuda:${number}`

/** A tensor handle: bytes on one device, freed by dispose() (a finalizer is only a safety net). */
export interface Tensor {
  readonly device: DeviceName;
  readonly dtype: DType;
  readonly shape: number[];
  readonly nbytes: number;
  readonly tag: MemoryTag;
  readonly disposed: boolean;
  /** A copy of the bytes. */
  read(): ArrayBuffer;
  /** Writes elements of srcDtype (default: the tensor's) at element elemOffset, converting on the way. */
  write(data: ArrayBufferView | ArrayBuffer, elemOffset?: number, srcDtype?: DType): void;
  /** A contiguous view sharing the storage. */
  view(elemOffset: number, shape: number[]): Tensor;
  /** Streams count elements of srcDtype from a file into the tensor, off the event loop. */
  loadFile(path: string, fileOffset: number, srcDtype: DType, elemOffset: number, count: number): Promise<void>;
  dispose(): void;
  /**
   * A CPU linear weight [N, K] (no view of it alive) packed in place in the layout this machine's kernel tier
   * reads faster, where it has one for the dtype and N fills whole groups (native/cpu/gemm.h: on AVX-512, f32
   * and bf16 rows in pairs, quantized rows in groups of 16; on AVX2 quantized rows in groups of 8); returns
   * whether it did. Afterwards only linear and linears (as weights), embedding (as the table) and cast read it,
   * other ops refuse it; read() still gives the rows as they were, view() takes whole groups of rows, write()
   * and loadFile() refuse it.
   */
  packForLinear(): boolean;
}

export interface TensorStatic {
  /** options.pinned (device 'cpu', a CUDA device present): page-locked host memory CUDA copies from asynchronously */
  empty(device: DeviceName, dtype: DType, shape: number[], tag?: MemoryTag, options?: { pinned?: boolean }): Tensor;
  fromData(device: DeviceName, dtype: DType, shape: number[], data: ArrayBufferView | ArrayBuffer, tag?: MemoryTag,
    srcDtype?: DType): Tensor;
}

export interface CudaDeviceInfo {
  id: string;
  name: string;
  totalBytes: number;
  freeBytes: number;
  computeCapability: string;
  multiprocessors: number;
}

/** A CPU instruction-set level: the tier and its sub-features (native/core/cpu_isa.h). */
export interface CpuIsaLevel {
  tier: 'portable' | 'avx2' | 'avx512' | 'neon';
  /** int8 dot products: AVX512-VNNI at the avx512 tier, AVX-VNNI at avx2 */
  vnni: boolean;
  /** AVX512-BF16 dot products */
  bf16: boolean;
  /** Arm int8 dot products (SDOT), at the neon tier */
  dotprod: boolean;
}

/** The level the CPU kernels run at, what the machine offers, and what capped it ('GPUFORMER_CPU_ISA=avx2', 'GPUFORMER_CPU_BASELINE=1' or ''). */
export interface CpuIsa extends CpuIsaLevel {
  machine: CpuIsaLevel;
  cap: string;
}

export interface NativeDevices {
  devices: Array<{ id: 'cpu'; threads: number; isa: CpuIsa } | CudaDeviceInfo>;
  cuda: { compiled: boolean; available: boolean; reason?: string };
}

export type MemoryTotals = Record<MemoryTag, number> & { peak: number; allocations: number };

/** One op invocation: `op` names it, the other fields are its named arguments (see lib/ops). */
export interface Command {
  op: string;
  [arg: string]: unknown;
}

/** A program parsed once by prepare() and run any number of times; dispose() releases its tensors. */
export interface PreparedProgram {
  /** number of commands (0 once disposed) */
  readonly length: number;
  /** true once its runs replay a captured CUDA graph (a program on one CUDA device, from its second run) */
  readonly graphed: boolean;
  /** why a CUDA program runs eagerly for good ('' otherwise); GPUFORMER_CUDA_GRAPHS=0 turns graphs off */
  readonly graphNote: string;
  dispose(): void;
}

/**
 * Host → device copies of streamed (offloaded) weights beside a device's op stream, in `slots` slots: the
 * fetchSlot / waitSlot / releaseSlot commands (lib/ops) name it. On the CPU the copies happen in program order.
 */
export interface CopyQueue {
  readonly device: DeviceName;
  readonly slots: number;
}

/** native.takeOpProfile(): seconds summed by op over the programs run while profiling was on */
export interface OpProfile {
  programs: number;
  /** wall time of those programs (their steps and what lies between them) */
  seconds: number;
  ops: { op: string; calls: number; seconds: number }[];
}

export interface Binding {
  Tensor: TensorStatic;
  CopyQueue: new (device: DeviceName, slots: number) => CopyQueue;
  /** bytes per second from pinned host memory to a CUDA device, measured once per device */
  hostToDeviceBandwidth(device: DeviceName): number;
  exec(program: Command[] | PreparedProgram): Promise<void>;
  execSync(program: Command[] | PreparedProgram): void;
  prepare(program: Command[]): PreparedProgram;
  /** whether prepared CUDA programs may run as CUDA graphs (default: on unless GPUFORMER_CUDA_GRAPHS=0) */
  setCudaGraphs(on: boolean): void;
  /**
   * whether CUDA linear of M ≤ 16 rows runs on the row kernels that stream the weights (default: on unless
   * GPUFORMER_CUDA_DECODE_KERNELS=0) or on cuBLASLt / dequantize + GEMM as larger M do
   */
  setCudaDecodeKernels(on: boolean): void;
  cudaDecodeKernels(): boolean;
  opNames(): string[];
  /**
   * while on, every program runs step by step with each step timed (a CUDA step until its kernels finish: no
   * graphs, the stream drained after each), summed by op: where a forward pass's time goes, not for serving
   */
  setOpProfiling(on: boolean): void;
  /** the op profile since the last take (and resets it): programs run, their wall time, time by op */
  takeOpProfile(): OpProfile;
  devices(): NativeDevices;
  memoryTotals(device: DeviceName): MemoryTotals;
  /**
   * the bytes really held, by tag: CUDA allocations as made; on the CPU the resident part of each allocation's
   * pages (the OS backs them as they are first written), read at each call; peak: the highest total seen
   */
  committedBytes(device: DeviceName): Record<MemoryTag, number> & { peak: number };
  resetPeak(device: DeviceName): void;
  numThreads(): number;
  setNumThreads(n: number): void;
  /** the f32 FMA rate of this machine at the CPU kernels' tier, measured on registers (benchmarks' peak) */
  cpuFmaPeak(seconds?: number): { gflops: number; lanes: number; threads: number; seconds: number };
  setErrorClass(ctor: new (code: string, message: string) => Error): void;
  cudaCompiled: boolean;
}

/**
 * Where no prebuilt binary fits (or the one that should does not load) and nothing was built from source:
 * what to run. The same two commands stand in the README's install section (the pack-and-install check
 * runs them from there).
 */
function sourceBuildNeeded(why: string): GpuformerError {
  return new GpuformerError('ERR_GPUFORMER_UNSUPPORTED', `${why}. Build gpuformer's CPU backend from source (needs a `
    + 'C++17 compiler and Python 3 for node-gyp) by running, in the project that installed it:\n'
    + '  npm install-scripts approve gpuformer\n'
    + '  npm rebuild gpuformer\n'
    + '(npm 11 runs a dependency\'s install script only once the project approves it; with npm 10 or older, '
    + '`npm rebuild gpuformer` alone.)');
}

function load(): Binding {
  // GPUFORMER_ADDON points at a specific .node file (development builds in other folders); otherwise
  // node-gyp-build picks prebuilds/<platform>-<arch>/ or build/Release.
  const explicit = process.env.GPUFORMER_ADDON;
  const root = path.resolve(__dirname, '..');
  let file: string;
  try {
    file = explicit ? path.resolve(explicit) : nodeGypBuild.path(root);
  } catch (e) {
    const target = /platform=(\S+) arch=(\S+)/.exec(String((e as Error).message));
    const shipped = readdirOrEmpty(path.join(root, 'prebuilds')).join(', ') || 'none';
    throw sourceBuildNeeded(`gpuformer has no prebuilt binary for ${target ? `${target[1]}-${target[2]}` : 'this platform'} `
      + `(prebuilt: ${shipped}) and was not built from source here`);
  }
  let binding: Binding;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    binding = require(file) as Binding;
  } catch (e) {
    // the addon's own coded refusal (e.g. a bad GPUFORMER_CPU_ISA) says what is wrong; only a binary that cannot
    // load at all (wrong platform, missing library) means the prebuilt one does not fit here
    const coded = /^ERR_GPUFORMER_/.test(String((e as { code?: unknown }).code ?? ''));
    if (coded || explicit || !file.startsWith(path.join(root, 'prebuilds') + path.sep)) throw e;
    throw sourceBuildNeeded(`gpuformer's prebuilt binary ${file} does not load here (${(e as Error).message.split('\n')[0]})`);
  }
  binding.setErrorClass(GpuformerError as unknown as new (code: string, message: string) => Error);
  return binding;
}

function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

export const native: Binding = load();
export const Tensor: TensorStatic = native.Tensor;
