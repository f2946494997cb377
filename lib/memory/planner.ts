/**
 * The memory planner: what a load will need and what fits, computed BEFORE anything is allocated
 * (DESIGN section 5). Parameter bytes by group at the dtypes the weights will be stored in (quantized
 * GGUF blocks at their block size; a tied LM head counted once), KV bytes per token and per block,
 * the runner's workspace for one step of maxNumBatchedTokens tokens (its exact buffer sizes, from
 * lib/models/workspace), and the budget: gpuMemoryUtilization × device memory on CUDA, memoryBudgetBytes
 * (default half of system memory) on the CPU. KV blocks are what the budget leaves; maxModelLen defaults
 * to the model's position limit, capped at what fits. On CUDA, when the weights leave no room for the KV cache
 * of one sequence of maxModelLen (default: one step of maxNumBatchedTokens) and the workspace, whole layers move
 * to pinned host memory and stream in per step (offload.ts): the planner keeps as many layers on the GPU as fit,
 * unless gpuLayers / cpuOffloadBytes say how many. When the model cannot fit, planMemory throws
 * ERR_GPUFORMER_OOM saying how many bytes are missing and which knob would help.
 */
import * as os from 'os';
import { inputError, oom } from '../errors';
import { DType, DeviceName, native } from '../native';
import { dtypeNbytes } from '../core/dtype';
import type { TensorSource, WeightRequest } from '../core/source';
import { ModelSpec, kvBytesPerToken } from '../core/spec';
import type { KvCacheShape, StepBudget } from '../core/step';
import { expectedTensors } from '../loader/shapes';
import { requestedLayout } from '../loader/weights';
import { runnerWorkspaceBytes } from '../models/workspace';
import { formatBytes } from './format';
import {
  DEFAULT_HOST_TO_DEVICE, HostToDevice, OffloadOptions, OffloadPlan, Split, bytesByLayer, deviceWeightBytes, overriddenGpuLayers,
  priced, splitAt,
} from './offload';

export type ParamGroup = 'tokenEmbedding' | 'positionEmbedding' | 'attention' | 'mlp' | 'norms' | 'lmHead' | 'classifier' | 'other';

export const PARAM_GROUPS: ParamGroup[] = ['tokenEmbedding', 'positionEmbedding', 'attention', 'mlp', 'norms', 'lmHead', 'classifier', 'other'];

/** One weight as it will be stored on the device. */
export interface WeightEntry {
  name: string;
  dtype: DType;
  numel: number;
  bytes: number;
}

export interface GroupTotals {
  tensors: number;
  params: number;
  bytes: number;
}

/** How much memory a load may use. */
export interface MemoryBudgetOptions {
  /** CUDA: share of the device's memory to use (weights + KV cache + workspace); default 0.9 */
  gpuMemoryUtilization?: number;
  /** an explicit byte budget (overrides gpuMemoryUtilization); the CPU's default is half of system memory */
  memoryBudgetBytes?: number;
  /** the device's total bytes, to plan for a device other than the one present (inspect --device-memory) */
  deviceTotalBytes?: number;
}

/** What the planner is asked: the device and dtype, the budget, and whichever step budgets the caller fixed. */
export interface MemoryPlanOptions extends MemoryBudgetOptions, OffloadOptions, Partial<StepBudget>, Partial<Pick<KvCacheShape, 'blockSize'>> {
  /** 'cpu' or 'cuda:N' */
  device: DeviceName;
  /** dtype of activations and of the KV cache (f32 on the CPU; f16/bf16/f32 on CUDA) */
  activationDtype: DType;
  /** how fast host memory reaches the device: asked only when layers stream (default DEFAULT_HOST_TO_DEVICE) */
  hostToDevice?: () => HostToDevice;
  /** host bytes pinned memory may take (default: half of system memory, as the CPU's budget) */
  hostBudgetBytes?: number;
}

