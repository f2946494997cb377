/**
 * The sampling stage of a decoder step, from the LM head's logits to the sampled ids, in vLLM's order
 * (vllm/v1/sample/sampler.py):
 *   1. raw log-probabilities are what the model gave (logprobs, computed last from the untouched logits);
 *   2. the logits processors — the token mask (allowed_token_ids, structured output), the logit bias (and
 *      min_tokens' ban on stop tokens), the repetition / frequency / presence penalties over token counts kept
 *      on the device — write processed f32 logits (process_logits);
 *   3. argmax of the processed logits for greedy rows, else temperature, min-p, top-k, top-p and the seeded
 *      draw (sample);
 *   4. the sampled token's log-probability and each row's most likely tokens (logprobs).
 * Steps 2 and 4 run only when a row of the step needs them. Everything stays on the device: only the sampled
 * ids and the log-probabilities asked for come back, never a vocabulary-sized row.
 *
 * The stage's buffers are reserved once for maxNumSeqs rows (samplingWorkspaceBytes says how many bytes, for
 * the memory planner), and a step's inputs land at places fixed by its row count and SamplingShape, so a
 * prepared decode program keeps working from step to step.
 */
import { inputError } from '../errors';
import { Command, DeviceName, Tensor } from '../native';
import { ops, run } from '../ops';
import {
  MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS, SamplingState, StepSequence, TokenLogprobs, hasPenalties,
} from '../core/step';
import { PenaltyPlan, PenaltyRow, PenaltySlots } from './penalty-slots';
import { ViewCache } from './activations';
import { ListBuffer, Staging, padded } from './step-inputs';

/** Which parts of the stage a step runs: with the row count, what fixes its commands and buffers. */
export interface SamplingShape {
  /** every row greedy: argmax instead of the sampler */
  greedy: boolean;
  mask: boolean;
  bias: boolean;
  penalties: boolean;
  /** top log-probabilities per row (the most any row asks for); -1: no row asks for log-probabilities */
  topLogprobs: number;
}

export const samplingKey = (s: SamplingShape): string =>
  `${s.greedy ? 'greedy' : 'sample'}${s.mask ? '+mask' : ''}${s.bias ? '+bias' : ''}${s.penalties ? '+pen' : ''}:${s.topLogprobs}`;

/** A step's sampling rows (one per sampling sequence, in batch order), packed on the host. */
export interface PackedSampling {
  shape: SamplingShape;
  rows: number;
  temperature: Float32Array;
  topK: Int32Array;
  topP: Float32Array;
  minP: Float32Array;
  seeds: BigInt64Array;
  steps: Int32Array;
  repetition: Float32Array;
  frequency: Float32Array;
  presence: Float32Array;
  /** the token mask of each row (-1: none) and the masks, ceil(V/32) words each */
  maskRows: Int32Array;
  maskWords: Int32Array;
  /** row r's logit bias: biasTokens / biasValues [biasOffsets[r], biasOffsets[r+1]) */
  biasOffsets: Int32Array;
  biasTokens: Int32Array;
  biasValues: Float32Array;
  /** the sequences with penalties, and their share of the step (null for the other rows) */
  penaltyRows: Array<PenaltyRow | null>;
  /** log-probabilities each row asks for (-1: none) */
  logprobs: Int32Array;
}

