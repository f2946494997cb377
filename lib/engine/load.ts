/**
 * Loading a model into a runner: open the model (directory, .gguf or hub id) → plan dtypes, weight
 * requests and memory (ERR_GPUFORMER_OOM before anything is allocated when it cannot fit) → load the
 * weights onto the device (the streamed layers of an offload split into pinned host memory) → build the model
 * runner. Engine.load starts the engine loop on top; any
 * failure frees what was allocated so far.
 */
import type { ModelSource } from '../core/source';
import { openModel } from '../loader/open';
import { loadWeights } from '../loader/weights';
import { streamedNames } from '../models/offload';
import { Runner, createRunner } from '../models/runner';
import { LoadOptions, resolveLoadOptions } from './options';
import { LoadPlan, planForSource } from './plan';

export interface LoadedModel {
  source: ModelSource;
  plan: LoadPlan;
  /** owns the weights, the KV cache and the step buffers */
  runner: Runner;
}

/**
 * Opens, plans and loads a model into a runner, without the engine loop: what Engine.load builds on, and
 * what tests and tools use to drive a runner directly (full-prompt logits, hidden states).
 */
export async function loadModel(pathOrHubId: string, options: LoadOptions = {}): Promise<LoadedModel> {
  const { onProgress, ...planOptions } = resolveLoadOptions(options);
  const source = await openModel(pathOrHubId, {
    onProgress: (p) => onProgress?.({ phase: 'download', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
  });
  const plan = planForSource(source, planOptions);
  const streamed = plan.runner.streamedLayers;
  const loaded = await loadWeights(source.tensors, plan.weightPlan.requests, {
    device: plan.device,
    host: streamed ? streamedNames(plan.weightPlan.requests.keys(), streamed) : undefined,
    onProgress: (p) => onProgress?.({ phase: 'weights', bytesDone: p.bytesDone, bytesTotal: p.bytesTotal }),
  });
  // createRunner owns `loaded` from here on (it frees the tensors itself if it fails)
  const runner = createRunner(source.spec, plan.weightPlan, loaded, plan.runner);
  return { source, plan, runner };
}