export interface MemoryPlan {
  device: DeviceName;
  budget: { bytes: number; /** how it was derived, in words */ source: string };
  dtypes: { weights: string; activations: DType; kv: DType };
  params: {
    groups: Record<ParamGroup, GroupTotals>;
    count: number;
    bytes: number;
    /** the LM head reuses the token embedding (counted once, under tokenEmbedding) */
    tiedLmHead: boolean;
    /** weight bytes on the device: all of them, or with offload the resident ones and the staging slots */
    deviceBytes: number;
  };
  /** CUDA only, when layers stream from pinned host memory (offload.ts); absent when every weight is on the device */
  offload?: OffloadPlan;
  workspace: { bytes: number } & Pick<StepBudget, 'maxNumBatchedTokens' | 'maxNumSeqs'>;
  /** decoders only; encoders have blocks = 0 */
  kv: { dtype: DType; bytesPerToken: number; blockSize: number; blockBytes: number; blocks: number; bytes: number; tokens: number };
  maxModelLen: number;
  /** what set maxModelLen: the option, the model's position limit, or the memory left for the KV cache */
  maxModelLenFrom: 'option' | 'config' | 'memory';
  /** sequences of maxModelLen tokens whose KV cache fits at once (encoders: maxNumSeqs) */
  concurrentSequences: number;
  /** device bytes: weights on the device + workspace + KV cache */
  totalBytes: number;
  fits: boolean;
  /** bytes missing when it does not fit (0 otherwise) */
  shortfallBytes: number;
  /** when it does not fit: what would make it fit */
  advice: string[];
}

// ------------------------------------------------------------------------------------- weights

/** The weights a load stores: each request's layout (slices, transposes and dtype applied) and bytes. */
export function weightEntries(tensors: Map<string, TensorSource>, requests: Map<string, WeightRequest>): WeightEntry[] {
  const out: WeightEntry[] = [];
  for (const [name, req] of requests) {
    const src = tensors.get(name);
    if (!src) throw inputError(`weightEntries: no tensor '${name}' in the source`);
    const { dtype, shape } = requestedLayout(src, req);
    const numel = shape.reduce((a, b) => a * b, 1);
    out.push({ name, dtype, numel, bytes: dtypeNbytes(dtype, numel) });
  }
  return out;
}

/** The weights of a model described only by its spec (no checkpoint), all stored in `dtype`. */
export function weightEntriesFromSpec(spec: ModelSpec, dtype: DType): WeightEntry[] {
  return expectedTensors(spec)
    .filter((e) => e.required)
    .map((e) => {
      const numel = e.shape.reduce((a, b) => a * b, 1);
      return { name: e.name, dtype, numel, bytes: dtypeNbytes(dtype, numel) };
    });
}

/** Which group a Hugging Face weight name belongs to. */
export function paramGroup(name: string): ParamGroup {
  if (/(^|\.)lm_head\./.test(name)) return 'lmHead';
  if (/(^|\.)(pooler|classifier)\./.test(name)) return 'classifier';
  if (/(^|\.)(embed_tokens|wte|word_embeddings)\./.test(name)) return 'tokenEmbedding';
  if (/(^|\.)(wpe|position_embeddings|token_type_embeddings)\./.test(name)) return 'positionEmbedding';
  if (/norm|LayerNorm|(^|\.)ln_(\d+|f)\./.test(name)) return 'norms';
  if (/(^|\.)(self_attn|attn|attention)\./.test(name)) return 'attention';
  if (/(^|\.)(mlp|intermediate|output)\./.test(name)) return 'mlp';
  return 'other';
}

function groupTotals(weights: WeightEntry[]): Record<ParamGroup, GroupTotals> {
  const groups = Object.fromEntries(PARAM_GROUPS.map((g) => [g, { tensors: 0, params: 0, bytes: 0 }])) as Record<ParamGroup, GroupTotals>;
  for (const w of weights) {
    const g = groups[paramGroup(w.name)];
    g.tensors += 1;
    g.params += w.numel;
    g.bytes += w.bytes;
  }
  return groups;
}

