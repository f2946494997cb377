/**
 * The harness of test/gpu: a case builds its inputs once on the host, runs the same program of ops on the CPU
 * and on the device under test (cuda:0) from the same numbers, and compares what both wrote. The CPU ops are
 * themselves checked against float64 references in test/ops, so agreeing with them is agreeing with the
 * references.
 *
 * - Activations are f32 on the CPU (its only activation dtype) and f32, f16 or bf16 on the device. A case's
 *   activation inputs are rounded to the device's dtype first and the CPU gets exactly those rounded numbers,
 *   so a comparison measures only the device's own arithmetic, never the rounding of the inputs.
 * - Every output (and every tensor an op updates in place) starts poisoned — NaN, or a large negative
 *   integer — so an element the device never writes fails the comparison.
 * - Without a visible GPU every suite here is skipped (describeGpu / describeCuda below). Setting
 *   GPUFORMER_GPU_SUITE_DEVICE=cpu lets the CPU stand in for the device (f32 cases only; the CUDA-only
 *   suites stay skipped): a check of the suite's own logic on a machine without a GPU.
 */
import { cudaAvailable } from '../../lib/devices';
import { Command, DeviceName, DType, Tensor } from '../../lib/native';
import { runSync } from '../../lib/ops';
import { expectClose, poison } from '../helpers/compare';
import { decodeHalfBits } from '../helpers/reference';

export const STAND_IN = process.env.GPUFORMER_GPU_SUITE_DEVICE === 'cpu';
/** The device under test. */
export const DEVICE: DeviceName = STAND_IN ? 'cpu' : 'cuda:0';
const available = STAND_IN || cudaAvailable();
/** For suites that compare the device with the CPU: skipped where no GPU is visible. */
export const describeGpu = available ? describe : describe.skip;
/** For suites about CUDA itself (device-side fault reports, CUDA-only dispatch rules): never on the stand-in. */
export const describeCuda = available && !STAND_IN ? describe : describe.skip;

export type Act = 'f32' | 'f16' | 'bf16';
/** The activation dtypes the device computes in (the CPU stand-in has only f32). */
export const ACTS: Act[] = STAND_IN ? ['f32'] : ['f32', 'f16', 'bf16'];

/**
 * Device against CPU, as max |device − cpu| ÷ max |cpu| (compare.ts relError), by the dtype the device
 * computes in. Both start from the same numbers, so only the device's arithmetic counts here:
 * - f32: both accumulate in f32; they differ in summation order and in exp / erf / tanh / division (the CUDA
 *   build uses fast math: a few ulp), about 1e-6 of the largest output at these sizes. 1e-5 leaves room for
 *   4096-long sums while a TF32 slip (~1e-3) or any indexing or masking error stays far outside.
 * - f16 / bf16: the device also rounds its output and some intermediates (attention's probabilities before
 *   the P·V product, the fused residual sum of the norms, weights converted into the activation dtype) to
 *   11 / 8 significant bits, unit roundoff 4.9e-4 / 3.9e-3; a few of those per output: 1e-2 / 2e-2.
 *   (Emulated in float64 for attention over 257 to 2000 keys, rounding the probabilities and the output:
 *   3.5e-4 of the largest output in f16, 3e-3 in bf16.)
 */
export const VS_CPU: Record<Act, number> = { f32: 1e-5, f16: 1e-2, bf16: 2e-2 };

const live: Tensor[] = [];
const track = (t: Tensor): Tensor => {
  live.push(t);
  return t;
};

/** Frees every tensor the harness made (call from afterEach). */
export function disposeAll(): void {
  while (live.length) live.pop()!.dispose();
}

/** How one tensor of a case is made on each device. */
export type Spec =
  /** activations: f32 on the CPU, the case's activation dtype on the device, the same numbers in both */
  | { kind: 'act'; shape: number[]; values: Float32Array }
  /** the same dtype and bytes on both devices: weights, tables, indices, slopes, sampling parameters */
  | { kind: 'raw'; dtype: DType; shape: number[]; data: ArrayBufferView }
  /** an output, poisoned; 'act' is f32 on the CPU and the activation dtype on the device */
  | { kind: 'out'; shape: number[]; dtype: DType | 'act' };

export const act = (shape: number[], values: Float32Array): Spec => ({ kind: 'act', shape, values });
export const raw = (dtype: DType, shape: number[], data: ArrayBufferView): Spec => ({ kind: 'raw', dtype, shape, data });
export const i32s = (data: ArrayLike<number>, shape: number[] = [data.length]): Spec =>
  raw('i32', shape, Int32Array.from(data));
export const f32s = (data: ArrayLike<number>, shape: number[] = [data.length]): Spec =>
  raw('f32', shape, Float32Array.from(data));
export const output = (shape: number[], dtype: DType | 'act' = 'act'): Spec => ({ kind: 'out', shape, dtype });

