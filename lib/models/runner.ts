/**
 * Model runners: the loop↔model contract of lib/engine/types.ts made concrete. A runner owns the weights,
 * the KV cache (decoders) and buffers reserved once for the largest step; each step packs the batch on the
 * host, uploads its index tensors in one write per dtype, builds ONE program (the family's forward pass +
 * LM head + sampling, or + pooling) and runs it with one native call. Only sampled ids, pooled vectors or
 * (when asked) logits come back to JS.
 */
import { inputError, unsupported } from '../errors';
import { Command, DType, DeviceName, Tensor } from '../native';
import { ops, run } from '../ops';
import type { DecoderRunner, EncoderRunner, PoolingMode, StepResult, StepSequence } from '../engine/types';
import { Arena, dtypeBytes, layoutRegions } from './activations';
import { Bert, bertActivationSizes } from './bert';
import type { DecoderForward, DecoderStepTensors, EncoderForward, EncoderStepTensors } from './forward';
import { Gpt2, gpt2ActivationSizes } from './gpt2';
import { KvCache } from './kv-cache';
import { Llama, llamaActivationSizes } from './llama';
import { ProgramCache } from './program-cache';
import type { ModelSpec } from './spec';
import { PackedEncoderBatch, PackedStep, Staging, StepLimits, packEncoderBatch, packStep } from './step-inputs';
import { WeightPlan, bertWeights, gpt2Weights, llamaWeights } from './weights';

export interface RunnerOptions {
  device: DeviceName;
  /** dtype of activations and of the KV cache: f32 on the CPU; f16, bf16 or f32 on CUDA */
  activationDtype: DType;
  /** most tokens in one step (prefill chunks included); sizes the activation buffers */
  maxNumBatchedTokens: number;
  /** most sequences in one step */
  maxNumSeqs: number;
  /** longest sequence (prompt + generated) */
  maxModelLen: number;
  /** decoders: tokens per KV block and the number of blocks to allocate */
  blockSize: number;
  numBlocks: number;
}

export type Runner = ModelDecoderRunner | ModelEncoderRunner;

// ------------------------------------------------------------------------------------- sizes

const activationSizes = (spec: ModelSpec, T: number) =>
  spec.family === 'llama' ? llamaActivationSizes(spec, T) : spec.family === 'gpt2' ? gpt2ActivationSizes(spec, T) : bertActivationSizes(spec, T);

function decoderArenaSizes(spec: ModelSpec, o: RunnerOptions): Record<string, number> {
  const S = o.maxNumSeqs;
  return { ...activationSizes(spec, o.maxNumBatchedTokens), last: S * spec.hiddenSize, logits: S * spec.vocabSize };
}

/** i32 staging: ids, positions, slots [T]; cu [S+1]; contextLens [S]; blockTables [S, W]; sampleRows, topK, steps [S] */
function decoderIndexCapacity(o: RunnerOptions): number {
  const T = o.maxNumBatchedTokens;
  const S = o.maxNumSeqs;
  const W = Math.ceil(o.maxModelLen / o.blockSize);
  return 3 * T + (S + 1) + S + S * W + 3 * S;
}

/** i32 staging: ids, positions, typeIds [T]; cu [B+1] */
const encoderIndexCapacity = (o: RunnerOptions) => 3 * o.maxNumBatchedTokens + o.maxNumSeqs + 1;

/**
 * Bytes a runner reserves besides weights and KV cache (activations + index and sampling buffers), computed
 * without allocating: what the memory planner counts as workspace.
 */
export function runnerWorkspaceBytes(spec: ModelSpec, o: Omit<RunnerOptions, 'device' | 'numBlocks'>): number {
  const opts = { ...o, device: 'cpu', numBlocks: 0 };
  const S = o.maxNumSeqs;
  if (spec.causal) {
    const act = layoutRegions(decoderArenaSizes(spec, opts), o.activationDtype).numel * dtypeBytes(o.activationDtype);
    return act + 4 * decoderIndexCapacity(opts) + 4 * 2 * S + 8 * S + 4 * S;
  }
  const act = layoutRegions(activationSizes(spec, o.maxNumBatchedTokens), o.activationDtype).numel * dtypeBytes(o.activationDtype);
  const pooled = layoutRegions({ pooled: S * spec.hiddenSize, normed: S * spec.hiddenSize }, 'f32').numel * 4;
  return act + pooled + 4 * encoderIndexCapacity(opts);
}

