/**
 * The GPT-2 forward pass:
 *
 *   h = wte[ids] + wpe[positions]                                   h [T,C]
 *   for each layer:
 *     xn = LayerNorm_1(h)
 *     q, k, v = xn·Wqᵀ+bq, xn·Wkᵀ+bk, xn·Wvᵀ+bv                      [T,H,D] (views of the fused c_attn)
 *     cache[slot_mapping] = k, v
 *     a = causal attention of q over the cache                       a [T,H,D]
 *     h += a·Wprojᵀ + bproj
 *     xn = LayerNorm_2(h)
 *     h += gelu_tanh(xn·Wfcᵀ + bfc)·Wmlpᵀ + bmlp                      (4C intermediate)
 *   out = LayerNorm_f(h)                                             out [T,C] → tied LM head (wte)
 *
 * Conv1D weights are stored [in, out]; they were loaded transposed, so every projection is a plain linear.
 * Residual adds are fused into the following layer_norm (its `residual` argument).
 */
import { ops } from '../ops';
import { Command, Tensor } from '../native';
import type { ModelSpec } from '../core/spec';
import type { Arena } from './activations';
import { attentionViews, linearCommand, linearsCommands, type DecoderForward, type DecoderStepTensors, type ForwardOptions, type LayerHooks, NO_LAYER_HOOKS } from './forward';
import type { KvCache } from './kv-cache';
import type { Gpt2Weights, Linear } from './weights';

/** Elements of each activation buffer for T packed tokens (the runner reserves them once, for the most tokens). */
export function gpt2ActivationSizes(spec: ModelSpec, T: number): Record<string, number> {
  const { hiddenSize: C, intermediateSize: F } = spec;
  return { h: T * C, xn: T * C, delta: T * C, q: T * C, k: T * C, v: T * C, attn: T * C, fc: T * F, fcAct: T * F };
}

export class Gpt2 implements DecoderForward {
  readonly lmHead: Linear;

  /** `views` are the q/k/v views of c_attn (see weights.ts), disposed with the model */
  constructor(private readonly spec: ModelSpec, private readonly w: Gpt2Weights, private readonly kv: KvCache,
    private readonly views: Tensor[], private readonly o: ForwardOptions, private readonly hooks: LayerHooks = NO_LAYER_HOOKS) {
    this.lmHead = w.lmHead;
  }

  forward(prog: Command[], s: DecoderStepTensors, act: Arena): Tensor {
    const { hiddenSize: C, numHeads: H, headDim: D, intermediateSize: F } = this.spec;
    const eps = this.spec.norm.eps;
    const T = s.numTokens;
    const h = act.view('h', [T, C]);
    const xn = act.view('xn', [T, C]);
    const delta = act.view('delta', [T, C]);
    const { q, k, v, attn, q3, k3, v3, attn3 } = attentionViews(act, T, H, H, D);
    const fc = act.view('fc', [T, F]);
    const fcAct = act.view('fcAct', [T, F]);

    this.hooks.begin(prog);
    prog.push(ops.embedding({ ids: s.ids, tok: this.w.wte, posIds: s.positions, pos: this.w.wpe, out: h }));
    let pending = false; // whether delta holds a block output not yet added to h
    const normInto = (n: { weight: Tensor; bias?: Tensor }) =>
      prog.push(pending
        ? ops.layerNorm({ x: delta, residual: h, weight: n.weight, bias: n.bias, eps, out: xn })
        : ops.layerNorm({ x: h, weight: n.weight, bias: n.bias, eps, out: xn }));

    this.w.layers.forEach((l, i) => {
      this.hooks.enter(prog, i);
      // attention block
      normInto(l.ln1);
      prog.push(
        ...linearsCommands(xn, [l.q, l.k, l.v], [q, k, v], this.o),
        ops.kvCacheWrite({ k: k3, v: v3, kCache: this.kv.k[i], vCache: this.kv.v[i], slotMapping: s.slotMapping }),
        ops.pagedAttention({
          q: q3, kCache: this.kv.k[i], vCache: this.kv.v[i], cuSeqlensQ: s.cuSeqlens, contextLens: s.contextLens,
          blockTables: s.blockTables, maxContextLen: s.maxContextLen, scale: 1 / Math.sqrt(D), causal: true, out: attn3,
          batchInvariant: this.o.batchInvariant,
        }),
        linearCommand(attn, l.attnProj, delta, this.o),
      );
      pending = true;
      // MLP block
      normInto(l.ln2);
      prog.push(
        linearCommand(xn, l.fc, fc, this.o),
        ops.gelu({ x: fc, out: fcAct, tanh: this.spec.activation === 'gelu_tanh' }),
        linearCommand(fcAct, l.mlpProj, delta, this.o),
      );
      this.hooks.leave(prog, i);
    });
    normInto(this.w.finalNorm);
    return xn;
  }

  dispose(): void {
    for (const t of this.views) t.dispose();
  }
}
