/**
 * The decoder runner: the loop↔runner step contract (lib/core/step.ts) made concrete for the causal
 * families. It owns the weights, the KV cache and buffers reserved once for the largest step
 * (lib/models/workspace.ts); each step packs the batch on the host, uploads its index tensors in one write
 * per dtype, builds ONE program (the family's forward pass + LM head + the sampling stage, lib/models/sampling.ts)
 * and runs it with one native call. Only the sampled ids and the log-probabilities asked for (or, from
 * logits(), the logits) come back to JS.
 */
import { Command, Tensor } from '../native';
import { ops, run } from '../ops';
import type { DecoderRunner, StepResult, StepSequence } from '../core/step';
import type { ModelSpec } from '../core/spec';
import { Arena } from './activations';
import { linearCommand, type DecoderForward, type DecoderStepTensors, type ForwardOptions } from './forward';
import { KvCache } from './kv-cache';
import { ProgramCache } from './program-cache';
import { readAsF32, splitRows } from './read-back';
import { PackedSampling, SamplingStage, packSampling, padSampling, samplingKey } from './sampling';
import { StepGuard } from './step-guard';
import { PackedStep, Staging, StepLimits, decodeBucket, packStep, padDecodeStep, widthBucket } from './step-inputs';
import { RunnerOptions, decoderArenaSizes, decoderIndexCapacity } from './workspace';

/**
 * Prepared decode programs kept per runner: one per padded batch size × block-table width × sampling shape in
 * use (decodeBucket, widthBucket: 64 concurrent streams of one sampling shape run in a dozen or so).
 */
const MAX_DECODE_PROGRAMS = 48;

/** Whether a step is a decode step: one new token per sequence, every sequence sampling. */
const isDecode = (p: PackedStep) => p.numTokens === p.numSeqs && p.sampleSeqs.length === p.numSeqs;

/**
 * What fixes every tensor of a (padded) decode step's program: the batch size (= tokens = sampled rows, which
 * place every index and sampling buffer), the block-table width and the sampling stage's shape (greedy or not,
 * which processors, how many log-probabilities).
 */
const decodeProgramKey = (p: PackedStep, s: PackedSampling): string => `${p.numSeqs}:${p.blockTableWidth}:${samplingKey(s.shape)}`;

export class ModelDecoderRunner implements DecoderRunner {
  readonly blockSize: number;
  readonly numBlocks: number;
  private readonly act: Arena;
  private readonly idx: Staging<Int32Array>;
  private readonly sampler: SamplingStage;
  private readonly limits: StepLimits;
  /** prepared decode programs by decodeProgramKey */
  private readonly decodePrograms = new ProgramCache(MAX_DECODE_PROGRAMS);
  private readonly guard: StepGuard;
  private readonly forwardOptions: ForwardOptions;

  constructor(readonly spec: ModelSpec, private readonly model: DecoderForward, private readonly kv: KvCache,
    private readonly weights: Tensor[], private readonly o: RunnerOptions) {
    this.blockSize = o.blockSize;
    this.numBlocks = o.numBlocks;
    this.limits = { ...o, vocabSize: spec.vocabSize };
    this.act = new Arena(o.device, o.activationDtype, 'activations', decoderArenaSizes(spec, o));
    this.idx = new Staging(o.device, (n) => new Int32Array(n), 'i32', decoderIndexCapacity(o));
    this.sampler = new SamplingStage(o.device, spec.vocabSize, o.maxNumSeqs, o.maxNumBatchedTokens);
    this.guard = new StepGuard('step', 'a step', [this.act, this.idx, this.sampler]);
    this.forwardOptions = { batchInvariant: o.batchInvariant ?? false };
  }

  /** The prepared decode programs: how many, how many run as CUDA graphs, and why others cannot. */
  programStats(): ReturnType<ProgramCache['stats']> {
    return this.decodePrograms.stats();
  }

  /** Bytes of the activation, index and sampling buffers (what runnerWorkspaceBytes predicts). */
  get workspaceBytes(): number {
    return this.act.bytes + this.idx.bytes + this.sampler.bytes;
  }