/** Packs the sampling states of a step's sampling sequences (`sampleSeqs`: their batch indices), checking what the stage relies on. */
export function packSampling(seqs: StepSequence[], sampleSeqs: number[], vocabSize: number): PackedSampling {
  const S = sampleSeqs.length;
  const words = Math.ceil(vocabSize / 32);
  const f32 = () => new Float32Array(S);
  const p: PackedSampling = {
    shape: { greedy: true, mask: false, bias: false, penalties: false, topLogprobs: -1 }, rows: S,
    temperature: f32(), topK: new Int32Array(S), topP: f32(), minP: f32(), seeds: new BigInt64Array(S), steps: new Int32Array(S),
    repetition: f32(), frequency: f32(), presence: f32(), maskRows: new Int32Array(S).fill(-1), maskWords: new Int32Array(0),
    biasOffsets: new Int32Array(S + 1), biasTokens: new Int32Array(0), biasValues: new Float32Array(0), penaltyRows: [],
    logprobs: new Int32Array(S),
  };
  const masks: Uint32Array[] = [];
  const biasTokens: number[] = [];
  const biasValues: number[] = [];
  sampleSeqs.forEach((b, r) => {
    const s: SamplingState = seqs[b].sample!;
    const where = `step: sequence ${b}`;
    p.temperature[r] = s.temperature;
    p.topK[r] = s.topK;
    p.topP[r] = s.topP;
    p.minP[r] = s.minP;
    p.seeds[r] = BigInt.asIntN(64, s.seed);
    p.steps[r] = s.step;
    p.repetition[r] = s.repetitionPenalty;
    p.frequency[r] = s.frequencyPenalty;
    p.presence[r] = s.presencePenalty;
    if (s.temperature > 0) p.shape.greedy = false;
    if (s.allowedTokens) {
      if (s.allowedTokens.length !== words) throw inputError(`${where}: allowedTokens has ${s.allowedTokens.length} words, the vocabulary needs ${words}`);
      p.maskRows[r] = masks.length;
      masks.push(s.allowedTokens);
    }
    if (s.logitBias.length > MAX_LOGIT_BIAS) throw inputError(`${where}: ${s.logitBias.length} logit bias entries exceed ${MAX_LOGIT_BIAS}`);
    for (const [t, v] of s.logitBias) {
      if (!Number.isInteger(t) || t < 0 || t >= vocabSize) throw inputError(`${where}: logit bias token ${t} is outside [0, ${vocabSize})`);
      biasTokens.push(t);
      biasValues.push(v);
    }
    p.biasOffsets[r + 1] = biasTokens.length;
    const penalized = hasPenalties(s);
    if (penalized && !s.history) throw inputError(`${where}: penalties need the sequence's history`);
    const seq = seqs[b];
    p.penaltyRows.push(penalized ? { ...s.history!, start: seq.start, count: seq.tokens.length } : null);
    if (!Number.isInteger(s.logprobs) || s.logprobs < -1 || s.logprobs > MAX_TOP_LOGPROBS) {
      throw inputError(`${where}: logprobs ${s.logprobs} is outside [-1, ${MAX_TOP_LOGPROBS}]`);
    }
    p.logprobs[r] = s.logprobs;
    p.shape.topLogprobs = Math.max(p.shape.topLogprobs, s.logprobs);
  });
  p.shape.mask = masks.length > 0;
  p.shape.bias = biasTokens.length > 0;
  p.shape.penalties = p.penaltyRows.some((r) => r !== null);
  p.maskWords = new Int32Array(masks.length * words);
  masks.forEach((m, i) => p.maskWords.set(new Int32Array(m.buffer, m.byteOffset, m.length), i * words));
  p.biasTokens = Int32Array.from(biasTokens);
  p.biasValues = Float32Array.from(biasValues);
  return p;
}

/**
 * `p` with rows added up to `rows` for a padded decode step's padding rows (lib/models/step-inputs.ts
 * padDecodeStep): greedy (temperature 0), no top-k / top-p / min-p, no mask, bias or penalty, no
 * log-probabilities. They change nothing of the shape, so the step keeps its real rows' program.
 */
export function padSampling(p: PackedSampling, rows: number): PackedSampling {
  if (rows < p.rows) throw new Error(`padSampling: ${p.rows} sampling rows cannot pad to ${rows}`);
  if (rows === p.rows) return p;
  return {
    ...p, rows,
    temperature: padded(p.temperature, rows, 0), topK: padded(p.topK, rows, 0), topP: padded(p.topP, rows, 1),
    minP: padded(p.minP, rows, 0), seeds: padded(p.seeds, rows, 0n), steps: padded(p.steps, rows, 0),
    repetition: padded(p.repetition, rows, 1), frequency: padded(p.frequency, rows, 0), presence: padded(p.presence, rows, 0),
    maskRows: padded(p.maskRows, rows, -1), biasOffsets: padded(p.biasOffsets, rows + 1, p.biasOffsets[p.rows]),
    penaltyRows: [...p.penaltyRows, ...new Array<null>(rows - p.rows).fill(null)], logprobs: padded(p.logprobs, rows, -1),
  };
}

