/**
 * Deterministic stand-ins for the model runners, for testing the loop and the server without a model.
 * The fake decoder keeps a paged cache of (token, position, prefix fingerprint) per slot and computes each
 * next token FROM THE CACHE through the block table, so wrong tables or lost blocks change the output;
 * `referenceTokens` gives what a request yields when it runs alone.
 */
import { inputError } from '../../lib/errors';
import type { DecoderRunner, EncoderRunner, PoolingMode, StepResult, StepSequence } from '../../lib/core/step';
import type { ModelSpec } from '../../lib/core/spec';

export const FAKE_VOCAB = 97;

export function fakeSpec(causal: boolean, vocabSize = FAKE_VOCAB): ModelSpec {
  return {
    family: causal ? 'llama' : 'bert', architecture: causal ? 'FakeForCausalLM' : 'FakeModel', modelType: 'fake', vocabSize,
    hiddenSize: 8, numLayers: 1, numHeads: 1, numKvHeads: 1, headDim: 8, intermediateSize: 16, maxPositionEmbeddings: 4096,
    norm: { kind: 'rmsnorm', eps: 1e-6 }, activation: 'silu', gatedMlp: true, positional: causal ? 'rope' : 'learned',
    tieWordEmbeddings: false, attentionBias: false, mlpBias: false, causal, eosTokenIds: [],
  };
}

const extend = (h: number, token: number) => (Math.imul(h ^ token, 0x01000193) + 0x9e3779b9) >>> 0;

/** The fake model's next token: from the prefix fingerprint, plus the seed and step when sampling. */
function next(fingerprint: number, last: number, temperature: number, seed: bigint, step: number, V: number): number {
  let h = (fingerprint >>> 5) + last * 13;
  if (temperature > 0) h = extend(extend(h, Number(BigInt.asUintN(32, seed))), step);
  return h % V;
}

/** What a request generates alone (greedy, or seeded sampling) until maxTokens, a stop id, or maxModelLen. */
export function referenceTokens(prompt: number[], o: { maxTokens: number; maxModelLen?: number; stop?: number[]; temperature?: number; seed?: bigint },
  V = FAKE_VOCAB): number[] {
  const toks = [...prompt];
  let h = 0;
  for (const t of toks) h = extend(h, t);
  const out: number[] = [];
  const stop = new Set(o.stop ?? []);
  for (;;) {
    const t = next(h, toks[toks.length - 1], o.temperature ?? 0, o.seed ?? 0n, out.length, V);
    out.push(t);
    toks.push(t);
    if (stop.has(t) || out.length >= o.maxTokens || toks.length >= (o.maxModelLen ?? Infinity)) return out;
    h = extend(h, t);
  }
}

/**
 * The token the fake samples under a token mask: its own choice when allowed, else the next allowed id
 * (cyclically), as a masked argmax keeps to the allowed tokens; -1 when none is.
 */
function allowedFrom(mask: Uint32Array | null, t: number): number {
  if (!mask) return t;
  const V = mask.length * 32;
  for (let k = 0; k < V; k++) {
    const c = (t + k) % V;
    if ((mask[c >> 5] >>> (c & 31)) & 1) return c;
  }
  return -1;
}

interface Slot { token: number; pos: number; fingerprint: number }

export class FakeDecoderRunner implements DecoderRunner {
  readonly spec: ModelSpec;
  readonly slots: Array<Slot | null>;
  /** every step's batch: [tokens, sample?] per sequence */
  readonly batches: Array<Array<{ start: number; numTokens: number; sample: boolean }>> = [];
  /** a step whose batch holds this token id fails (to test error paths) */
  failOnToken: number | null = null;
  /** milliseconds each step takes (setTimeout), 0: one setImmediate */
  delayMs = 0;
  /** while set, every step waits for it (a test holds the loop still to look at a state) */
  hold: Promise<void> | null = null;
  /** the token mask of every sampled row, in order (null: none) */
  readonly masks: Array<Uint32Array | null> = [];
  /** sample as if no row had a token mask (to test what follows a token the mask did not allow) */
  ignoreMasks = false;
  disposed = false;
  private busy = false;

  constructor(readonly numBlocks: number, readonly blockSize: number, vocabSize = FAKE_VOCAB) {
    this.spec = fakeSpec(true, vocabSize);
    this.slots = new Array(numBlocks * blockSize).fill(null);
  }