// ------------------------------------------------------------------------------------- factory

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

// ------------------------------------------------------------------------------------- decoder

/** Prepared decode programs kept per runner (one per batch size × block-table width × greedy or not in use). */
const MAX_DECODE_PROGRAMS = 16;

/**
 * What fixes every tensor of a decode step's program: the batch size (= tokens = sampled rows, which place
 * every index and sampling buffer), the block-table width and whether it samples greedily. null for any
 * other step (prefill chunks, sequences that do not sample), which builds its program afresh.
 */
function decodeProgramKey(p: PackedStep): string | null {
  if (p.numTokens !== p.numSeqs || p.sampleSeqs.length !== p.numSeqs) return null;
  return `${p.numSeqs}:${p.blockTableWidth}:${p.allGreedy ? 'greedy' : 'sample'}`;
}

export class ModelDecoderRunner implements DecoderRunner {
  readonly blockSize: number;
  readonly numBlocks: number;
  private readonly act: Arena;
  private readonly idx: Staging<Int32Array>;
  private readonly params: Staging<Float32Array>;
  private readonly seeds: Staging<BigInt64Array>;
  private readonly sampled: Tensor;
  private readonly limits: StepLimits;
  /** prepared decode programs by decodeProgramKey */
  private readonly decodePrograms = new ProgramCache(MAX_DECODE_PROGRAMS);
  private busy = false;
  private disposed = false;

  constructor(readonly spec: ModelSpec, private readonly model: DecoderForward, private readonly kv: KvCache,
    private readonly weights: Tensor[], private readonly o: RunnerOptions) {
    this.blockSize = o.blockSize;
    this.numBlocks = o.numBlocks;
    this.limits = {
      vocabSize: spec.vocabSize, blockSize: o.blockSize, numBlocks: o.numBlocks,
      maxNumBatchedTokens: o.maxNumBatchedTokens, maxNumSeqs: o.maxNumSeqs, maxModelLen: o.maxModelLen,
    };
    const S = o.maxNumSeqs;
    this.act = new Arena(o.device, o.activationDtype, 'activations', decoderArenaSizes(spec, o));
    this.idx = new Staging(o.device, (n) => new Int32Array(n), 'i32', decoderIndexCapacity(o));
    this.params = new Staging(o.device, (n) => new Float32Array(n), 'f32', 2 * S);
    this.seeds = new Staging(o.device, (n) => new BigInt64Array(n), 'i64', S);
    this.sampled = Tensor.empty(o.device, 'i32', [S], 'workspace');
  }

  /** The prepared decode programs: how many, how many run as CUDA graphs, and why others cannot. */
  programStats(): ReturnType<ProgramCache['stats']> {
    return this.decodePrograms.stats();
  }

  /** Bytes of the activation, index and sampling buffers (what runnerWorkspaceBytes predicts). */
  get workspaceBytes(): number {
    return this.act.bytes + this.idx.bytes + this.params.bytes + this.seeds.bytes + this.sampled.nbytes;
  }

