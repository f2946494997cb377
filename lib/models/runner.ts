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
import type { DecoderForward } from './forward';
import { Gpt2 } from './gpt2';
import { KvCache } from './kv-cache';
import { Llama } from './llama';
import { WeightPlan, bertWeights, gpt2Weights, llamaWeights } from './weights';
import type { RunnerOptions } from './workspace';

export type Runner = ModelDecoderRunner | ModelEncoderRunner;

/**
 * Builds the runner for a model from its loaded weights (`loaded`, by stored name, as planWeights asked for
 * them). The runner takes ownership of the weight tensors: its dispose() frees them with everything else.
 */
export function createRunner(spec: ModelSpec, plan: WeightPlan, loaded: Map<string, Tensor>, o: RunnerOptions): Runner {
  const owned = [...loaded.values()];
  const views: Tensor[] = [];
  let kv: KvCache | null = null;
  try {
    if (spec.family === 'bert') {
      if (spec.causal) throw unsupported(`${spec.architecture}: causal BERT models are not supported`);
      return new ModelEncoderRunner(spec, new Bert(spec, bertWeights(spec, plan, loaded)), owned, o);
    }
    if (spec.positional === 'rope' && !spec.rope) throw unsupported(`${spec.architecture}: RoPE model without rope parameters`);
    kv = new KvCache(o.device, o.activationDtype, spec, o.numBlocks, o.blockSize);
    const model: DecoderForward = spec.family === 'llama'
      ? new Llama(spec, llamaWeights(spec, plan, loaded), kv, o.device)
      : new Gpt2(spec, gpt2Weights(spec, plan, loaded, views), kv, views);
    return new ModelDecoderRunner(spec, model, kv, owned, o);
  } catch (e) {
    for (const t of views) t.dispose();
    kv?.dispose();
    for (const t of owned) t.dispose();
    throw e;
  }
}
