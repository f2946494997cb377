/**
 * What a family's forward pass (bert.ts, gpt2.ts, llama.ts) offers the runner: a method that appends one
 * forward pass to a program (each family file also exports the activation sizes it needs for T tokens). The runner owns everything
 * around it: packing the step, uploading indices, the LM head and sampling or pooling, running the program.
 */
import type { Command, Tensor } from '../native';
import { ops } from '../ops';
import type { Arena } from './activations';
import type { Linear } from './weights';

/** How a decoder's forward pass computes, beyond its weights: the runner's options the families need. */
export interface ForwardOptions {
  /**
   * every matmul and attention by arithmetic that does not depend on the batch (issue 20): a token's logits
   * are the same bits alone, in any batch, after a prefix-cache hit or in any prefill chunk (on CUDA the row and
   * per-query kernels for every step, so prefill is slower; the CPU computes that way always)
   */
  batchInvariant: boolean;
}

/** The default mode (encoders always compute this way: nothing there depends on how requests are batched). */
export const DEFAULT_FORWARD: ForwardOptions = { batchInvariant: false };

/** out = x · l.wᵀ + l.bias as a command, in the forward's mode. */
export const linearCommand = (x: Tensor, l: Linear, out: Tensor, o: ForwardOptions): Command =>
  ops.linear({ x, w: l.w, bias: l.bias, out, batchInvariant: o.batchInvariant });

/**
 * outs[i] = x · ls[i].wᵀ + ls[i].bias (a layer's q/k/v or gate/up projections): one linears command when the
 * weights share a dtype (the same bits as separate linears, with x converted once and one parallel region on
 * the CPU), else one linear each.
 */
export function linearsCommands(x: Tensor, ls: Linear[], outs: Tensor[], o: ForwardOptions): Command[] {
  if (ls.some((l) => l.w.dtype !== ls[0].w.dtype)) return ls.map((l, i) => linearCommand(x, l, outs[i], o));
  const bias = ls.some((l) => l.bias) ? ls.map((l) => l.bias ?? null) : undefined;
  return [ops.linears({ x, w: ls.map((l) => l.w), ...(bias ? { bias } : {}), out: outs, batchInvariant: o.batchInvariant })];
}

/** A decoder step's index tensors on the device (see step-inputs.ts for their shapes). */
export interface DecoderStepTensors {
  numTokens: number;
  ids: Tensor;
  positions: Tensor;
  slotMapping: Tensor;
  cuSeqlens: Tensor;
  contextLens: Tensor;
  blockTables: Tensor;
  maxContextLen: number;
}

/** An encoder batch's index tensors on the device. */
export interface EncoderStepTensors {
  numTokens: number;
  ids: Tensor;
  positions: Tensor;
  typeIds: Tensor;
  cuSeqlens: Tensor;
  maxSeqlen: number;
}

/**
 * What a forward pass does around each layer, when some layers' weights stream in from host memory (offload.ts
 * LayerStream); NO_LAYER_HOOKS otherwise. begin() opens the pass, enter(i) / leave(i) bracket layer i's ops.
 */
export interface LayerHooks {
  begin(prog: Command[]): void;
  enter(prog: Command[], layer: number): void;
  leave(prog: Command[], layer: number): void;
}

export const NO_LAYER_HOOKS: LayerHooks = { begin() {}, enter() {}, leave() {} };

export interface DecoderForward {
  /** appends the commands of one forward pass; returns the final-normed hidden states [T, C] (a view of `act`) */
  forward(prog: Command[], s: DecoderStepTensors, act: Arena): Tensor;
  /** the LM head applied to the rows that need logits */
  readonly lmHead: Linear;
  /** long-lived views and tables the model made (disposed with the runner) */
  dispose(): void;
}

export interface EncoderForward {
  /** appends the commands of one forward pass; returns the last hidden states [T, C] (a view of `act`) */
  forward(prog: Command[], s: EncoderStepTensors, act: Arena): Tensor;
  /** a classifier's head (cross-encoders): each sequence's first token cls [B, C] → logits [B, numLabels] */
  classify?(prog: Command[], cls: Tensor, head: Arena): Tensor;
  dispose(): void;
}

/**
 * One attention block's activation views, each buffer seen both as rows ([T, heads·D], what the linears
 * write) and per head ([T, heads, D], what attention reads): q with Hq heads, k and v with Hkv (fewer under
 * GQA), the attention output with Hq.
 */
export function attentionViews(act: Arena, T: number, Hq: number, Hkv: number, D: number) {
  return {
    q: act.view('q', [T, Hq * D]), k: act.view('k', [T, Hkv * D]), v: act.view('v', [T, Hkv * D]), attn: act.view('attn', [T, Hq * D]),
    q3: act.view('q', [T, Hq, D]), k3: act.view('k', [T, Hkv, D]), v3: act.view('v', [T, Hkv, D]), attn3: act.view('attn', [T, Hq, D]),
  };
}