  /**
   * One forward pass over the batch; samples a token for each sequence that asks (-1 for the others).
   *
   * A decode step (one new token per sequence, every sequence samples) runs a prepared program: its tensors
   * depend only on decodeProgramKey (batch size, block-table width, greedy or not), so after the first step
   * of a shape only the index and sampling data are uploaded, and neither the JS program nor its native
   * parse (hundreds of commands, a sizeable share of a small model's step) is redone. Its attention's
   * context bound is the block tables' capacity rather than the step's longest context, so that stays fixed
   * too. Other steps (prefill chunks) build their program afresh.
   */
  async step(seqs: StepSequence[]): Promise<StepResult> {
    const packed = packStep(seqs, this.limits);
    const key = decodeProgramKey(packed);
    return this.exclusive(async () => {
      const t = this.upload(packed, key === null ? packed.maxContextLen : packed.blockTableWidth * this.blockSize);
      const S = packed.sampleSeqs.length;
      // logits only for the rows that sample: the last token of each sampling sequence
      const out = S > 0 ? this.sampled.view(0, [S]) : null;
      try {
        const build = (): Command[] => {
          const prog: Command[] = [];
          const hidden = this.model.forward(prog, t.step, this.act);
          if (out) prog.push(...this.sampleCommands(hidden, t, packed.allGreedy, out));
          return prog;
        };
        await run(key === null ? build() : this.decodePrograms.get(key, build));
        const tokens = new Int32Array(seqs.length).fill(-1);
        if (out) {
          const ids = new Int32Array(out.read());
          packed.sampleSeqs.forEach((b, i) => { tokens[b] = ids[i]; });
        }
        return { tokens };
      } finally {
        out?.dispose();
      }
    });
  }

  /** The gather of the sampling rows, the LM head and argmax or sampling into `out`. */
  private sampleCommands(hidden: Tensor, t: ReturnType<ModelDecoderRunner['upload']>, greedy: boolean, out: Tensor): Command[] {
    const S = out.shape[0];
    const last = this.act.view('last', [S, this.spec.hiddenSize]);
    const logits = this.act.view('logits', [S, this.spec.vocabSize]);
    return [
      ops.gatherRows({ x: hidden, idx: t.sampleRows!, out: last }),
      ops.linear({ x: last, w: this.model.lmHead.w, bias: this.model.lmHead.bias, out: logits }),
      greedy
        ? ops.argmax({ logits, out })
        : ops.sample({ logits, temperature: t.temperature!, topK: t.topK!, topP: t.topP!, seeds: t.seeds!, steps: t.steps!, out }),
    ];
  }

  /**
   * Like step() (it writes the batch's keys and values into the cache too), but returns the logits of EVERY
   * new token, f32 [n_b × V] per sequence: for tests against full-prefill references and for prompt logprobs.
   * The logits buffer is allocated for the call, as T × V can be far larger than the step buffers.
   */
  async logits(seqs: StepSequence[]): Promise<Float32Array[]> {
    const packed = packStep(seqs.map((s) => ({ ...s, sample: null })), this.limits);
    return this.exclusive(async () => {
      const t = this.upload(packed);
      const prog: Command[] = [];
      const hidden = this.model.forward(prog, t.step, this.act);
      const V = this.spec.vocabSize;
      const temps: Tensor[] = [];
      try {
        const logits = Tensor.empty(this.o.device, this.o.activationDtype, [packed.numTokens, V], 'activations');
        temps.push(logits);
        prog.push(ops.linear({ x: hidden, w: this.model.lmHead.w, bias: this.model.lmHead.bias, out: logits }));
        const host = await readAsF32(prog, logits, temps);
        return splitRows(host, packed.cuSeqlens, V);
      } finally {
        for (const x of temps) x.dispose();
      }
    });
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.decodePrograms.dispose(); // the programs hold references to every buffer below
    this.act.dispose();
    this.idx.dispose();
    this.params.dispose();
    this.seeds.dispose();
    this.sampled.dispose();
    this.model.dispose();
    this.kv.dispose();
    for (const t of this.weights) t.dispose();
  }