/** What the stage reserves for `rows` sampling rows over a vocabulary, element counts by buffer. */
export function samplingBufferSizes(vocabSize: number, rows: number, maxNumBatchedTokens: number) {
  const words = Math.ceil(vocabSize / 32);
  return {
    processed: { f32: rows * vocabSize },
    counts: { i32: rows * vocabSize },
    rowI32: { i32: 6 * rows + 2 },     // topK, steps, maskRows, penaltySlots [S]; biasOffsets, countOffsets [S+1]
    rowF32: { f32: 6 * rows },         // temperature, topP, minP, repetition, frequency, presence
    seeds: { i64: rows },
    maskWords: { i32: rows * words },
    biasTokens: { i32: rows * MAX_LOGIT_BIAS },
    biasValues: { f32: rows * MAX_LOGIT_BIAS },
    countTokens: { i32: maxNumBatchedTokens },
    sampled: { i32: rows },
    tokenLogprobs: { f32: rows },
    topIds: { i32: rows * MAX_TOP_LOGPROBS },
    topLogprobs: { f32: rows * MAX_TOP_LOGPROBS },
  };
}

const BYTES = { f32: 4, i32: 4, i64: 8 } as const;

/** Bytes the stage reserves (what the memory planner counts; each buffer is one allocation, at least one element). */
export function samplingWorkspaceBytes(vocabSize: number, rows: number, maxNumBatchedTokens: number): number {
  let total = 0;
  for (const b of Object.values(samplingBufferSizes(vocabSize, rows, maxNumBatchedTokens))) {
    for (const [dtype, n] of Object.entries(b)) total += BYTES[dtype as keyof typeof BYTES] * Math.max(n, 1);
  }
  return total;
}

/** The device tensors of one step's sampling inputs (views, released with the step). */
interface SamplingTensors {
  shape: SamplingShape;
  rows: number;
  temperature: Tensor; topK: Tensor; topP: Tensor; minP: Tensor; seeds: Tensor; steps: Tensor;
  maskRows: Tensor; maskWords: Tensor;
  biasOffsets: Tensor; biasTokens: Tensor; biasValues: Tensor;
  penaltySlots: Tensor; repetition: Tensor; frequency: Tensor; presence: Tensor; countOffsets: Tensor; countTokens: Tensor;
}

/** A step's result from the stage: one token per sampling row, and its log-probabilities where asked. */
export interface SampledRows {
  tokens: Int32Array;
  logprobs: Array<TokenLogprobs | null>;
}

export class SamplingStage {
  private readonly processed: Tensor;
  private readonly counts: Tensor;
  private readonly rowI32: Staging<Int32Array>;
  private readonly rowF32: Staging<Float32Array>;
  private readonly seedBuf: Staging<BigInt64Array>;
  private readonly maskWords: ListBuffer<Int32Array>;
  private readonly biasTokens: ListBuffer<Int32Array>;
  private readonly biasValues: ListBuffer<Float32Array>;
  private readonly countTokens: ListBuffer<Int32Array>;
  private readonly sampled: Tensor;
  private readonly tokenLogprobs: Tensor;
  private readonly topIds: Tensor;
  private readonly topLogprobs: Tensor;
  private readonly slots: PenaltySlots;
  /** views of the fixed buffers handed to a step's commands */
  private readonly views = new ViewCache();
  private readonly owned: Array<{ dispose(): void }>;

  constructor(device: DeviceName, private readonly vocabSize: number, private readonly maxRows: number, maxNumBatchedTokens: number) {
    const n = samplingBufferSizes(vocabSize, maxRows, maxNumBatchedTokens);
    const V = vocabSize;
    this.processed = Tensor.empty(device, 'f32', [maxRows, V], 'workspace');
    this.counts = Tensor.empty(device, 'i32', [maxRows, V], 'workspace');
    this.rowI32 = new Staging(device, (k) => new Int32Array(k), 'i32', n.rowI32.i32);
    this.rowF32 = new Staging(device, (k) => new Float32Array(k), 'f32', n.rowF32.f32);
    this.seedBuf = new Staging(device, (k) => new BigInt64Array(k), 'i64', n.seeds.i64);
    this.maskWords = new ListBuffer(device, 'i32', n.maskWords.i32);
    this.biasTokens = new ListBuffer(device, 'i32', n.biasTokens.i32);
    this.biasValues = new ListBuffer(device, 'f32', n.biasValues.f32);
    this.countTokens = new ListBuffer(device, 'i32', n.countTokens.i32);
    this.sampled = Tensor.empty(device, 'i32', [maxRows], 'workspace');
    this.tokenLogprobs = Tensor.empty(device, 'f32', [maxRows], 'workspace');
    this.topIds = Tensor.empty(device, 'i32', [maxRows, MAX_TOP_LOGPROBS], 'workspace');
    this.topLogprobs = Tensor.empty(device, 'f32', [maxRows, MAX_TOP_LOGPROBS], 'workspace');
    this.slots = new PenaltySlots(maxRows);
    this.owned = [this.processed, this.counts, this.rowI32, this.rowF32, this.seedBuf, this.maskWords, this.biasTokens,
      this.biasValues, this.countTokens, this.sampled, this.tokenLogprobs, this.topIds, this.topLogprobs];
  }

