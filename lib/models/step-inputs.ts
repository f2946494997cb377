/**
 * The small per-step index tensors of a forward pass, built on the host from the loop's StepSequence[] and
 * sent to the device in one write per dtype:
 *   ids, positions, slotMapping  i32 [T]      (T = tokens of the step, packed token-major, no padding)
 *   cuSeqlens                    i32 [B+1]    (sequence b owns packed rows cu[b] .. cu[b+1])
 *   contextLens                  i32 [B]      (keys of sequence b including its new tokens)
 *   blockTables                  i32 [B, W]   (W = most blocks any sequence of the step needs)
 *   sampleRows                   i32 [S]      (packed row of the last token of each sampling sequence)
 * The sampling sequences' own inputs (their parameters, masks, biases, penalties) are lib/models/sampling.ts's.
 */
import { inputError } from '../errors';
import { DeviceName, Tensor } from '../native';
import { checkTokenIds } from '../core/checks';
import type { KvCacheShape, StepBudget, StepSequence } from '../core/step';
import { ViewCache } from './activations';

/** What a step must fit: the runner's budgets and cache, and the vocabulary. */
export interface StepLimits extends StepBudget, KvCacheShape {
  vocabSize: number;
}

export interface PackedStep {
  numTokens: number;
  numSeqs: number;
  ids: Int32Array;
  positions: Int32Array;
  slotMapping: Int32Array;
  cuSeqlens: Int32Array;
  contextLens: Int32Array;
  blockTables: Int32Array;
  blockTableWidth: number;
  /** longest run of new tokens of one sequence (a launch hint for the kernels) */
  maxSeqlen: number;
  maxContextLen: number;
  /** batch index of each sequence that samples, in batch order */
  sampleSeqs: number[];
  sampleRows: Int32Array;
}

/** Checks the loop's batch against the runner's limits and packs it token-major. */
export function packStep(seqs: StepSequence[], lim: StepLimits): PackedStep {
  if (seqs.length === 0) throw inputError('step: the batch is empty');
  if (seqs.length > lim.maxNumSeqs) throw inputError(`step: ${seqs.length} sequences exceed maxNumSeqs ${lim.maxNumSeqs}`);
  let numTokens = 0;
  let width = 1;
  seqs.forEach((s, b) => {
    const n = checkTokenIds(s.tokens, lim.vocabSize, `step: sequence ${b} tokens`).length;
    if (!Number.isInteger(s.start) || s.start < 0) throw inputError(`step: sequence ${b} has start ${s.start}`);
    const end = s.start + n;
    if (end > lim.maxModelLen) throw inputError(`step: sequence ${b} reaches ${end} tokens, past maxModelLen ${lim.maxModelLen}`);
    const need = Math.ceil(end / lim.blockSize);
    if (s.blockTable.length < need) {
      throw inputError(`step: sequence ${b} holds ${end} tokens and needs ${need} blocks, its block table has ${s.blockTable.length}`);
    }
    for (let i = 0; i < need; i++) {
      const blk = s.blockTable[i];
      if (!Number.isInteger(blk) || blk < 0 || blk >= lim.numBlocks) {
        throw inputError(`step: sequence ${b} block table entry ${i} is ${blk}, not a block of the cache (${lim.numBlocks} blocks)`);
      }
    }
    numTokens += n;
    width = Math.max(width, need);
  });
  if (numTokens > lim.maxNumBatchedTokens) {
    throw inputError(`step: ${numTokens} tokens exceed maxNumBatchedTokens ${lim.maxNumBatchedTokens}`);
  }

  const B = seqs.length;
  const ids = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const slotMapping = new Int32Array(numTokens);
  const cuSeqlens = new Int32Array(B + 1);
  const contextLens = new Int32Array(B);
  const blockTables = new Int32Array(B * width);
  const sampleSeqs: number[] = [];
  let maxSeqlen = 0;
  let maxContextLen = 0;
  let row = 0;
  seqs.forEach((s, b) => {
    const n = s.tokens.length;
    for (let j = 0; j < n; j++) {
      const id = s.tokens[j];
      const pos = s.start + j;
      ids[row] = id;
      positions[row] = pos;
      slotMapping[row] = s.blockTable[Math.floor(pos / lim.blockSize)] * lim.blockSize + (pos % lim.blockSize);
      row++;
    }
    cuSeqlens[b + 1] = row;
    contextLens[b] = s.start + n;
    const need = Math.ceil((s.start + n) / lim.blockSize);
    for (let i = 0; i < need; i++) blockTables[b * width + i] = s.blockTable[i];
    maxSeqlen = Math.max(maxSeqlen, n);
    maxContextLen = Math.max(maxContextLen, s.start + n);
    if (s.sample) sampleSeqs.push(b);
  });

  const sampleRows = Int32Array.from(sampleSeqs, (b) => cuSeqlens[b + 1] - 1);
  return {
    numTokens, numSeqs: B, ids, positions, slotMapping, cuSeqlens, contextLens, blockTables, blockTableWidth: width,
    maxSeqlen, maxContextLen, sampleSeqs, sampleRows,
  };
}

