/**
 * Typed command builders over the native ops (native/include/gpuformer/op_decls.inc documents each one).
 * A forward pass builds an array of these commands and hands the whole program to `run` (one trip to a
 * native worker thread, off the event loop) or `runSync` (tests and tiny work).
 *
 * Shapes: T packed tokens, B sequences, H heads, D head dim, V vocab, C channels.
 */
import { Command, CopyQueue, native, PreparedProgram, Tensor } from '../native';

type Opt<T> = T | null | undefined;

export interface AttentionOptions {
  /** softmax scale, usually 1/sqrt(D) */
  scale: number;
  causal?: boolean;
  /** sliding window: keys at positions ≥ qpos - windowLeft; -1 (default) = none */
  windowLeft?: number;
  /** f32 [Hq] ALiBi slopes */
  alibiSlopes?: Opt<Tensor>;
}

export const ops = {
  /** out = x converted (float ↔ float, quantized → float, float → quantized as ggml's reference quantizers); same numel */
  cast: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'cast', ...a }),
  /** out = a + b (same shape; out may alias a or b) */
  add: (a: { a: Tensor; b: Tensor; out: Tensor }): Command => ({ op: 'add', ...a }),
  /** out = x (same dtype and numel) */
  copy: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'copy', ...a }),
  /** ids i32 [T] → out [T,C] = scale·tok[ids] + pos[posIds] + type[typeIds] */
  embedding: (a: {
    ids: Tensor; tok: Tensor; posIds?: Opt<Tensor>; pos?: Opt<Tensor>; typeIds?: Opt<Tensor>; type?: Opt<Tensor>;
    scale?: number; out: Tensor;
  }): Command => ({ op: 'embedding', ...a }),
  /**
   * x [M,K] · w[N,K]ᵀ + bias[N] → out [M,N]; w may be quantized. batchInvariant: each row by the same arithmetic
   * whatever M is (on CUDA the row kernels for every M instead of cuBLASLt above 16 rows)
   */
  linear: (a: { x: Tensor; w: Tensor; bias?: Opt<Tensor>; out: Tensor; batchInvariant?: boolean }): Command => ({ op: 'linear', ...a }),
  /**
   * several linears of one x (q/k/v, gate/up): out[i] = x · w[i]ᵀ + bias[i], each what linear gives; the weights
   * share one dtype and K; bias absent or one entry (a Tensor or null) per weight. The CPU converts x once and
   * runs every matmul in one parallel region
   */
  linears: (a: { x: Tensor; w: Tensor[]; bias?: Array<Tensor | null>; out: Tensor[]; batchInvariant?: boolean }): Command =>
    ({ op: 'linears', ...a }),
  /** residual += x (when given), out = LayerNorm(residual or x) */
  layerNorm: (a: { x: Tensor; residual?: Opt<Tensor>; weight: Tensor; bias?: Opt<Tensor>; eps: number; out: Tensor }): Command =>
    ({ op: 'layer_norm', ...a }),
  /** residual += x (when given), out = RMSNorm(residual or x) */
  rmsNorm: (a: { x: Tensor; residual?: Opt<Tensor>; weight: Tensor; eps: number; out: Tensor }): Command =>
    ({ op: 'rms_norm', ...a }),
  /** x [T,H,D] rotated in place by positions i32 [T] and invFreq f32 [R/2] */
  rope: (a: { x: Tensor; positions: Tensor; invFreq: Tensor; interleaved?: boolean }): Command => ({ op: 'rope', ...a }),
  gelu: (a: { x: Tensor; out: Tensor; tanh?: boolean }): Command => ({ op: 'gelu', ...a }),
  silu: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'silu', ...a }),
  /** out = tanh(x), same shape (BERT's pooler) */
  tanh: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'tanh', ...a }),
  /** out = silu(gate) * up */
  swiglu: (a: { gate: Tensor; up: Tensor; out: Tensor }): Command => ({ op: 'swiglu', ...a }),
  softmax: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'softmax', ...a }),
  /** packed varlen prefill attention: q [T,Hq,D], k/v [T,Hkv,D], cuSeqlens i32 [B+1] → out [T,Hq,D] */
  attention: (a: { q: Tensor; k: Tensor; v: Tensor; cuSeqlens: Tensor; maxSeqlen: number; out: Tensor } & AttentionOptions): Command =>
    ({ op: 'attention', ...a }),
  /** k/v [T,Hkv,D] → caches [blocks, blockSize, Hkv, D] at slotMapping i32 [T] (negative = skip) */
  /**
   * q [T,Hq,D] and k [T,Hkv,D] rotated in place (as rope), then the rotated k and v [T,Hkv,D] written to their
   * cache slots (as kvCacheWrite): a step's RoPE and cache write in one op
   */
  ropeKvCacheWrite: (a: {
    q: Tensor; k: Tensor; v: Tensor; positions: Tensor; invFreq: Tensor; interleaved?: boolean; kCache: Tensor; vCache: Tensor;
    slotMapping: Tensor;
  }): Command => ({ op: 'rope_kv_cache_write', ...a }),
  kvCacheWrite: (a: { k: Tensor; v: Tensor; kCache: Tensor; vCache: Tensor; slotMapping: Tensor }): Command =>
    ({ op: 'kv_cache_write', ...a }),
  /**
   * new queries over the paged cache (decode, chunked prefill, prefix caching). batchInvariant: a query's result
   * does not depend on the batch (on CUDA one per-query kernel with fixed split points; the CPU always is)
   */
  pagedAttention: (a: {
    q: Tensor; kCache: Tensor; vCache: Tensor; cuSeqlensQ: Tensor; contextLens: Tensor; blockTables: Tensor;
    maxContextLen: number; out: Tensor; batchInvariant?: boolean;
  } & AttentionOptions): Command => ({ op: 'paged_attention', ...a }),
  /** out[n] = x[idx[n]] */
  gatherRows: (a: { x: Tensor; idx: Tensor; out: Tensor }): Command => ({ op: 'gather_rows', ...a }),
  /** x [T,C] packed by cuSeqlens → out f32 [B,C] */
  pool: (a: { x: Tensor; cuSeqlens: Tensor; mode: 'mean' | 'cls' | 'last'; out: Tensor }): Command => ({ op: 'pool', ...a }),
  l2Normalize: (a: { x: Tensor; out: Tensor }): Command => ({ op: 'l2_normalize', ...a }),
  /** logits [B,V] → out i32 [B] */
  argmax: (a: { logits: Tensor; out: Tensor }): Command => ({ op: 'argmax', ...a }),
  /** seeded temperature / min-p / top-k / top-p sampling (vLLM's order): logits [B,V] → out i32 [B] */
  sample: (a: {
    logits: Tensor; temperature: Tensor; topK: Tensor; topP: Tensor; minP: Tensor; seeds: Tensor; steps: Tensor; out: Tensor;
  }): Command => ({ op: 'sample', ...a }),
  /**
   * The logits processors before sampling, in vLLM's order — token mask, logit bias, penalties over the token
   * counts — logits [S,V] → out f32 [S,V]. Each group is optional (all of its tensors or none).
   */
  processLogits: (a: {
    logits: Tensor; out: Tensor;
    /** i32 [M, ceil(V/32)] bitmasks and the mask of each row, i32 [S] (-1: none) */
    maskWords?: Tensor; maskRows?: Tensor;
    /** i32 [S+1], i32 [N], f32 [N]: row b adds biasValues[j] to token biasTokens[j], j in [off[b], off[b+1]) */
    biasOffsets?: Tensor; biasTokens?: Tensor; biasValues?: Tensor;
    /** counts i32 [C,V] (countTokens), the counts row of each row i32 [S] (-1: none), penalties f32 [S] */
    counts?: Tensor; penaltySlots?: Tensor; repetition?: Tensor; frequency?: Tensor; presence?: Tensor;
  }): Command => ({ op: 'process_logits', ...a }),
  /**
   * Counts tokens into the penalty counts i32 [C,V]: entry r (slot slots[r], -1 skips it; reset[r] clears the
   * row first) counts tokens[offsets[r] .. offsets[r+1]): t ≥ 0 one more output occurrence, ~t t in the prompt.
   */
  countTokens: (a: { counts: Tensor; slots: Tensor; reset?: Opt<Tensor>; offsets: Tensor; tokens: Tensor }): Command =>
    ({ op: 'count_tokens', ...a }),
  /**
   * Raw log-probabilities: logits [S,V], tokens i32 [S] → tokenLogprobs f32 [S] (of tokens[b]), and each
   * row's K most likely tokens, topIds i32 [S,K] / topLogprobs f32 [S,K] (optional, K ≤ 20)
   */
  logprobs: (a: { logits: Tensor; tokens: Tensor; tokenLogprobs: Tensor; topIds?: Opt<Tensor>; topLogprobs?: Opt<Tensor> }): Command =>
    ({ op: 'logprobs', ...a }),
  /**
   * streamed weights: src[i] (host memory, pinned for CUDA) → dst[i] (the queue's device) on the queue's copy
   * stream, once the slot is released; marks the slot ready
   */
  fetchSlot: (a: { queue: CopyQueue; slot: number; src: Tensor[]; dst: Tensor[] }): Command => ({ op: 'fetch_slot', ...a }),
  /** the op stream waits for the slot's last fetch */
  waitSlot: (a: { queue: CopyQueue; slot: number }): Command => ({ op: 'wait_slot', ...a }),
  /** the ops so far end the slot's use: a later fetch may overwrite it after them */
  releaseSlot: (a: { queue: CopyQueue; slot: number }): Command => ({ op: 'release_slot', ...a }),
};

/** Runs a program on a native worker thread; resolves when every op (and the device stream) is done. */
export function run(program: Command[] | PreparedProgram): Promise<void> {
  return native.exec(program);
}

/**
 * Parses a program once for repeated runs: its tensors (views included) and scalars are fixed, so only the
 * data written into its input buffers may change between runs. The caller disposes it.
 */
export function prepare(program: Command[]): PreparedProgram {
  return native.prepare(program);
}

/** Runs a program on the calling thread. For tests and tiny programs only: it blocks the event loop. */
export function runSync(program: Command[]): void {
  native.execSync(program);
}