  async step(seqs: StepSequence[]): Promise<StepResult> {
    if (this.busy) throw new Error('FakeDecoderRunner: overlapping steps');
    this.busy = true;
    try {
      await new Promise((r) => (this.delayMs ? setTimeout(r, this.delayMs) : setImmediate(r)));
      if (this.hold) await this.hold;
      if (seqs.length === 0) throw inputError('step: the batch is empty');
      this.batches.push(seqs.map((s) => ({ start: s.start, numTokens: s.tokens.length, sample: s.sample !== null })));
      if (this.failOnToken !== null && seqs.some((s) => s.tokens.includes(this.failOnToken!))) {
        throw inputError(`fake step: token ${this.failOnToken} is poison`);
      }
      const bs = this.blockSize;
      const slotOf = (s: StepSequence, p: number) => {
        const b = s.blockTable[Math.floor(p / bs)];
        if (b === undefined || b < 0 || b >= this.numBlocks) throw inputError(`step: position ${p} has no block (table ${s.blockTable})`);
        return b * bs + (p % bs);
      };
      const tokens = new Int32Array(seqs.length).fill(-1);
      seqs.forEach((s, i) => {
        let h = 0;
        for (let p = 0; p < s.start; p++) {
          const slot = this.slots[slotOf(s, p)];
          if (!slot || slot.pos !== p) throw new Error(`fake step: position ${p} is not in the cache`);
          h = slot.fingerprint;
        }
        if (s.start > 0) {
          // the fingerprint chain must continue from the cached prefix: recompute it to catch foreign blocks
          let check = 0;
          for (let p = 0; p < s.start; p++) check = extend(check, this.slots[slotOf(s, p)]!.token);
          if (check !== h) throw new Error('fake step: the cached prefix belongs to another sequence');
        }
        s.tokens.forEach((t, j) => {
          h = extend(h, t);
          this.slots[slotOf(s, s.start + j)] = { token: t, pos: s.start + j, fingerprint: h };
        });
        if (s.sample) {
          const mask = this.ignoreMasks ? null : s.sample.allowedTokens;
          this.masks.push(mask);
          tokens[i] = allowedFrom(mask, next(h, s.tokens[s.tokens.length - 1], s.sample.temperature, s.sample.seed, s.sample.step, this.spec.vocabSize));
        }
      });
      return { tokens, logprobs: new Array(seqs.length).fill(null) };
    } finally {
      this.busy = false;
    }
  }

  dispose(): void {
    this.disposed = true;
  }
}

/** The fake encoder's vector for a sequence: [length, sum, first, last] (+ pooling tag), normalized if asked. */
/** The width of fakeEmbedding's vectors (the fake encoder's hidden size). */
export const FAKE_EMBEDDING_WIDTH = 5;

export function fakeEmbedding(seq: number[], pooling: PoolingMode, normalize: boolean): Float32Array {
  const v = new Float32Array([seq.length, seq.reduce((a, b) => a + b, 0), seq[0], seq[seq.length - 1], pooling === 'mean' ? 1 : pooling === 'cls' ? 2 : 3]);
  if (normalize) {
    const n = Math.hypot(...v);
    for (let i = 0; i < v.length; i++) v[i] /= n;
  }
  return v;
}

export class FakeEncoderRunner implements EncoderRunner {
  readonly spec: ModelSpec = { ...fakeSpec(false), hiddenSize: FAKE_EMBEDDING_WIDTH };
  readonly batches: Array<{ sizes: number[]; pooling: PoolingMode }> = [];
  failOnToken: number | null = null;
  delayMs = 0;
  disposed = false;
  /** batches begun (a held batch has begun but is not in `batches` yet) */
  started = 0;
  /** while set, every batch waits for it (a test holds the loop still to look at a state) */
  hold: Promise<void> | null = null;

  async embed(batch: number[][], opts: { pooling: PoolingMode; normalize: boolean }): Promise<Float32Array[]> {
    this.started++;
    if (this.hold) await this.hold;
    await new Promise((r) => (this.delayMs ? setTimeout(r, this.delayMs) : setImmediate(r)));
    this.batches.push({ sizes: batch.map((s) => s.length), pooling: opts.pooling });
    if (this.failOnToken !== null && batch.some((s) => s.includes(this.failOnToken!))) throw inputError(`fake embed: token ${this.failOnToken} is poison`);
    return batch.map((s) => fakeEmbedding(s, opts.pooling, opts.normalize));
  }

  dispose(): void {
    this.disposed = true;
  }
}