function describeDtypes(weights: WeightEntry[]): string {
  const bytes = new Map<DType, number>();
  for (const w of weights) bytes.set(w.dtype, (bytes.get(w.dtype) ?? 0) + w.bytes);
  const sorted = [...bytes.entries()].sort((a, b) => b[1] - a[1]);
  return sorted.length === 1 ? sorted[0][0] : sorted.map(([d, b]) => `${d} ${formatBytes(b)}`).join(' + ');
}

// ------------------------------------------------------------------------------------- budget

/** The CPU's default budget: this share of system memory. */
export const CPU_SHARE = 0.5;

function cudaTotalBytes(device: DeviceName): number {
  const d = native.devices();
  if (!d.cuda.available) throw inputError(`device '${device}': CUDA is not available here (${d.cuda.reason ?? 'unknown reason'})`);
  const info = d.devices.find((x) => x.id === device);
  if (!info || !('totalBytes' in info)) {
    throw inputError(`device '${device}' does not exist (devices: ${d.devices.map((x) => x.id).join(', ')})`);
  }
  return info.totalBytes;
}

function budgetOf(o: MemoryPlanOptions): { bytes: number; source: string } {
  if (o.memoryBudgetBytes !== undefined) return { bytes: Math.floor(o.memoryBudgetBytes), source: 'memoryBudgetBytes' };
  if (o.device === 'cpu') {
    const total = o.deviceTotalBytes ?? os.totalmem();
    return { bytes: Math.floor(total * CPU_SHARE), source: `${CPU_SHARE * 100}% of ${formatBytes(total)} system memory` };
  }
  const util = o.gpuMemoryUtilization ?? 0.9;
  const total = o.deviceTotalBytes ?? cudaTotalBytes(o.device);
  return { bytes: Math.floor(util * total), source: `gpuMemoryUtilization ${util} × ${formatBytes(total)} on ${o.device}` };
}

// ------------------------------------------------------------------------------------- plan

/**
 * The plan, whether or not it fits (plan.fits, plan.shortfallBytes, plan.advice say). Throws
 * ERR_GPUFORMER_INPUT only for options that contradict the model (maxModelLen past its positions).
 */