  /** The step buffers are shared, so steps run one at a time; views are released once the program is done. */
  private async exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.disposed) throw inputError('step: the runner has been disposed');
    if (this.busy) throw inputError('step: a step is already running on this runner (the loop runs one at a time)');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.act.release();
      this.idx.release();
      this.params.release();
      this.seeds.release();
      this.busy = false;
    }
  }

  /** `contextBound` (≥ every context of the step) replaces the step's longest context as the attention's bound. */
  private upload(p: PackedStep, contextBound = p.maxContextLen) {
    const T = p.numTokens;
    const B = p.numSeqs;
    const S = p.sampleSeqs.length;
    const [ids, positions, slotMapping, cuSeqlens, contextLens, blockTables, sampleRows, topK, steps] = this.idx.upload([
      [p.ids, [T]], [p.positions, [T]], [p.slotMapping, [T]], [p.cuSeqlens, [B + 1]], [p.contextLens, [B]],
      [p.blockTables, [B, p.blockTableWidth]], [p.sampleRows, [S]], [p.topK, [S]], [p.steps, [S]],
    ]);
    const step: DecoderStepTensors = { numTokens: T, ids, positions, slotMapping, cuSeqlens, contextLens, blockTables,
      maxContextLen: contextBound };
    if (S === 0 || p.allGreedy) return { step, sampleRows: S ? sampleRows : undefined };
    const [temperature, topP] = this.params.upload([[p.temperature, [S]], [p.topP, [S]]]);
    const [seeds] = this.seeds.upload([[p.seeds, [S]]]);
    return { step, sampleRows, topK, steps, temperature, topP, seeds };
  }
}

// ------------------------------------------------------------------------------------- encoder

/** Prepared embedding programs kept per runner: one per (tokens, sequences, longest sequence) shape in use. */
const MAX_ENCODER_PROGRAMS = 64;

export class ModelEncoderRunner implements EncoderRunner {
  private readonly act: Arena;
  private readonly pooledArena: Arena;
  private readonly idx: Staging<Int32Array>;
  /** prepared embedding programs by batch shape (inputs of similar lengths repeat shapes often) */
  private readonly programs = new ProgramCache(MAX_ENCODER_PROGRAMS);
  private busy = false;
  private disposed = false;

  constructor(readonly spec: ModelSpec, private readonly model: EncoderForward, private readonly weights: Tensor[],
    private readonly o: RunnerOptions) {
    const S = o.maxNumSeqs;
    this.act = new Arena(o.device, o.activationDtype, 'activations', activationSizes(spec, o.maxNumBatchedTokens));
    this.pooledArena = new Arena(o.device, 'f32', 'activations', { pooled: S * spec.hiddenSize, normed: S * spec.hiddenSize });
    this.idx = new Staging(o.device, (n) => new Int32Array(n), 'i32', encoderIndexCapacity(o));
  }

  get workspaceBytes(): number {
    return this.act.bytes + this.pooledArena.bytes + this.idx.bytes;
  }

  /** Pooled (and optionally L2-normalized) vectors, f32 [C] per sequence. Sequences are already truncated. */
  async embed(batch: number[][], opts: { pooling: PoolingMode; normalize: boolean; typeIds?: number[][] }): Promise<Float32Array[]> {
    if (!['mean', 'cls', 'last'].includes(opts.pooling)) {
      throw inputError(`embed: pooling must be 'mean', 'cls' or 'last', got '${String(opts.pooling)}'`);
    }
    const C = this.spec.hiddenSize;
    const out: Float32Array[] = [];
    for (const [from, to] of this.chunks(batch)) {
      const packed = this.pack(batch.slice(from, to), opts.typeIds?.slice(from, to));
      const vectors = await this.exclusive(async () => {
        const s = this.upload(packed);
        const B = packed.numSeqs;
        const pooled = this.pooledArena.view('pooled', [B, C]);
        const result = opts.normalize ? this.pooledArena.view('normed', [B, C]) : pooled;
        // the tensors depend on the token and sequence counts and the longest sequence (the attention's bound)
        const key = `${packed.numTokens}:${B}:${packed.maxSeqlen}:${opts.pooling}:${opts.normalize}`;
        await run(this.programs.get(key, () => {
          const prog: Command[] = [];
          const hidden = this.model.forward(prog, s, this.act);
          prog.push(ops.pool({ x: hidden, cuSeqlens: s.cuSeqlens, mode: opts.pooling, out: pooled }));
          if (opts.normalize) prog.push(ops.l2Normalize({ x: pooled, out: result }));
          return prog;
        }));
        return new Float32Array(result.read());
      });
      for (let b = 0; b < to - from; b++) out.push(vectors.slice(b * C, (b + 1) * C));
    }
    return out;
  }