  /** Bytes of every buffer of the stage (what samplingWorkspaceBytes predicts). */
  get bytes(): number {
    return this.processed.nbytes + this.counts.nbytes + this.rowI32.bytes + this.rowF32.bytes + this.seedBuf.bytes +
      this.maskWords.bytes + this.biasTokens.bytes + this.biasValues.bytes + this.countTokens.bytes + this.sampled.nbytes +
      this.tokenLogprobs.nbytes + this.topIds.nbytes + this.topLogprobs.nbytes;
  }

  /**
   * Before the step's program: gives each sequence with a penalty its row of token counts and brings the rows
   * that are behind up to the step's start (small programs of their own, rare: a sequence's first sample, a
   * recompute). Returns the plan to pass to upload(), commit() or forget().
   */
  async prepare(p: PackedSampling): Promise<PenaltyPlan> {
    const plan = this.slots.plan(p.penaltyRows);
    try {
      await this.catchUp(plan);
    } catch (e) {
      this.slots.forget(plan);
      throw e;
    }
    return plan;
  }

  /** Uploads the step's sampling inputs (one write per buffer in use). */
  upload(p: PackedSampling, plan: PenaltyPlan): SamplingTensors {
    const S = p.rows;
    const [topK, steps, maskRows, penaltySlots, biasOffsets, countOffsets] = this.rowI32.upload([
      [p.topK, [S]], [p.steps, [S]], [p.maskRows, [S]], [plan.slots, [S]], [p.biasOffsets, [S + 1]], [plan.offsets, [S + 1]],
    ]);
    const [temperature, topP, minP, repetition, frequency, presence] = this.rowF32.upload([
      [p.temperature, [S]], [p.topP, [S]], [p.minP, [S]], [p.repetition, [S]], [p.frequency, [S]], [p.presence, [S]],
    ]);
    const [seeds] = this.seedBuf.upload([[p.seeds, [S]]]);
    const words = Math.ceil(this.vocabSize / 32);
    const s = p.shape;
    return {
      shape: s, rows: S, temperature, topK, topP, minP, seeds, steps, maskRows, penaltySlots, biasOffsets, countOffsets,
      repetition, frequency, presence,
      maskWords: this.maskWords.upload(s.mask ? p.maskWords : new Int32Array(0), [this.maxRows, words]),
      biasTokens: this.biasTokens.upload(s.bias ? p.biasTokens : new Int32Array(0)),
      biasValues: this.biasValues.upload(s.bias ? p.biasValues : new Float32Array(0)),
      countTokens: this.countTokens.upload(s.penalties ? plan.tokens : new Int32Array(0)),
    };
  }

  /** The commands from the step's logits [S, V] (the sampling rows') to the sampled ids and log-probabilities. */
  commands(logits: Tensor, t: SamplingTensors): Command[] {
    const S = t.rows;
    const s = t.shape;
    const prog: Command[] = [];
    let src = logits;
    if (s.mask || s.bias || s.penalties) {
      if (s.penalties) {
        prog.push(ops.countTokens({ counts: this.counts, slots: t.penaltySlots, offsets: t.countOffsets, tokens: t.countTokens }));
      }
      src = this.views.view(this.processed, 0, [S, this.vocabSize]);
      prog.push(ops.processLogits({
        logits, out: src,
        ...(s.mask ? { maskWords: t.maskWords, maskRows: t.maskRows } : {}),
        ...(s.bias ? { biasOffsets: t.biasOffsets, biasTokens: t.biasTokens, biasValues: t.biasValues } : {}),
        ...(s.penalties ? { counts: this.counts, penaltySlots: t.penaltySlots, repetition: t.repetition, frequency: t.frequency, presence: t.presence } : {}),
      }));
    }
    const out = this.views.view(this.sampled, 0, [S]);
    prog.push(s.greedy
      ? ops.argmax({ logits: src, out })
      : ops.sample({ logits: src, temperature: t.temperature, topK: t.topK, topP: t.topP, minP: t.minP, seeds: t.seeds, steps: t.steps, out }));
    if (s.topLogprobs >= 0) {
      const K = s.topLogprobs;
      const lp = this.views.view(this.tokenLogprobs, 0, [S]);
      const ids = K > 0 ? this.views.view(this.topIds, 0, [S, K]) : null;
      const top = K > 0 ? this.views.view(this.topLogprobs, 0, [S, K]) : null;
      prog.push(ops.logprobs({ logits, tokens: out, tokenLogprobs: lp, topIds: ids, topLogprobs: top }));
    }
    return prog;
  }

