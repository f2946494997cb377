/**
 * The planning step of a load (Engine.load, and `gpuformer inspect`): for an opened model (no weights
 * read), decide the device, the dtypes (lib/models/precision), the weights each forward pass asks for
 * (lib/models/weights) and the memory plan (lib/memory/planner), and from them the one resolved
 * configuration every later floor takes its part of (LoadPlan). planForSource is the one place these are
 * combined, so inspect and load can never disagree.
 */
import { inputError } from '../errors';
import { DeviceName, native } from '../native';
import type { ModelSource } from '../core/source';
import type { StepBudget } from '../core/step';
import type { LoopOptions } from './loop';
import { DEFAULT_HOST_TO_DEVICE, HostToDevice } from '../memory/offload';
import { MemoryBudgetOptions, MemoryPlan, WeightEntry, computeMemoryPlan, planMemory, weightEntries } from '../memory/planner';
import { checkDeviceSupport } from '../models/device-support';
import { Precision, choosePrecision } from '../models/precision';
import { WeightPlan, planWeights } from '../models/weights';
import type { RunnerOptions } from '../models/workspace';
import { DEVICE_OPTION, LoadOptions } from './options';

/** Engine.load's options as planning takes them, and deviceTotalBytes to plan for a device this machine lacks. */
export interface PlanOptions extends Omit<LoadOptions, 'onProgress' | 'device'>, Pick<MemoryBudgetOptions, 'deviceTotalBytes'> {
  /** as LoadOptions.device: 'auto' (default), 'cpu', 'cuda', 'cuda:N' (any string: resolveDevice checks it) */
  device?: string;
}

/**
 * A load resolved once, from the options, the model and the device: every number the floors below use
 * comes from here, each floor taking its part (the runner its options, the loop its budgets).
 */
export interface LoadPlan {
  device: DeviceName;
  precision: Precision;
  /** the requests lib/loader/weights.loadWeights takes, and the prefix the model views need */
  weightPlan: WeightPlan;
  weights: WeightEntry[];
  /** the planner's numbers (engine.plan(), `gpuformer inspect`) */
  memory: MemoryPlan;
  /** what the model runner is built with (lib/models/runner.ts) */
  runner: RunnerOptions;
  /** the engine loop's and the scheduler's step budgets, and whether the scheduler caches prefixes */
  loop: LoopOptions;
  /** what embed() truncates text to: sentence-transformers' max_seq_length, else the position table; within maxModelLen */
  maxSeqLength: number;
}

/** 'auto' | 'cpu' | 'cuda' | 'cuda:N' → 'cpu' | 'cuda:N'. Planning for an absent GPU needs deviceTotalBytes. */
export function resolveDevice(device: string | undefined, deviceTotalBytes?: number): DeviceName {
  const d = device ?? 'auto';
  const cuda = native.devices().cuda;
  if (d === 'auto') return cuda.available ? 'cuda:0' : 'cpu';
  if (d === 'cpu') return 'cpu';
  if (!DEVICE_OPTION.test(d)) throw inputError(`device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got '${d}'`);
  if (!cuda.available && deviceTotalBytes === undefined) {
    throw inputError(`device '${d}': CUDA is not available here (${cuda.reason ?? 'unknown reason'}); to plan for a GPU ` +
      'this machine lacks, give its memory size (deviceTotalBytes, CLI --device-memory)');
  }
  return `cuda:${d === 'cuda' ? 0 : Number(d.slice('cuda:'.length))}`;
}

/**
 * The host → device bandwidth of the device planned for: measured (once) when it is the one present here, the
 * stated default when planning for another (deviceTotalBytes: a GPU this machine lacks).
 */
function hostToDevice(device: DeviceName, plannedElsewhere: boolean): HostToDevice {
  const present = !plannedElsewhere && device !== 'cpu' && native.devices().devices.some((d) => d.id === device);
  return present ? { bytesPerSecond: native.hostToDeviceBandwidth(device), source: `measured on ${device}` } : DEFAULT_HOST_TO_DEVICE;
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
  const opts = { ...o, device, activationDtype: precision.activation, hostToDevice: () => hostToDevice(device, o.deviceTotalBytes !== undefined) };
  const memory = strict ? planMemory(source.spec, weights, opts) : computeMemoryPlan(source.spec, weights, opts);
  const budget: StepBudget = {
    maxNumBatchedTokens: memory.workspace.maxNumBatchedTokens, maxNumSeqs: memory.workspace.maxNumSeqs, maxModelLen: memory.maxModelLen,
  };
  return {
    device, precision, weightPlan, weights, memory, loop: { ...budget, enablePrefixCaching: o.enablePrefixCaching ?? true },
    runner: {
      ...budget, device, activationDtype: precision.activation, blockSize: memory.kv.blockSize, numBlocks: memory.kv.blocks,
      ...(memory.offload ? { streamedLayers: memory.offload.hostLayers } : {}),
      batchInvariant: o.batchInvariant ?? false,
    },
    maxSeqLength: Math.min(source.maxSeqLength ?? source.spec.maxPositionEmbeddings, memory.maxModelLen),
  };
}