export function computeMemoryPlan(spec: ModelSpec, weights: WeightEntry[], o: MemoryPlanOptions): MemoryPlan {
  const blockSize = o.blockSize ?? 16;
  const maxNumSeqs = o.maxNumSeqs ?? (o.device === 'cpu' ? 64 : 256);
  const maxPos = spec.maxPositionEmbeddings;
  if (o.maxModelLen !== undefined && o.maxModelLen > maxPos) {
    throw inputError(`maxModelLen ${o.maxModelLen} is more than the ${maxPos} positions ${spec.architecture} was made for ` +
      '(max_position_embeddings in config.json)');
  }
  const maxNumBatchedTokens = o.maxNumBatchedTokens ??
    (spec.causal ? 2048 : Math.max(16384, o.maxModelLen ?? maxPos));
  if (!spec.causal && o.maxModelLen !== undefined && maxNumBatchedTokens < o.maxModelLen) {
    throw inputError(`maxNumBatchedTokens ${maxNumBatchedTokens} is less than maxModelLen ${o.maxModelLen}: an encoder ` +
      'processes each input in one step');
  }

  const budget = budgetOf(o);
  const groups = groupTotals(weights);
  const weightBytes = weights.reduce((a, w) => a + w.bytes, 0);
  const paramCount = weights.reduce((a, w) => a + w.numel, 0);
  const tiedLmHead = spec.causal && groups.lmHead.tensors === 0;
  const kvDtype = o.activationDtype;
  const bytesPerToken = spec.causal ? kvBytesPerToken(spec, kvDtype) : 0;
  const blockBytes = bytesPerToken * blockSize;

  const workspaceFor = (maxModelLen: number) => runnerWorkspaceBytes(spec, {
    activationDtype: o.activationDtype, maxNumBatchedTokens, maxNumSeqs, maxModelLen, blockSize,
  });
  const encoderLen = o.maxModelLen ?? Math.min(maxPos, maxNumBatchedTokens);

  /** device bytes a load with `deviceWeights` of weights on the device needs to serve one sequence of `len` tokens */
  const requiredFor = (deviceWeights: number, len: number) => spec.causal
    ? deviceWeights + workspaceFor(len) + Math.ceil(len / blockSize) * blockBytes
    : deviceWeights + workspaceFor(encoderLen);

  // ---- the split: every layer on the device, or the first ones (offload.ts)
  const { perLayer } = bytesByLayer(weights, spec.numLayers);
  const hostBudget = o.hostBudgetBytes ?? Math.floor(os.totalmem() * CPU_SHARE);
  /** the context a split must leave room for: maxModelLen, or one step of tokens */
  const minContext = o.maxModelLen ?? Math.min(maxPos, maxNumBatchedTokens);
  const fitsWith = (split?: Split) => requiredFor(deviceWeightBytes(weightBytes, split), minContext) <= budget.bytes &&
    (split?.hostBytes ?? 0) <= hostBudget;
  /** the most layers that fit on the device with the rest streamed, if any split fits */
  const bestSplit = (): Split | undefined => {
    for (let g = spec.numLayers - 1; g >= 0; g--) {
      const split = splitAt(perLayer, g, 'memory');
      if (fitsWith(split)) return split;
    }
    return undefined;
  };
  const overridden = overriddenGpuLayers(o, perLayer, o.device);
  let split: Split | undefined;
  if (overridden !== undefined) {
    if (overridden < spec.numLayers) split = splitAt(perLayer, overridden, o.gpuLayers !== undefined ? 'gpuLayers' : 'cpuOffloadBytes');
  } else if (o.device !== 'cpu' && !fitsWith(undefined)) {
    split = bestSplit();
  }
  const deviceWeights = deviceWeightBytes(weightBytes, split);
  const required = (len: number) => requiredFor(deviceWeights, len);

  /**
   * The longest sequence (whole blocks, at most `limit`) that fits the budget, or undefined. The
   * workspace grows with the length too (block tables), so this searches rather than divides.
   */
  const longestFitting = (limit: number): number | undefined => {
    if (required(limit) <= budget.bytes) return limit;
    let lo = 0; // blocks known to fit (0: none)
    let hi = Math.ceil(limit / blockSize); // blocks known not to fit
    while (hi - lo > 1) {
      const mid = (lo + hi) >> 1;
      if (required(mid * blockSize) <= budget.bytes) lo = mid;
      else hi = mid;
    }
    return lo > 0 ? lo * blockSize : undefined;
  };

  let maxModelLen: number;
  let maxModelLenFrom: MemoryPlan['maxModelLenFrom'];
  let blocks = 0;
  let workspace: number;
  let requiredBytes: number;

  if (!spec.causal) {
    maxModelLen = encoderLen;
    maxModelLenFrom = o.maxModelLen !== undefined ? 'option' : 'config';
    workspace = workspaceFor(maxModelLen);
    requiredBytes = required(maxModelLen);
  } else {
    if (o.maxModelLen !== undefined) {
      maxModelLen = o.maxModelLen;
      maxModelLenFrom = 'option';
    } else {
      const longest = longestFitting(maxPos);
      maxModelLen = longest ?? Math.min(maxPos, blockSize); // nothing fits: plan one block, to say what is missing
      maxModelLenFrom = longest !== undefined && longest < maxPos ? 'memory' : 'config';
    }
    workspace = workspaceFor(maxModelLen);
    const perSequence = Math.ceil(maxModelLen / blockSize);
    blocks = Math.max(0, Math.floor((budget.bytes - deviceWeights - workspace) / blockBytes));
    // CPU memory is shared with everything else on the machine: reserve no more KV than maxNumSeqs
    // sequences of maxModelLen can use. On CUDA the KV cache takes what the budget leaves (as vLLM does).
    if (o.device === 'cpu') blocks = Math.min(blocks, maxNumSeqs * perSequence);
    requiredBytes = required(maxModelLen);
  }

  const kvBytes = blocks * blockBytes;
  const perSequence = spec.causal ? Math.ceil(maxModelLen / blockSize) : 0;
  const hostFits = (split?.hostBytes ?? 0) <= hostBudget;
  const fits = requiredBytes <= budget.bytes && hostFits;
  const plan: MemoryPlan = {
    device: o.device,
    budget,
    dtypes: { weights: describeDtypes(weights), activations: o.activationDtype, kv: kvDtype },
    params: { groups, count: paramCount, bytes: weightBytes, tiedLmHead, deviceBytes: deviceWeights },
    ...(split ? { offload: priced(split, o.hostToDevice?.() ?? DEFAULT_HOST_TO_DEVICE) } : {}),
    workspace: { bytes: workspace, maxNumBatchedTokens, maxNumSeqs },
    kv: { dtype: kvDtype, bytesPerToken, blockSize, blockBytes, blocks, bytes: kvBytes, tokens: blocks * blockSize },
    maxModelLen,
    maxModelLenFrom,
    concurrentSequences: spec.causal ? Math.floor(blocks / Math.max(1, perSequence)) : maxNumSeqs,
    totalBytes: deviceWeights + workspace + kvBytes,
    fits,
    shortfallBytes: fits ? 0 : Math.max(0, requiredBytes - budget.bytes),
    advice: [],
  };
  if (!fits) {
    const offloadAdvice = offloadAdviceFor(plan, o, split, hostBudget, bestSplit, () => requiredFor(deviceWeightBytes(weightBytes,
      splitAt(perLayer, 0, 'memory')), minContext), minContext);
    // when only host memory is short, the device's knobs do not help
    const deviceAdvice = requiredBytes > budget.bytes ? adviceFor(plan, spec, weights, o, requiredBytes, spec.causal ? longestFitting(maxModelLen) : undefined) : [];
    plan.advice = [...deviceAdvice, ...offloadAdvice];
  }
  return plan;
}

