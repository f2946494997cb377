/**
 * The Llama family forward pass (Llama 2/3, Mistral, Qwen2, SmolLM, llama2.c checkpoints, GGUF llama):
 *
 *   h = embed[ids]                                                   h [T,C]
 *   for each layer:
 *     xn = RMSNorm(h)                                                xn [T,C]
 *     q, k, v = xn·Wqᵀ(+bq), xn·Wkᵀ(+bk), xn·Wvᵀ(+bv)                 q [T,Hq,D], k/v [T,Hkv,D]
 *     q, k = RoPE(q, k, positions); cache[slot_mapping] = k, v       (one op; paged KV cache)
 *     a = causal attention of q over the cache                       a [T,Hq,D] (GQA: Hq/Hkv queries per kv head)
 *     h += a·Woᵀ
 *     xn = RMSNorm(h)
 *     h += (silu(xn·Wgᵀ) ⊙ xn·Wuᵀ)·Wdᵀ                               (SwiGLU MLP, F intermediate)
 *   out = RMSNorm(h)                                                 out [T,C] → the runner's LM head
 *
 * Residual adds are fused into the next norm (rms_norm with `residual`): the block outputs wait in `delta`
 * until the following norm adds them to h. Every step, prefill or decode, writes its keys and values into
 * the paged cache first and attends over the cache, so decode, chunked prefill and cached prefixes are one path.
 */
import { ops } from '../ops';
import { Command, DeviceName, Tensor } from '../native';
import type { ModelSpec } from '../core/spec';
import type { Arena } from './activations';
import { attentionViews, linearCommand, linearsCommands, type DecoderForward, type DecoderStepTensors, type ForwardOptions, type LayerHooks, NO_LAYER_HOOKS } from './forward';
import type { KvCache } from './kv-cache';
import { ropeTables } from './rope';
import type { Linear, LlamaWeights } from './weights';

/** Elements of each activation buffer for T packed tokens (the runner reserves them once, for the most tokens). */
export function llamaActivationSizes(spec: ModelSpec, T: number): Record<string, number> {
  const { hiddenSize: C, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F } = spec;
  return { h: T * C, xn: T * C, delta: T * C, q: T * Hq * D, k: T * Hkv * D, v: T * Hkv * D, attn: T * Hq * D,
    gate: T * F, up: T * F, mlpAct: T * F };
}

export class Llama implements DecoderForward {
  readonly lmHead: Linear;
  private readonly invFreq: Tensor;
  private readonly scale: number;

  constructor(private readonly spec: ModelSpec, private readonly w: LlamaWeights, private readonly kv: KvCache, device: DeviceName,
    private readonly o: ForwardOptions, private readonly hooks: LayerHooks = NO_LAYER_HOOKS) {
    const tables = ropeTables(spec.rope!);
    this.invFreq = Tensor.fromData(device, 'f32', [tables.invFreq.length], tables.invFreq, 'other');
    // YaRN scales cos and sin by attentionFactor, i.e. the q·k logits by its square
    this.scale = (tables.attentionFactor * tables.attentionFactor) / Math.sqrt(spec.headDim);
    this.lmHead = w.lmHead;
  }

  forward(prog: Command[], s: DecoderStepTensors, act: Arena): Tensor {
    const { hiddenSize: C, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F } = this.spec;
    const eps = this.spec.norm.eps;
    const interleaved = this.spec.rope!.interleaved;
    const windowLeft = this.spec.slidingWindow ? this.spec.slidingWindow - 1 : -1;
    const T = s.numTokens;
    const h = act.view('h', [T, C]);
    const xn = act.view('xn', [T, C]);
    const delta = act.view('delta', [T, C]);
    const { q, k, v, attn, q3, k3, v3, attn3 } = attentionViews(act, T, Hq, Hkv, D);
    const gate = act.view('gate', [T, F]);
    const up = act.view('up', [T, F]);
    const mlp = act.view('mlpAct', [T, F]);

    this.hooks.begin(prog);
    prog.push(ops.embedding({ ids: s.ids, tok: this.w.embed, out: h }));
    let pending = false; // whether delta holds a block output not yet added to h
    const normInto = (weight: Tensor) =>
      prog.push(pending ? ops.rmsNorm({ x: delta, residual: h, weight, eps, out: xn }) : ops.rmsNorm({ x: h, weight, eps, out: xn }));

    this.w.layers.forEach((l, i) => {
      this.hooks.enter(prog, i);
      // attention block
      normInto(l.attnNorm.weight);
      prog.push(
        ...linearsCommands(xn, [l.q, l.k, l.v], [q, k, v], this.o),
        ops.ropeKvCacheWrite({
          q: q3, k: k3, v: v3, positions: s.positions, invFreq: this.invFreq, interleaved,
          kCache: this.kv.k[i], vCache: this.kv.v[i], slotMapping: s.slotMapping,
        }),
        ops.pagedAttention({
          q: q3, kCache: this.kv.k[i], vCache: this.kv.v[i], cuSeqlensQ: s.cuSeqlens, contextLens: s.contextLens,
          blockTables: s.blockTables, maxContextLen: s.maxContextLen, scale: this.scale, causal: true, windowLeft, out: attn3,
          batchInvariant: this.o.batchInvariant,
        }),
        linearCommand(attn, l.o, delta, this.o),
      );
      pending = true;
      // MLP block (SwiGLU)
      normInto(l.mlpNorm.weight);
      prog.push(
        ...linearsCommands(xn, [l.gate, l.up], [gate, up], this.o),
        ops.swiglu({ gate, up, out: mlp }),
        linearCommand(mlp, l.down, delta, this.o),
      );
      this.hooks.leave(prog, i);
    });
    normInto(this.w.finalNorm.weight);
    return xn;
  }

  dispose(): void {
    this.invFreq.dispose();
  }
}
