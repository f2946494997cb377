/**
 * Building a model runner: the family's weights (lib/models/weights.ts) wrapped in its forward pass
 * (bert.ts, gpt2.ts, llama.ts), inside the decoder runner (with a KV cache) or the encoder runner.
 */
import { unsupported } from '../errors';
import type { Tensor } from '../native';
import type { ModelSpec } from '../core/spec';
import { Bert } from './bert';
import { ModelDecoderRunner } from './decoder-runner';
import { ModelEncoderRunner } from './encoder-runner';
import { type DecoderForward, NO_LAYER_HOOKS } from './forward';
import { Gpt2 } from './gpt2';
import { KvCache } from './kv-cache';
import { Llama } from './llama';
import { LayerStream } from './offload';
import { WeightPlan, bertWeights, gpt2Weights, llamaWeights } from './weights';
import type { RunnerOptions } from './workspace';

export type Runner = ModelDecoderRunner | ModelEncoderRunner;

/**
 * Builds the runner for a model from its loaded weights (`loaded`, by stored name, as planWeights asked for
 * them; those of o.streamedLayers in host memory). The runner takes ownership of the weight tensors: its
 * dispose() frees them with everything else.
 */
export function createRunner(spec: ModelSpec, plan: WeightPlan, loaded: Map<string, Tensor>, o: RunnerOptions): Runner {
  const owned = [...loaded.values()];
  const views: Tensor[] = [];
  let kv: KvCache | null = null;
  try {
    // an offload split: the streamed layers' weights reach the device through the stream's slots
    const stream = o.streamedLayers?.length ? new LayerStream(o.device, o.streamedLayers, loaded) : undefined;
    if (stream) owned.push(...stream.slotTensors());
    const tensors = stream ? stream.views(loaded) : loaded;
    const hooks = stream ?? NO_LAYER_HOOKS;
    if (spec.family === 'bert') {
      if (spec.causal) throw unsupported(`${spec.architecture}: causal BERT models are not supported`);
      return new ModelEncoderRunner(spec, new Bert(spec, bertWeights(spec, plan, tensors), hooks), owned, o);
    }
    if (spec.positional === 'rope' && !spec.rope) throw unsupported(`${spec.architecture}: RoPE model without rope parameters`);
    kv = new KvCache(o.device, o.activationDtype, spec, o.numBlocks, o.blockSize);
    const forward = { batchInvariant: o.batchInvariant ?? false };
    const model: DecoderForward = spec.family === 'llama'
      ? new Llama(spec, llamaWeights(spec, plan, tensors), kv, o.device, forward, hooks)
      : new Gpt2(spec, gpt2Weights(spec, plan, tensors, views), kv, views, forward, hooks);
    return new ModelDecoderRunner(spec, model, kv, owned, o);
  } catch (e) {
    for (const t of views) t.dispose();
    kv?.dispose();
    for (const t of owned) t.dispose();
    throw e;
  }
}