/** What offload can do for a plan that does not fit (CUDA only). */
function offloadAdviceFor(plan: MemoryPlan, o: MemoryPlanOptions, split: Split | undefined, hostBudget: number,
  bestSplit: () => Split | undefined, allStreamed: () => number, minContext: number): string[] {
  if (o.device === 'cpu') return [];
  const advice: string[] = [];
  if (split && split.hostBytes > hostBudget) {
    advice.push(`host memory: the ${split.hostLayers.length} streamed layers take ${formatBytes(split.hostBytes)} of pinned memory, ` +
      `more than the ${formatBytes(hostBudget)} allowed (half of system memory)`);
  }
  const best = bestSplit();
  if (o.gpuLayers !== undefined || o.cpuOffloadBytes !== undefined) {
    if (best) advice.push(`gpuLayers: at most ${best.gpuLayers} of ${best.layers} layers fit on the GPU with the rest streamed`);
  } else if (!best) {
    advice.push(`offload: even with every layer streamed from host memory (gpuLayers 0) the GPU needs ${formatBytes(allStreamed())} ` +
      `(embeddings, LM head, two layers of staging, workspace, KV cache for ${minContext} tokens)`);
  }
  return advice;
}

/** What would make a plan that does not fit fit: one line per knob that helps. */
function adviceFor(plan: MemoryPlan, spec: ModelSpec, weights: WeightEntry[], o: MemoryPlanOptions, required: number,
  longestFitting: number | undefined): string[] {
  const advice: string[] = [];
  const missing = plan.shortfallBytes;
  const halfBytes = weights.reduce((a, w) => a + (w.dtype === 'f32' ? w.numel * 2 : w.bytes), 0);
  if (halfBytes < plan.params.bytes) {
    const saved = plan.params.bytes - halfBytes;
    advice.push(`dtype: 'float16' or 'bfloat16' stores the f32 weights in ${formatBytes(halfBytes)} (saves ${formatBytes(saved)}` +
      `${saved >= missing ? ', enough' : ', not enough alone'})`);
  }
  // quantizing at load: the float matrices of the layers and the head in 8-bit blocks (34 bytes per 32 values)
  const matrices = weights.filter((w) => ['attention', 'mlp', 'lmHead'].includes(paramGroup(w.name)) && FLOAT_WEIGHT.has(w.dtype) &&
    w.numel % 32 === 0);
  const q8Saved = matrices.reduce((a, w) => a + w.bytes - (w.numel / 32) * 34, 0);
  if (q8Saved > 0 && plan.params.bytes > 0) {
    advice.push(`dtype: 'q8_0' (or 'q4_0') quantizes the float matrices while loading: about ${formatBytes(q8Saved)} less in q8_0` +
      `${q8Saved >= missing ? ', enough' : ', not enough alone'}`);
  }
  if (spec.causal && o.maxModelLen !== undefined && longestFitting !== undefined) {
    advice.push(`maxModelLen: at most ${longestFitting} fits (asked for ${o.maxModelLen})`);
  }
  const tokens = plan.workspace.maxNumBatchedTokens;
  if (plan.workspace.bytes > missing && tokens > 256) {
    advice.push(`maxNumBatchedTokens: the workspace for ${tokens} tokens per step is ${formatBytes(plan.workspace.bytes)}; fewer ` +
      'tokens per step shrink it');
  }
  if (o.memoryBudgetBytes !== undefined || o.device === 'cpu') {
    advice.push(`memoryBudgetBytes: at least ${required} (${formatBytes(required)}) is needed, the budget is ${formatBytes(plan.budget.bytes)}`);
  } else {
    const util = o.gpuMemoryUtilization ?? 0.9;
    const total = plan.budget.bytes / util;
    const needUtil = required / total;
    if (needUtil <= 1) advice.push(`gpuMemoryUtilization: ${Math.ceil(needUtil * 100) / 100} or more (now ${util})`);
    else advice.push(`the device has ${formatBytes(total)}; the model needs ${formatBytes(required)} even with all of it`);
  }
  return advice;
}

