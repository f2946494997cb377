/**
 * The planning step of a load (Engine.load, and `gpuformer inspect`): for an opened model (no weights
 * read), decide the device, the dtypes (lib/models/precision), the weights each forward pass asks for
 * (lib/models/weights) and the memory plan (lib/memory/planner). planForSource is the one place these are
 * combined, so inspect and load can never disagree.
 */
import { inputError } from '../errors';
import { DeviceName, native } from '../native';
import type { ModelSource } from '../core/source';
import { MemoryPlan, WeightEntry, computeMemoryPlan, planMemory, weightEntries } from '../memory/planner';
import { checkDeviceSupport } from '../models/device-support';
import { DtypeChoice, Precision, choosePrecision } from '../models/precision';
import { WeightPlan, planWeights } from '../models/weights';

export interface PlanOptions {
  /** 'auto' (default: the first CUDA device when usable, else the CPU), 'cpu', 'cuda', 'cuda:N' */
  device?: string;
  /** 'auto' (default), 'float32', 'float16', 'bfloat16' (see lib/models/precision) */
  dtype?: DtypeChoice;
  gpuMemoryUtilization?: number;
  memoryBudgetBytes?: number;
  /** plan for a device of this many bytes (e.g. a GPU this machine lacks) */
  deviceTotalBytes?: number;
  maxModelLen?: number;
  maxNumBatchedTokens?: number;
  maxNumSeqs?: number;
  blockSize?: number;
}

export interface LoadPlan {
  device: DeviceName;
  precision: Precision;
  /** the requests lib/loader/weights.loadWeights takes, and the prefix the model views need */
  weightPlan: WeightPlan;
  weights: WeightEntry[];
  memory: MemoryPlan;
}

/** 'auto' | 'cpu' | 'cuda' | 'cuda:N' → 'cpu' | 'cuda:N'. Planning for an absent GPU needs deviceTotalBytes. */
export function resolveDevice(device: string | undefined, deviceTotalBytes?: number): DeviceName {
  const d = device ?? 'auto';
  const cuda = native.devices().cuda;
  if (d === 'auto') return cuda.available ? 'cuda:0' : 'cpu';
  if (d === 'cpu') return 'cpu';
  const m = /^cuda(?::(\d+))?$/.exec(d);
  if (!m) throw inputError(`device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '${d}'`);
  if (!cuda.available && deviceTotalBytes === undefined) {
    throw inputError(`device '${d}': CUDA is not available here (${cuda.reason ?? 'unknown reason'}); to plan for a GPU ` +
      'this machine lacks, give its memory size (deviceTotalBytes, CLI --device-memory)');
  }
  return `cuda:${m[1] ?? 0}`;
}

/**
 * The dtypes, weight requests and memory plan of loading `source` with these options. `strict` (the
 * default, what Engine.load uses) throws ERR_GPUFORMER_OOM when it cannot fit; inspect passes false to
 * show the plan with its shortfall instead.
 */
export function planForSource(source: ModelSource, o: PlanOptions = {}, strict = true): LoadPlan {
  const device = resolveDevice(o.device, o.deviceTotalBytes);
  checkDeviceSupport(source.spec, device);
  const precision = choosePrecision(device === 'cpu', o.dtype ?? 'auto', source.spec.checkpointDtype);
  const weightPlan = planWeights(source.spec, source.tensors, precision.weights);
  const weights = weightEntries(source.tensors, weightPlan.requests);
  const opts = {
    device, activationDtype: precision.activation,
    gpuMemoryUtilization: o.gpuMemoryUtilization, memoryBudgetBytes: o.memoryBudgetBytes, deviceTotalBytes: o.deviceTotalBytes,
    maxModelLen: o.maxModelLen, maxNumBatchedTokens: o.maxNumBatchedTokens, maxNumSeqs: o.maxNumSeqs, blockSize: o.blockSize,
  };
  const memory = strict ? planMemory(source.spec, weights, opts) : computeMemoryPlan(source.spec, weights, opts);
  return { device, precision, weightPlan, weights, memory };
}
