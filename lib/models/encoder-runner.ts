/**
 * The encoder runner: packed sequences in, one pooled (optionally L2-normalized) vector each out, for the
 * bidirectional families; for a classifier (a cross-encoder, spec.numLabels) each sequence's logits instead,
 * from its first token through the model's head. It owns the weights and buffers reserved once for the
 * largest batch (lib/models/workspace.ts); each batch runs as ONE program (forward pass + pooling or head),
 * prepared once per batch shape. Only the pooled vectors or logits (or, when asked, hidden states) come back.
 */
import { inputError } from '../errors';
import { Command, Tensor } from '../native';
import { ops, run } from '../ops';
import { checkPooling } from '../core/checks';
import type { EncoderRunner, PoolingMode } from '../core/step';
import type { ModelSpec } from '../core/spec';
import { Arena } from './activations';
import type { EncoderForward, EncoderStepTensors } from './forward';
import { ProgramCache } from './program-cache';
import { readAsF32, splitRows } from './read-back';
import { StepGuard } from './step-guard';
import { PackedEncoderBatch, Staging, packEncoderBatch } from './step-inputs';
import { RunnerOptions, activationSizes, encoderHeadSizes, encoderIndexCapacity, encoderPooledSizes } from './workspace';

/** Prepared embedding programs kept per runner: one per (tokens, sequences, longest sequence) shape in use. */
const MAX_ENCODER_PROGRAMS = 64;

export class ModelEncoderRunner implements EncoderRunner {
  private readonly act: Arena;
  private readonly pooledArena: Arena;
  /** a classifier's head buffers (activation dtype); null for an embedding model */
  private readonly headArena: Arena | null;
  private readonly idx: Staging<Int32Array>;
  /** prepared embedding programs by batch shape (inputs of similar lengths repeat shapes often) */
  private readonly programs = new ProgramCache(MAX_ENCODER_PROGRAMS);
  private readonly guard: StepGuard;

  constructor(readonly spec: ModelSpec, private readonly model: EncoderForward, private readonly weights: Tensor[],
    private readonly o: RunnerOptions) {
    const S = o.maxNumSeqs;
    this.act = new Arena(o.device, o.activationDtype, 'activations', activationSizes(spec, o.maxNumBatchedTokens));
    this.pooledArena = new Arena(o.device, 'f32', 'activations', encoderPooledSizes(spec, S));
    this.headArena = spec.numLabels !== undefined ? new Arena(o.device, o.activationDtype, 'activations', encoderHeadSizes(spec, S)) : null;
    this.idx = new Staging(o.device, (n) => new Int32Array(n), 'i32', encoderIndexCapacity(o));
    this.guard = new StepGuard('embed', 'a batch', [this.act, this.pooledArena, ...(this.headArena ? [this.headArena] : []), this.idx]);
  }

  get workspaceBytes(): number {
    return this.act.bytes + this.pooledArena.bytes + (this.headArena?.bytes ?? 0) + this.idx.bytes;
  }

  /**
   * Pooled (and optionally L2-normalized) vectors, f32 [C] per sequence; a classifier's logits, f32
   * [numLabels] per sequence (it reads the first token: pooling 'cls', no normalization). Sequences are
   * already truncated.
   */
  async embed(batch: number[][], opts: { pooling: PoolingMode; normalize: boolean; typeIds?: number[][] }): Promise<Float32Array[]> {
    checkPooling(opts.pooling, 'embed: pooling');
    const head = this.headArena;
    if (head && (opts.pooling !== 'cls' || opts.normalize)) {
      throw inputError(`embed: ${this.spec.architecture} scores a sequence from its first token: pooling must be 'cls', without normalize`);
    }
    const width = head ? this.spec.numLabels! : this.spec.hiddenSize;
    const out: Float32Array[] = [];
    for (const [from, to] of this.chunks(batch)) {
      const packed = this.pack(batch.slice(from, to), opts.typeIds?.slice(from, to));
      const vectors = await this.guard.run(async () => {
        const s = this.upload(packed);
        const B = packed.numSeqs;
        const pooled = this.pooledArena.view('pooled', [B, this.spec.hiddenSize]);
        const result = head ? this.pooledArena.view('scores', [B, width]) : opts.normalize ? this.pooledArena.view('normed', [B, width]) : pooled;
        // the tensors depend on the token and sequence counts and the longest sequence (the attention's bound)
        const key = `${packed.numTokens}:${B}:${packed.maxSeqlen}:${opts.pooling}:${opts.normalize}`;
        await run(this.programs.get(key, () => {
          const prog: Command[] = [];
          const hidden = this.model.forward(prog, s, this.act);
          prog.push(ops.pool({ x: hidden, cuSeqlens: s.cuSeqlens, mode: opts.pooling, out: pooled }));
          if (head) {
            // the head runs in the activation dtype; the first tokens come pooled in f32
            const cls = head.view('cls', [B, this.spec.hiddenSize]);
            prog.push(ops.cast({ x: pooled, out: cls }));
            prog.push(ops.cast({ x: this.model.classify!(prog, cls, head), out: result }));
          } else if (opts.normalize) {
            prog.push(ops.l2Normalize({ x: pooled, out: result }));
          }
          return prog;
        }));
        return new Float32Array(result.read());
      });
      for (let b = 0; b < to - from; b++) out.push(vectors.slice(b * width, (b + 1) * width));
    }
    return out;
  }

  /** The last hidden states, f32 [n_b × C] per sequence (what transformers calls last_hidden_state). */
  async hiddenStates(batch: number[][], typeIds?: number[][]): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const [from, to] of this.chunks(batch)) {
      const packed = this.pack(batch.slice(from, to), typeIds?.slice(from, to));
      const rows = await this.guard.run(async () => {
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
    if (!this.guard.dispose()) return;
    this.programs.dispose(); // they hold references to every buffer below
    this.act.dispose();
    this.pooledArena.dispose();
    this.headArena?.dispose();
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
}