const FLOAT_WEIGHT: ReadonlySet<DType> = new Set<DType>(['f32', 'f16', 'bf16']);

/** The weights part of a plan in words: their bytes, and with offload what stays on the device. */
export function describeWeights(plan: MemoryPlan): string {
  const all = `${formatBytes(plan.params.bytes)} (${plan.dtypes.weights})`;
  const s = plan.offload;
  if (!s) return all;
  return `${all}, of which ${formatBytes(plan.params.deviceBytes)} on the device (${s.gpuLayers} of ${s.layers} layers, and ` +
    `${s.slots} staging slot${s.slots === 1 ? '' : 's'} for the ${s.hostLayers.length} streamed from host memory)`;
}

/** computeMemoryPlan, throwing ERR_GPUFORMER_OOM (before anything is allocated) when the model cannot fit. */
export function planMemory(spec: ModelSpec, weights: WeightEntry[], o: MemoryPlanOptions): MemoryPlan {
  const plan = computeMemoryPlan(spec, weights, o);
  if (!plan.fits) {
    const kvPart = spec.causal
      ? ` + KV cache for one sequence of ${plan.maxModelLen} tokens ${formatBytes(Math.ceil(plan.maxModelLen / plan.kv.blockSize) * plan.kv.blockBytes)}`
      : '';
    throw oom(`${spec.architecture} does not fit in ${formatBytes(plan.budget.bytes)} (${plan.budget.source}): ` +
      `weights ${describeWeights(plan)} + workspace ${formatBytes(plan.workspace.bytes)} ` +
      `(maxNumBatchedTokens ${plan.workspace.maxNumBatchedTokens})${kvPart}; ` +
      (plan.shortfallBytes > 0 ? `${plan.shortfallBytes} bytes (${formatBytes(plan.shortfallBytes)}) are missing` :
        `the device has room, but the streamed layers' ${formatBytes(plan.offload?.hostBytes ?? 0)} do not fit in host memory`) +
      `. What would help:\n  - ${plan.advice.join('\n  - ')}`);
  }
  return plan;
}
