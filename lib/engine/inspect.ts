/**
 * `gpuformer inspect`: what a model is and what loading it would take, without loading it. Opens the model
 * for planning (a directory, a .gguf file, a directory holding only config.json, or a hub id whose weights
 * are never downloaded: lib/loader/open.ts openForPlanning; nothing allocated), summarizes the source and
 * plans its memory with the same planForSource as Engine.load, without throwing when it does not fit.
 */
import type { ModelSource } from '../core/source';
import type { ModelSpec } from '../core/spec';
import { OpenOptions, openForPlanning } from '../loader/open';
import { formatBytes, formatCount } from '../memory/format';
import type { MemoryPlan } from '../memory/planner';
import { formatPlan } from '../memory/plan-report';
import { PlanOptions, planForSource } from './plan';

export interface SourceSummary {
  path: string;
  format: ModelSource['format'];
  architecture: string;
  family: ModelSpec['family'];
  spec: ModelSpec;
  /** stored tensors and their bytes on disk */
  tensors: number;
  checkpointBytes: number;
  tokenizer: boolean;
  chatTemplate: boolean;
  pooling?: ModelSource['pooling'];
  maxSeqLength?: number;
  /** where the tensor list came from when the weights are not here (ModelSource.planOnly) */
  planOnly?: ModelSource['planOnly'];
}

export interface Inspection {
  source: SourceSummary;
  plan: MemoryPlan;
}

export function summarizeSource(s: ModelSource): SourceSummary {
  let checkpointBytes = 0;
  for (const t of s.tensors.values()) checkpointBytes += t.nbytes;
  return {
    path: s.path, format: s.format, architecture: s.spec.architecture, family: s.spec.family, spec: s.spec,
    tensors: s.tensors.size, checkpointBytes,
    tokenizer: s.tokenizer !== undefined, chatTemplate: s.chatTemplate !== undefined,
    ...(s.pooling ? { pooling: s.pooling } : {}),
    ...(s.maxSeqLength !== undefined ? { maxSeqLength: s.maxSeqLength } : {}),
    ...(s.planOnly ? { planOnly: s.planOnly } : {}),
  };
}

const WEIGHTS_FROM = {
  config: 'computed from config.json (no weights here)',
  hub: "read from the hub's headers (the weights were not downloaded)",
};

/**
 * `gpuformer inspect`: opens the model for planning (a directory, a .gguf file, config.json alone, or a hub
 * id without downloading its weights; nothing is allocated) and plans its memory without throwing when it
 * does not fit (plan.fits / plan.advice say so).
 */
export async function inspectModel(pathOrHubId: string, opts: PlanOptions & OpenOptions = {}): Promise<Inspection> {
  const source = await openForPlanning(pathOrHubId, opts);
  return { source: summarizeSource(source), plan: planForSource(source, opts, false).memory };
}

/** The inspection as text (the CLI prints this; --json prints the Inspection object). */
export function formatInspection(x: Inspection): string {
  const s = x.source;
  const sp = s.spec;
  const lines = [
    `${s.path}`,
    `${s.architecture} (${s.format}): ${sp.numLayers} layers, hidden ${sp.hiddenSize}, ${sp.numHeads} heads` +
      `${sp.numKvHeads !== sp.numHeads ? ` (${sp.numKvHeads} KV heads)` : ''}, head dim ${sp.headDim}, MLP ${sp.intermediateSize}, ` +
      `vocab ${sp.vocabSize}, ${sp.maxPositionEmbeddings} positions`,
    `checkpoint: ${s.tensors} tensors, ${formatBytes(s.checkpointBytes)}${sp.checkpointDtype ? ` (${sp.checkpointDtype})` : ''}` +
      `${s.planOnly ? `, ${WEIGHTS_FROM[s.planOnly]}` : ''}; ` +
      `${formatCount(x.plan.params.count)} parameters loaded`,
    `tokenizer: ${s.tokenizer ? 'yes' : 'none (token ids only)'}${s.chatTemplate ? ', chat template' : ''}` +
      `${s.pooling ? `; pooling ${s.pooling.mode}${s.pooling.normalize ? ' + normalize' : ''}` : ''}` +
      `${s.maxSeqLength !== undefined ? `, max_seq_length ${s.maxSeqLength}` : ''}`,
  ];
  return formatPlan(x.plan, lines.join('\n'));
}