/**
 * The decode batch sizes the runner pads to, as vLLM pads to its CUDA-graph capture sizes: 1, 2, 4, then
 * multiples of 8 (at most `max`). A decode step's prepared program — and on CUDA its captured graph — is kept
 * per padded size, so a batch that shrinks and grows as requests finish and arrive reuses a handful of
 * programs instead of parsing and capturing one per size. Padding costs little: decode is bound by reading
 * the weights, which every row shares.
 */
export function decodeBucket(n: number, max: number): number {
  const b = n <= 1 ? 1 : n <= 2 ? 2 : n <= 4 ? 4 : Math.ceil(n / 8) * 8;
  return Math.max(n, Math.min(b, max));
}

/** The block-table widths the runner pads to: powers of two (at most `max`), so growing contexts add few programs. */
export function widthBucket(w: number, max: number): number {
  return Math.max(w, Math.min(2 ** Math.ceil(Math.log2(Math.max(w, 1))), max));
}

/** `a` lengthened to `n` elements, the new ones `fill` (padding a step's per-row arrays); `a` itself when it has n. */
export function padded<A extends Int32Array | Float32Array | BigInt64Array>(a: A, n: number, fill: number | bigint): A {
  if (a.length === n) return a;
  const out = new (a.constructor as new (n: number) => A)(n);
  out.set(a as never);
  out.fill(fill as never, a.length);
  return out;
}

/**
 * A decode step (one new token per sequence, every sequence sampling) padded to `rows` sequences and block
 * tables `width` wide. A padding row decodes token 0 at position 0 into no cache slot (slot −1: nothing is
 * written) over one key of block 0, and samples (lib/models/sampling.ts padSampling: greedily, nothing
 * asked); every row computes on its own, so the real rows' results are those of the unpadded step (with the
 * batch-invariant mode, bit for bit), and the padding rows' tokens are dropped (sampleSeqs lists the real
 * rows only; sampleRows every row).
 */
export function padDecodeStep(p: PackedStep, rows: number, width: number): PackedStep {
  const B = p.numSeqs;
  if (rows < B || width < p.blockTableWidth || p.numTokens !== B || p.sampleRows.length !== B) {
    throw new Error(`padDecodeStep: a decode step of ${B} sequences, width ${p.blockTableWidth}, cannot pad to ${rows} × ${width}`);
  }
  if (rows === B && width === p.blockTableWidth) return p;
  const blockTables = new Int32Array(rows * width);  // padding entries: block 0 (never read past a context)
  for (let b = 0; b < B; b++) blockTables.set(p.blockTables.subarray(b * p.blockTableWidth, (b + 1) * p.blockTableWidth), b * width);
  // a decode step's row b is token b (cuSeqlens 0, 1, …, B) and samples row b: the padding rows continue both
  const ramp = (n: number) => {
    const a = new Int32Array(n);
    for (let i = 0; i < n; i++) a[i] = i;
    return a;
  };
  return {
    ...p, numTokens: rows, numSeqs: rows, blockTableWidth: width, blockTables,
    ids: padded(p.ids, rows, 0), positions: padded(p.positions, rows, 0), slotMapping: padded(p.slotMapping, rows, -1),
    cuSeqlens: rows === B ? p.cuSeqlens : ramp(rows + 1), contextLens: padded(p.contextLens, rows, 1),
    sampleRows: rows === B ? p.sampleRows : ramp(rows),
  };
}

/** An encoder batch packed token-major: ids, positions 0..n-1 per sequence, token types, cu_seqlens. */
export interface PackedEncoderBatch {
  numTokens: number;
  numSeqs: number;
  ids: Int32Array;
  positions: Int32Array;
  typeIds: Int32Array;
  cuSeqlens: Int32Array;
  maxSeqlen: number;
}