  /** The last hidden states, f32 [n_b × C] per sequence (what transformers calls last_hidden_state). */
  async hiddenStates(batch: number[][], typeIds?: number[][]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const [from, to] of this.chunks(batch)) {
      const packed = this.pack(batch.slice(from, to), typeIds?.slice(from, to));
      const rows = await this.exclusive(async () => {
        const s = this.upload(packed);
        const prog: Command[] = [];
        const hidden = this.model.forward(prog, s, this.act);
        const temps: Tensor[] = [];
        try {
          return splitRows(await readAsF32(prog, hidden, temps), packed.cuSeqlens, this.spec.hiddenSize);
        } finally {
          for (const x of temps) x.dispose();
        }
      });
      out.push(...rows);
    }
    return out;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.programs.dispose(); // they hold references to every buffer below
    this.act.dispose();
    this.pooledArena.dispose();
    this.idx.dispose();
    this.model.dispose();
    for (const t of this.weights) t.dispose();
  }

  /** Splits a batch into runs of consecutive sequences that fit the token and sequence budgets. */
  private chunks(batch: number[][]): Array<[number, number]> {
    const out: Array<[number, number]> = [];
    let from = 0;
    let tokens = 0;
    batch.forEach((seq, i) => {
      if (seq.length > this.o.maxNumBatchedTokens) {
        throw inputError(`embed: sequence ${i} has ${seq.length} tokens, more than maxNumBatchedTokens ${this.o.maxNumBatchedTokens}`);
      }
      if (i > from && (tokens + seq.length > this.o.maxNumBatchedTokens || i - from >= this.o.maxNumSeqs)) {
        out.push([from, i]);
        from = i;
        tokens = 0;
      }
      tokens += seq.length;
    });
    if (batch.length > from) out.push([from, batch.length]);
    return out;
  }

  private pack(batch: number[][], typeIds?: number[][]): PackedEncoderBatch {
    return packEncoderBatch(batch, typeIds, {
      vocabSize: this.spec.vocabSize, typeVocabSize: this.spec.typeVocabSize ?? 0, maxPositions: this.spec.maxPositionEmbeddings,
    });
  }

  private upload(p: PackedEncoderBatch): EncoderStepTensors {
    const T = p.numTokens;
    const [ids, positions, typeIds, cuSeqlens] = this.idx.upload([
      [p.ids, [T]], [p.positions, [T]], [p.typeIds, [T]], [p.cuSeqlens, [p.numSeqs + 1]],
    ]);
    return { numTokens: T, ids, positions, typeIds, cuSeqlens, maxSeqlen: p.maxSeqlen };
  }

  private async exclusive<R>(fn: () => Promise<R>): Promise<R> {
    if (this.disposed) throw inputError('embed: the runner has been disposed');
    if (this.busy) throw inputError('embed: a batch is already running on this runner (the loop runs one at a time)');
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.act.release();
      this.pooledArena.release();
      this.idx.release();
      this.busy = false;
    }
  }
}

// ------------------------------------------------------------------------------------- helpers

/** Runs the program and reads `t` back as f32 (casting on the device first when it is half precision). */
async function readAsF32(prog: Command[], t: Tensor, temps: Tensor[]): Promise<Float32Array> {
  let src = t;
  if (t.dtype !== 'f32') {
    src = Tensor.empty(t.device, 'f32', t.shape, 'activations');
    temps.push(src);
    prog.push(ops.cast({ x: t, out: src }));
  }
  await run(prog);
  return new Float32Array(src.read());
}

/** Splits packed rows [T × width] into one array per sequence by cu_seqlens. */
function splitRows(host: Float32Array, cu: Int32Array, width: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b + 1 < cu.length; b++) out.push(host.slice(cu[b] * width, cu[b + 1] * width));
  return out;
}