  /** After the step's program ran: the sampled ids and the log-probabilities each row asked for. */
  readBack(p: PackedSampling): SampledRows {
    const S = p.rows;
    // [S, K] views are the first S × K elements of their buffers: row r's entry j is element r · K + j
    const tokens = new Int32Array(this.sampled.read()).slice(0, S);
    const logprobs: Array<TokenLogprobs | null> = new Array(S).fill(null);
    const K = p.shape.topLogprobs;
    if (K < 0) return { tokens, logprobs };
    const lp = new Float32Array(this.tokenLogprobs.read());
    const ids = K > 0 ? new Int32Array(this.topIds.read()) : null;
    const top = K > 0 ? new Float32Array(this.topLogprobs.read()) : null;
    for (let r = 0; r < S; r++) {
      const k = p.logprobs[r];
      if (k < 0) continue;
      logprobs[r] = {
        logprob: lp[r],
        top: Array.from({ length: k }, (_, j) => ({ tokenId: ids![r * K + j], logprob: top![r * K + j] })),
      };
    }
    return { tokens, logprobs };
  }

  /** The step ran: the penalty rows now count their sequences to the end of the step. */
  commit(plan: PenaltyPlan): void {
    this.slots.commit(plan);
  }

  /** The step failed: rows it may have half updated are caught up afresh next time. */
  forget(plan: PenaltyPlan): void {
    this.slots.forget(plan);
  }

  /** Between steps (once the step's program has been handed to exec). */
  release(): void {
    this.views.release();
    for (const b of [this.rowI32, this.rowF32, this.seedBuf, this.maskWords, this.biasTokens, this.biasValues, this.countTokens]) b.release();
  }

  dispose(): void {
    this.views.dispose();
    for (const b of this.owned) b.dispose();
  }

  /** Clears the rows that are behind and counts their sequences' tokens before the step, as many per program as the list holds. */
  private async catchUp(plan: PenaltyPlan): Promise<void> {
    const cap = this.countTokens.capacity;
    let entries: Array<{ slot: number; reset: number; tokens: Int32Array }> = [];
    let size = 0;
    const flush = async () => {
      if (entries.length === 0) return;
      const R = entries.length;
      const offsets = new Int32Array(R + 1);
      entries.forEach((e, i) => { offsets[i + 1] = offsets[i] + e.tokens.length; });
      const tokens = new Int32Array(size);
      entries.forEach((e, i) => tokens.set(e.tokens, offsets[i]));
      try {
        const [slots, reset, off] = this.rowI32.upload([
          [Int32Array.from(entries, (e) => e.slot), [R]], [Int32Array.from(entries, (e) => e.reset), [R]], [offsets, [R + 1]],
        ]);
        await run([ops.countTokens({ counts: this.counts, slots, reset, offsets: off, tokens: this.countTokens.upload(tokens) })]);
      } finally {
        this.rowI32.release();
        this.countTokens.release();
      }
      entries = [];
      size = 0;
    };
    for (const job of plan.catchUp) {
      // a history longer than the list goes in parts; only the first clears the row
      for (let from = 0, first = true; first || from < job.tokens.length; first = false) {
        if (size === cap || entries.length === this.maxRows) await flush();
        const part = job.tokens.subarray(from, from + (cap - size));
        entries.push({ slot: job.slot, reset: first ? 1 : 0, tokens: part });
        size += part.length;
        from += part.length;
        if (from < job.tokens.length) await flush();  // one entry per slot in a program
      }
    }
    await flush();
  }
}