export function packEncoderBatch(batch: number[][], typeIds: number[][] | undefined, lim: {
  vocabSize: number; typeVocabSize: number; maxPositions: number;
}): PackedEncoderBatch {
  const numTokens = batch.reduce((a, s) => a + s.length, 0);
  const ids = new Int32Array(numTokens);
  const positions = new Int32Array(numTokens);
  const types = new Int32Array(numTokens);
  const cuSeqlens = new Int32Array(batch.length + 1);
  let maxSeqlen = 0;
  let row = 0;
  batch.forEach((seq, b) => {
    checkTokenIds(seq, lim.vocabSize, `embed: sequence ${b}`);
    if (seq.length > lim.maxPositions) {
      throw inputError(`embed: sequence ${b} has ${seq.length} tokens, the model has ${lim.maxPositions} positions`);
    }
    const tt = typeIds?.[b];
    if (tt && tt.length !== seq.length) throw inputError(`embed: typeIds[${b}] has ${tt.length} entries for ${seq.length} tokens`);
    seq.forEach((id, j) => {
      const t = tt ? tt[j] : 0;
      if (!Number.isInteger(t) || t < 0 || t >= Math.max(lim.typeVocabSize, 1)) {
        throw inputError(`embed: typeIds[${b}][${j}] is ${t}, outside [0, ${lim.typeVocabSize})`);
      }
      ids[row] = id;
      positions[row] = j;
      types[row] = t;
      row++;
    });
    cuSeqlens[b + 1] = row;
    maxSeqlen = Math.max(maxSeqlen, seq.length);
  });
  return { numTokens, numSeqs: batch.length, ids, positions, typeIds: types, cuSeqlens, maxSeqlen };
}

/**
 * A device buffer the host fills once per step: the parts are laid end to end in one staging array, written
 * with one copy, and handed back as views (disposed by release() once the step's program has run).
 */
export class Staging<A extends Int32Array | Float32Array | BigInt64Array> {
  private readonly buffer: Tensor;
  private readonly views = new ViewCache();

  constructor(device: DeviceName, private readonly make: (n: number) => A, dtype: 'i32' | 'f32' | 'i64', readonly capacity: number) {
    this.buffer = Tensor.empty(device, dtype, [Math.max(capacity, 1)], 'workspace');
  }

  get bytes(): number {
    return this.buffer.nbytes;
  }

  /** Uploads the parts (each with its shape) and returns one view per part, in order. */
  upload(parts: Array<[A, number[]]>): Tensor[] {
    const total = parts.reduce((a, [d]) => a + d.length, 0);
    if (total > this.capacity) throw new Error(`Staging: ${total} elements exceed the reserved ${this.capacity}`);
    const host = this.make(total);
    let off = 0;
    const offsets: number[] = [];
    for (const [d] of parts) {
      host.set(d as never, off);
      offsets.push(off);
      off += d.length;
    }
    if (total > 0) this.buffer.write(host);
    return parts.map(([, shape], i) => this.views.view(this.buffer, offsets[i], shape));
  }

  release(): void {
    this.views.release();
  }

  dispose(): void {
    this.views.dispose();
    this.buffer.dispose();
  }
}

/**
 * A device list of up to `capacity` entries, rewritten from its start each step and always handed out whole:
 * its view never changes, so a prepared program keeps reading the current entries, and the op that reads it
 * takes only as many as its offsets say.
 */
export class ListBuffer<A extends Int32Array | Float32Array> {
  private readonly buffer: Tensor;
  private readonly views = new ViewCache();

  constructor(device: DeviceName, dtype: 'i32' | 'f32', readonly capacity: number) {
    this.buffer = Tensor.empty(device, dtype, [Math.max(capacity, 1)], 'workspace');
  }

  get bytes(): number {
    return this.buffer.nbytes;
  }

  /** Writes `entries` at the start and returns the whole buffer viewed as `shape` (default [capacity]). */
  upload(entries: A, shape: number[] = [this.buffer.shape[0]]): Tensor {
    if (entries.length > this.capacity) throw new Error(`ListBuffer: ${entries.length} entries exceed the reserved ${this.capacity}`);
    if (entries.length > 0) this.buffer.write(entries, 0);
    return this.views.view(this.buffer, 0, shape);
  }

  release(): void {
    this.views.release();
  }

  dispose(): void {
    this.views.dispose();
    this.buffer.dispose();
  }
}
