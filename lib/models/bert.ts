/**
 * The BERT encoder forward pass (BERT, MiniLM, BGE, E5 as sentence-transformers use them):
 *
 *   e = word[ids] + position[positions] + tokenType[typeIds]         e [T,C]
 *   h = LayerNorm(e)
 *   for each layer (post-LN):
 *     q, k, v = h·Wqᵀ+bq, h·Wkᵀ+bk, h·Wvᵀ+bv                         [T,H,D]
 *     a = bidirectional attention within each packed sequence         a [T,H,D]
 *     h = LayerNorm(h + a·Woᵀ + bo)
 *     h = LayerNorm(h + gelu(h·Wiᵀ + bi)·Wo2ᵀ + bo2)                  (F intermediate)
 *   out = h                                                           out [T,C] → the runner's pooling
 *
 * BertForSequenceClassification (a cross-encoder) adds a head on each sequence's first token:
 *   logits = tanh(cls·Wpᵀ + bp)·Wcᵀ + bc                              cls [B,C] → logits [B,L]
 *
 * The fused layer_norm adds its `x` into `residual` in place and normalizes the sum into `out`, so the
 * stream ping-pongs between two buffers: the sum lands in the old one, the normalized result in the other.
 */
import { ops } from '../ops';
import { Command, Tensor } from '../native';
import type { ModelSpec } from '../core/spec';
import type { Arena } from './activations';
import { attentionViews, DEFAULT_FORWARD, linearsCommands, type EncoderForward, type EncoderStepTensors, type LayerHooks, NO_LAYER_HOOKS } from './forward';
import type { BertWeights } from './weights';

/** Elements of each activation buffer for T packed tokens (the runner reserves them once, for the most tokens). */
export function bertActivationSizes(spec: ModelSpec, T: number): Record<string, number> {
  const { hiddenSize: C, intermediateSize: F } = spec;
  return { hA: T * C, hB: T * C, q: T * C, k: T * C, v: T * C, attn: T * C, delta: T * C, inter: T * F, interAct: T * F };
}

export class Bert implements EncoderForward {
  constructor(private readonly spec: ModelSpec, private readonly w: BertWeights, private readonly hooks: LayerHooks = NO_LAYER_HOOKS) {}

  forward(prog: Command[], s: EncoderStepTensors, act: Arena): Tensor {
    const { hiddenSize: C, numHeads: H, headDim: D, intermediateSize: F } = this.spec;
    const eps = this.spec.norm.eps;
    const T = s.numTokens;
    let h = act.view('hA', [T, C]);
    let spare = act.view('hB', [T, C]);
    const { q, k, v, attn, q3, k3, v3, attn3 } = attentionViews(act, T, H, H, D);
    const delta = act.view('delta', [T, C]);
    const inter = act.view('inter', [T, F]);
    const interAct = act.view('interAct', [T, F]);
    const w = this.w;

    const embedded = spare;
    this.hooks.begin(prog);
    prog.push(
      ops.embedding({
        ids: s.ids, tok: w.word, posIds: s.positions, pos: w.position,
        typeIds: w.tokenType ? s.typeIds : null, type: w.tokenType ?? null, out: embedded,
      }),
      ops.layerNorm({ x: embedded, weight: w.embedNorm.weight, bias: w.embedNorm.bias, eps, out: h }),
    );
    // h = LayerNorm(h + delta): the sum overwrites h, the result goes to the spare buffer, which becomes h
    const addNorm = (n: { weight: Tensor; bias?: Tensor }) => {
      prog.push(ops.layerNorm({ x: delta, residual: h, weight: n.weight, bias: n.bias, eps, out: spare }));
      [h, spare] = [spare, h];
    };
    const tanh = this.spec.activation === 'gelu_tanh';

    w.layers.forEach((l, i) => {
      this.hooks.enter(prog, i);
      prog.push(
        ...linearsCommands(h, [l.q, l.k, l.v], [q, k, v], DEFAULT_FORWARD),
        ops.attention({ q: q3, k: k3, v: v3, cuSeqlens: s.cuSeqlens, maxSeqlen: s.maxSeqlen, scale: 1 / Math.sqrt(D),
          causal: false, out: attn3 }),
        ops.linear({ x: attn, w: l.attnOut.w, bias: l.attnOut.bias, out: delta }),
      );
      addNorm(l.attnNorm);
      prog.push(
        ops.linear({ x: h, w: l.inter.w, bias: l.inter.bias, out: inter }),
        ops.gelu({ x: inter, out: interAct, tanh }),
        ops.linear({ x: interAct, w: l.out.w, bias: l.out.bias, out: delta }),
      );
      addNorm(l.outNorm);
      this.hooks.leave(prog, i);
    });
    return h;
  }

  /** The classification head (the model has one when spec.numLabels is set): cls [B,C] → logits [B,L], in `head`'s buffers. */
  classify(prog: Command[], cls: Tensor, head: Arena): Tensor {
    const h = this.w.head;
    if (!h) throw new Error(`${this.spec.architecture} has no classification head`);
    const B = cls.shape[0];
    const pooled = head.view('pooler', [B, this.spec.hiddenSize]);
    const logits = head.view('logits', [B, this.spec.numLabels!]);
    prog.push(
      ops.linear({ x: cls, w: h.pooler.w, bias: h.pooler.bias, out: pooled }),
      ops.tanh({ x: pooled, out: pooled }),
      ops.linear({ x: pooled, w: h.classifier.w, bias: h.classifier.bias, out: logits }),
    );
    return logits;
  }

  dispose(): void {}
}
