/**
 * What a runner reserves besides weights and the KV cache, computed from its options alone: the activation
 * arena (each family's sizes, beside its forward pass), the i32 staging of index tensors and the sampling
 * stage's buffers (lib/models/sampling.ts). The runners allocate exactly these sizes, and the memory planner counts them as workspace
 * before anything is allocated, so the two can never disagree.
 */
import type { DType, DeviceName } from '../native';
import { elementBytes } from '../core/dtype';
import type { ModelSpec } from '../core/spec';
import type { KvCacheShape, StepBudget } from '../core/step';
import { layoutRegions } from './activations';
import { bertActivationSizes } from './bert';
import { gpt2ActivationSizes } from './gpt2';
import { llamaActivationSizes } from './llama';
import { samplingWorkspaceBytes } from './sampling';

/** What a runner is built with: its device and dtype, the step budgets its buffers are sized for, the KV cache's shape. */
export interface RunnerOptions extends StepBudget, KvCacheShape {
  device: DeviceName;
  /** dtype of activations and of the KV cache: f32 on the CPU; f16, bf16 or f32 on CUDA */
  activationDtype: DType;
  /**
   * layers whose weights stream from host memory each step (an offload split, lib/memory/offload.ts): their
   * tensors are host tensors, and the runner stages them through device slots (offload.ts LayerStream)
   */
  streamedLayers?: number[];
  /** decoders: the batch-invariant mode (lib/models/forward.ts ForwardOptions); default off */
  batchInvariant?: boolean;
}

/** Activation regions of the family's forward pass for T tokens (elements, by region name). */
export const activationSizes = (spec: ModelSpec, T: number) =>
  spec.family === 'llama' ? llamaActivationSizes(spec, T) : spec.family === 'gpt2' ? gpt2ActivationSizes(spec, T) : bertActivationSizes(spec, T);

export function decoderArenaSizes(spec: ModelSpec, o: RunnerOptions): Record<string, number> {
  const S = o.maxNumSeqs;
  return { ...activationSizes(spec, o.maxNumBatchedTokens), last: S * spec.hiddenSize, logits: S * spec.vocabSize };
}

/** i32 staging: ids, positions, slots [T]; cu [S+1]; contextLens [S]; blockTables [S, W]; sampleRows [S] */
export function decoderIndexCapacity(o: RunnerOptions): number {
  const T = o.maxNumBatchedTokens;
  const S = o.maxNumSeqs;
  const W = Math.ceil(o.maxModelLen / o.blockSize);
  return 3 * T + (S + 1) + S + S * W + S;
}

/** i32 staging: ids, positions, typeIds [T]; cu [B+1] */
export const encoderIndexCapacity = (o: RunnerOptions) => 3 * o.maxNumBatchedTokens + o.maxNumSeqs + 1;

/**
 * The encoder's f32 outputs for maxNumSeqs sequences: pooled and normalized vectors [S, hidden] each; for a
 * classifier (a cross-encoder) the first tokens' hidden states [S, hidden] and the scores [S, numLabels].
 */
export function encoderPooledSizes(spec: ModelSpec, maxNumSeqs: number): Record<string, number> {
  const pooled = maxNumSeqs * spec.hiddenSize;
  return spec.numLabels !== undefined ? { pooled, scores: maxNumSeqs * spec.numLabels } : { pooled, normed: pooled };
}

/** A classifier head's buffers in the activation dtype (an embedding model has none): its input, the pooler's output, the logits. */
export function encoderHeadSizes(spec: ModelSpec, maxNumSeqs: number): Record<string, number> {
  if (spec.numLabels === undefined) return {};
  const rows = maxNumSeqs * spec.hiddenSize;
  return { cls: rows, pooler: rows, logits: maxNumSeqs * spec.numLabels };
}

/**
 * Bytes a runner reserves besides weights and KV cache (activations + index buffers + the sampling stage), computed
 * without allocating: what the memory planner counts as workspace.
 */
export function runnerWorkspaceBytes(spec: ModelSpec, o: Omit<RunnerOptions, 'device' | 'numBlocks'>): number {
  const opts = { ...o, device: 'cpu', numBlocks: 0 };
  const S = o.maxNumSeqs;
  if (spec.causal) {
    const act = layoutRegions(decoderArenaSizes(spec, opts), o.activationDtype).numel * elementBytes(o.activationDtype);
    return act + 4 * decoderIndexCapacity(opts) + samplingWorkspaceBytes(spec.vocabSize, S, o.maxNumBatchedTokens);
  }
  const bytesOf = (sizes: Record<string, number>, dtype: DType) => layoutRegions(sizes, dtype).numel * elementBytes(dtype);
  const act = bytesOf(activationSizes(spec, o.maxNumBatchedTokens), o.activationDtype);
  const pooled = bytesOf(encoderPooledSizes(spec, S), 'f32');
  const head = spec.numLabels !== undefined ? bytesOf(encoderHeadSizes(spec, S), o.activationDtype) : 0;
  return act + pooled + head + 4 * encoderIndexCapacity(opts);
}