  /**
   * One forward pass over the batch; samples a token for each sequence that asks (-1 for the others), with its
   * log-probabilities where its sampling asks for them.
   *
   * A decode step (one new token per sequence, every sequence samples) runs a prepared program: its tensors
   * depend only on decodeProgramKey (batch size, block-table width, sampling shape), so after the first step
   * of a shape only the index and sampling data are uploaded, and neither the JS program nor its native
   * parse (hundreds of commands, a sizeable share of a small model's step) is redone. Its attention's
   * context bound is the block tables' capacity rather than the step's longest context, so that stays fixed
   * too. Other steps (prefill chunks) build their program afresh.
   */
  async step(seqs: StepSequence[]): Promise<StepResult> {
    const real = packStep(seqs, this.limits);
    const realSampling = packSampling(seqs, real.sampleSeqs, this.spec.vocabSize);
    // decode steps pad to a bucketed size and width, so their programs (and CUDA graphs) are reused
    const decode = isDecode(real);
    const padTo = decode ? decodeBucket(real.numSeqs, Math.min(this.o.maxNumSeqs, this.o.maxNumBatchedTokens)) : real.numSeqs;
    const maxWidth = Math.ceil(this.o.maxModelLen / this.blockSize);
    const packed = decode ? padDecodeStep(real, padTo, widthBucket(real.blockTableWidth, maxWidth)) : real;
    const sampling = decode ? padSampling(realSampling, padTo) : realSampling;
    const key = decode ? decodeProgramKey(packed, sampling) : null;
    return this.guard.run(async () => {
      const S = packed.sampleRows.length;  // a padded decode step samples its padding rows too
      const plan = await this.sampler.prepare(sampling);
      try {
        const t = this.upload(packed, key === null ? packed.maxContextLen : packed.blockTableWidth * this.blockSize);
        const st = S > 0 ? this.sampler.upload(sampling, plan) : null;
        const build = (): Command[] => {
          const prog: Command[] = [];
          const hidden = this.model.forward(prog, t.step, this.act);
          if (st) {
            // logits only for the rows that sample: the last token of each sampling sequence (and padding rows)
            const last = this.act.view('last', [S, this.spec.hiddenSize]);
            const logits = this.act.view('logits', [S, this.spec.vocabSize]);
            prog.push(ops.gatherRows({ x: hidden, idx: t.sampleRows, out: last }));
            prog.push(linearCommand(last, this.model.lmHead, logits, this.forwardOptions));
            prog.push(...this.sampler.commands(logits, st));
          }
          return prog;
        };
        await run(key === null ? build() : this.decodePrograms.get(key, build));
        const tokens = new Int32Array(seqs.length).fill(-1);
        const logprobs: StepResult['logprobs'] = new Array(seqs.length).fill(null);
        if (st) {
          const rows = this.sampler.readBack(sampling);  // the real rows first, then any padding rows
          packed.sampleSeqs.forEach((b, r) => {
            tokens[b] = rows.tokens[r];
            logprobs[b] = rows.logprobs[r];
          });
        }
        this.sampler.commit(plan);
        return { tokens, logprobs };
      } catch (e) {
        this.sampler.forget(plan);
        throw e;
      }
    });
  }

  /**
   * Like step() (it writes the batch's keys and values into the cache too), but returns the logits of EVERY
   * new token, f32 [n_b × V] per sequence: for tests against full-prefill references and for prompt logprobs.
   * The logits buffer is allocated for the call, as T × V can be far larger than the step buffers.
   */
  async logits(seqs: StepSequence[]): Promise<Float32Array[]> {
    const packed = packStep(seqs.map((s) => ({ ...s, sample: null })), this.limits);
    return this.guard.run(async () => {
      const t = this.upload(packed);
      const prog: Command[] = [];
      const hidden = this.model.forward(prog, t.step, this.act);
      const V = this.spec.vocabSize;
      const temps: Tensor[] = [];
      try {
        const logits = Tensor.empty(this.o.device, this.o.activationDtype, [packed.numTokens, V], 'activations');
        temps.push(logits);
        prog.push(linearCommand(hidden, this.model.lmHead, logits, this.forwardOptions));
        const host = await readAsF32(prog, logits, temps);
        return splitRows(host, packed.cuSeqlens, V);
      } finally {
        for (const x of temps) x.dispose();
      }
    });
  }

  dispose(): void {
    if (!this.guard.dispose()) return;
    this.decodePrograms.dispose(); // the programs hold references to every buffer below
    this.act.dispose();
    this.idx.dispose();
    this.sampler.dispose();
    this.model.dispose();
    this.kv.dispose();
    for (const t of this.weights) t.dispose();
  }

  /** `contextBound` (≥ every context of the step) replaces the step's longest context as the attention's bound. */
  private upload(p: PackedStep, contextBound = p.maxContextLen): { step: DecoderStepTensors; sampleRows: Tensor } {
    const T = p.numTokens;
    const B = p.numSeqs;
    const S = p.sampleRows.length;  // a padded decode step samples its padding rows too
    const [ids, positions, slotMapping, cuSeqlens, contextLens, blockTables, sampleRows] = this.idx.upload([
      [p.ids, [T]], [p.positions, [T]], [p.slotMapping, [T]], [p.cuSeqlens, [B + 1]], [p.contextLens, [B]],
      [p.blockTables, [B, p.blockTableWidth]], [p.sampleRows, [S]],
    ]);
    const step: DecoderStepTensors = { numTokens: T, ids, positions, slotMapping, cuSeqlens, contextLens, blockTables,
      maxContextLen: contextBound };
    return { step, sampleRows };
  }
}