/** The numbers a tensor holds. */
export function numbers(t: Tensor): Float64Array {
  const bytes = t.read();
  switch (t.dtype) {
    case 'f32': return Float64Array.from(new Float32Array(bytes));
    case 'f16': case 'bf16': return decodeHalfBits(new Uint16Array(bytes), t.dtype);
    case 'i32': return Float64Array.from(new Int32Array(bytes));
    default: throw new Error(`numbers: a ${t.dtype} tensor has no plain element values`);
  }
}

/** values rounded to `a`: the bits the device tensor gets and the numbers both devices hold. */
function toActivation(a: Act, shape: number[], values: Float32Array): { bits: ArrayBufferView; numbers: Float64Array } {
  if (a === 'f32') return { bits: values, numbers: Float64Array.from(values) };
  const t = Tensor.fromData('cpu', a, shape, values, 'other', 'f32');  // the addon's own rounding
  try {
    const bits = new Uint16Array(t.read());
    return { bits, numbers: decodeHalfBits(bits, a) };
  } finally {
    t.dispose();
  }
}

type Tensors = Record<string, Tensor>;

/** One tensor of `spec` on `device` (activations in `a` there unless it is the CPU). */
function make(device: DeviceName, a: Act, spec: Spec, rounded?: { bits: ArrayBufferView; numbers: Float64Array }): Tensor {
  const onCpu = device === 'cpu';
  if (spec.kind === 'raw') {
    const src: DType | undefined = spec.data instanceof Float32Array && spec.dtype !== 'f32' ? 'f32' : undefined;
    return track(Tensor.fromData(device, spec.dtype, spec.shape, spec.data, 'other', src));
  }
  if (spec.kind === 'out') {
    const dtype = spec.dtype === 'act' ? (onCpu ? 'f32' : a) : spec.dtype;
    return poison(track(Tensor.empty(device, dtype, spec.shape, 'other')));
  }
  const r = rounded ?? toActivation(a, spec.shape, spec.values);
  if (onCpu) return track(Tensor.fromData('cpu', 'f32', spec.shape, Float32Array.from(r.numbers)));
  return track(Tensor.fromData(device, a, spec.shape, r.bits));
}

/** The tensors of a case on the device under test only (for cases with no CPU counterpart). */
export function onDevice(a: Act, specs: Record<string, Spec>): Tensors {
  return Object.fromEntries(Object.entries(specs).map(([name, s]) => [name, make(DEVICE, a, s)]));
}

export interface Both {
  /** each activation input's numbers as both devices hold them (after rounding to the activation dtype) */
  inputs: Record<string, Float64Array>;
  /** every activation and output tensor after the program ran, read back as numbers */
  cpu: Record<string, Float64Array>;
  dev: Record<string, Float64Array>;
}

/**
 * Makes the tensors of `specs` on the CPU and on the device, runs program(tensors) on each, and reads back
 * every activation and output tensor (in-place ops update activations).
 */
export function runBoth(a: Act, specs: Record<string, Spec>, program: (t: Tensors) => Command[]): Both {
  const inputs: Record<string, Float64Array> = {};
  const cpu: Tensors = {};
  const dev: Tensors = {};
  for (const [name, s] of Object.entries(specs)) {
    const r = s.kind === 'act' ? toActivation(a, s.shape, s.values) : undefined;
    if (r) inputs[name] = r.numbers;
    cpu[name] = make('cpu', a, s, r);
    dev[name] = make(DEVICE, a, s, r);
  }
  runSync(program(cpu));
  runSync(program(dev));
  const readBack = Object.keys(specs).filter((n) => specs[n].kind !== 'raw');
  const read = (t: Tensors) => Object.fromEntries(readBack.map((n) => [n, numbers(t[n])]));
  return { inputs, cpu: read(cpu), dev: read(dev) };
}

/** The device's `name` within tol of the CPU's (relative to the CPU's largest magnitude). */
export function expectAgree(b: Both, name: string, a: Act, what: string, tol = VS_CPU[a]): void {
  expectClose(b.dev[name], b.cpu[name], tol, `${what} [${a}, ${name}]: ${DEVICE} vs cpu`);
}

/** Element for element identical (NaN matches NaN; the sign of zero counts): copies, casts, indices. */
export function expectSame(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  if (got.length !== want.length) throw new Error(`${what}: ${got.length} elements, want ${want.length}`);
  for (let i = 0; i < want.length; i++) {
    const same = Number.isNaN(want[i]) ? Number.isNaN(got[i]) : Object.is(got[i], want[i]);
    if (!same) throw new Error(`${what}: element ${i} is ${got[i]}, want ${want[i]}`);
  }
}

/** Prefix sums of sequence lengths: the cu_seqlens of a packed batch. */
export const cuSeqlens = (lens: number[]): number[] => lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0]);
