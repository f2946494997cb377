/**
 * Float64 references of the sampling pipeline, as vLLM defines each step (vllm/v1/sample/sampler.py): the
 * logits processors (token mask, logit bias, repetition / frequency / presence penalties), the distribution
 * the sampler draws from (temperature, min-p, top-k, top-p) and raw log-probabilities. Shared by the CPU op
 * tests (test/ops/sampling.test.ts) and the device suite (test/gpu/sampling.test.ts).
 */
type Arr = ArrayLike<number>;

/** What the processors know of one row: each part optional, as in process_logits. */
export interface RowProcessors {
  /** allowed tokens (the token mask); absent: every token */
  allowed?: ReadonlySet<number>;
  /** [token, bias] pairs, tokens distinct */
  bias?: Array<[number, number]>;
  /** tokens of the prompt, and how often each token occurs in the output so far */
  penalties?: { prompt: ReadonlySet<number>; output: ReadonlyMap<number, number>; repetition: number; frequency: number; presence: number };
}

/** One row through the processors, in vLLM's order: mask → bias → repetition → frequency → presence. */
export function processRow(logits: Arr, p: RowProcessors): Float64Array {
  const x = Float64Array.from(logits);
  if (p.allowed) for (let t = 0; t < x.length; t++) if (!p.allowed.has(t)) x[t] = -Infinity;
  for (const [t, b] of p.bias ?? []) x[t] += b;
  const q = p.penalties;
  if (q) {
    for (let t = 0; t < x.length; t++) {
      const n = q.output.get(t) ?? 0;
      if (n === 0 && !q.prompt.has(t)) continue;
      x[t] = x[t] > 0 ? x[t] / q.repetition : x[t] * q.repetition;
      x[t] -= q.frequency * n;
      if (n > 0) x[t] -= q.presence;
    }
  }
  return x;
}

/**
 * The distribution the sampler draws from: weights exp((x − max) / T); tokens whose probability is below
 * minP × the largest one's dropped (vLLM's min-p); then the topK most likely (ties: lower index first), then the
 * smallest most-likely prefix whose mass reaches topP; renormalized.
 */
export function samplingDistribution(logits: Arr, T: number, topK: number, topP: number, minP = 0): Float64Array {
  const V = logits.length;
  let m = -Infinity;
  for (let i = 0; i < V; i++) m = Math.max(m, logits[i]);
  const w = Array.from({ length: V }, (_, i) => {
    const wi = Math.exp((logits[i] - m) / T);
    return wi < Math.min(minP, 1) ? 0 : wi;
  });
  const order = Array.from({ length: V }, (_, i) => i).sort((a, b) => w[b] - w[a] || a - b);
  const k = topK <= 0 || topK >= V ? V : topK;
  let keep = k;
  if (topP < 1) {
    let mass = 0;
    for (let i = 0; i < k; i++) mass += w[order[i]];
    let cum = 0;
    for (let i = 0; i < k; i++) {
      cum += w[order[i]];
      if (cum >= topP * mass) { keep = i + 1; break; }
    }
  }
  const probs = new Float64Array(V);
  let total = 0;
  for (let i = 0; i < keep; i++) total += w[order[i]];
  for (let i = 0; i < keep; i++) probs[order[i]] = w[order[i]] / total;
  return probs;
}

const M64 = (1n << 64n) - 1n;
function splitmix64(z: bigint): bigint {
  z = (z + 0x9e3779b97f4a7c15n) & M64;
  z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M64;
  z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M64;
  return z ^ (z >> 31n);
}

/** The sampler's uniform number of (seed, step), as native/cpu/sample_rng.h draws it: 53 bits in [0, 1). */
export function sampleUniform(seed: bigint, step: number): number {
  const key = splitmix64(BigInt.asUintN(64, seed));
  const bits = splitmix64(key ^ ((BigInt(step >>> 0) * 0xd1b54a32d192ed03n) & M64));
  return Number(bits >> 11n) / 2 ** 53;
}

/**
 * The draws from f32 logits in float64, as the op defines them: weights exp(f32(x − max) / T) (0 for NaN
 * and below min-p), the top k by weight (lower index first on ties), the smallest prefix whose mass reaches
 * topP × theirs; a draw of uniform u is the first token of that prefix whose running mass passes u × its
 * mass (without top-k and top-p: of the tokens of positive weight in index order). Each draw is `ambiguous` when a comparison falls within `margin` (relative) of its goal, where
 * another order of adding could decide it the other way.
 */
export function referenceDraws(logits: Float32Array, T: number, topK: number, topP: number, minP: number, margin = 1e-9) {
  const V = logits.length;
  let m = -Infinity;
  for (const x of logits) if (x > m) m = x;
  const t = Math.fround(T);
  const w = Array.from(logits, (x) => {
    if (Number.isNaN(x)) return 0;
    const wi = Math.exp(Math.fround(x - m) / t);
    return wi < Math.min(Math.fround(minP), 1) ? 0 : wi;
  });
  const k = topK <= 0 || topK >= V ? V : topK;
  // with neither cut the draw walks the vocabulary in index order (no order to put the tokens in)
  const order = k === V && Math.fround(topP) >= 1
    ? w.map((_, i) => i).filter((i) => w[i] > 0) : w.map((_, i) => i).sort((a, b) => w[b] - w[a] || a - b);
  const near = (a: number, b: number) => Math.abs(a - b) <= margin * Math.max(Math.abs(a), Math.abs(b));
  let keep = Math.min(k, order.length);
  let cutAmbiguous = false;
  if (Math.fround(topP) < 1) {
    let mass = 0;
    for (let i = 0; i < k; i++) mass += w[order[i]];
    const need = Math.fround(topP) * mass;
    let cum = 0;
    for (let i = 0; i < k; i++) {
      cum += w[order[i]];
      if (near(cum, need)) cutAmbiguous = true;
      if (cum >= need) { keep = i + 1; break; }
    }
  }
  let kept = 0;
  for (let i = 0; i < keep; i++) kept += w[order[i]];
  return (u: number): { token: number; ambiguous: boolean } => {
    const target = u * kept;
    let walked = 0;
    for (let i = 0; i < keep; i++) {
      walked += w[order[i]];
      if (walked > target) return { token: order[i], ambiguous: cutAmbiguous || near(walked, target) };
    }
    return { token: order[keep - 1], ambiguous: true };
  };
}

/** log_softmax of a row (NaN counts as -inf): the log-probability of each token. */
export function logSoftmax(logits: Arr): Float64Array {
  const x = Float64Array.from(logits, (v) => (Number.isNaN(v) ? -Infinity : v));
  const m = x.reduce((a, b) => Math.max(a, b), -Infinity);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - m);
  const lse = m + Math.log(sum);
  return x.map((v) => v - lse);
}

/** The k most likely tokens of a row (larger first, lower index first on ties; NaN counts as -inf). */
export function topTokens(logits: Arr, k: number): number[] {
  const x = Array.from(logits, (v) => (Number.isNaN(v) ? -Infinity : v));
  return x.map((_, i) => i).sort((a, b) => x[b] - x[a] || a - b).slice(0, k);
}

// ------------------------------------------------------------------------------------- random cases

/** A process_logits case: the rows' processors, and the same as the op's packed tensors. */
export interface ProcessCase {
  S: number;
  V: number;
  logits: Float32Array;
  rows: RowProcessors[];
  /** the op's inputs (see ops.processLogits); counts has C rows */
  maskWords: Int32Array; maskRows: Int32Array; M: number;
  biasOffsets: Int32Array; biasTokens: Int32Array; biasValues: Float32Array;
  counts: Int32Array; C: number; penaltySlots: Int32Array; repetition: Float32Array; frequency: Float32Array; presence: Float32Array;
}

/**
 * S rows of V random logits, each row with a random mix of the processors (some rows none at all, some all
 * three); rows with penalties use counts rows in a shuffled order among spare rows of garbage (which must never
 * be read). Logit scale ~2 with some exact zeros and negative values so both repetition branches run.
 */
export function processCase(S: number, V: number, rnd: () => number): ProcessCase {
  const W = Math.ceil(V / 32);
  const logits = Float32Array.from({ length: S * V }, () => (rnd() < 0.02 ? 0 : (rnd() * 2 - 1) * 4));
  const C = S + 3;
  const slotOrder = Array.from({ length: C }, (_, i) => i).sort(() => rnd() - 0.5);
  const counts = Int32Array.from({ length: C * V }, () => Math.floor(rnd() * 2 ** 31) | (rnd() < 0.5 ? 0x80000000 : 0));
  const masks: number[][] = [];
  const maskRows = new Int32Array(S).fill(-1);
  const biasOffsets = new Int32Array(S + 1);
  const biasTokens: number[] = [];
  const biasValues: number[] = [];
  const penaltySlots = new Int32Array(S).fill(-1);
  const repetition = new Float32Array(S).fill(1);
  const frequency = new Float32Array(S);
  const presence = new Float32Array(S);
  const rows: RowProcessors[] = [];
  for (let b = 0; b < S; b++) {
    const p: RowProcessors = {};
    if (rnd() < 0.5) {
      const allowed = new Set<number>();
      for (let t = 0; t < V; t++) if (rnd() < 0.3) allowed.add(t);
      allowed.add(Math.floor(rnd() * V));
      const words = new Array(W).fill(0);
      for (const t of allowed) words[t >> 5] |= 1 << (t & 31);
      maskRows[b] = masks.length;
      masks.push(words);
      p.allowed = allowed;
    }
    if (rnd() < 0.5) {
      const n = 1 + Math.floor(rnd() * Math.min(40, V));
      const toks = [...new Set(Array.from({ length: n }, () => Math.floor(rnd() * V)))];
      p.bias = toks.map((t) => [t, Math.fround(rnd() < 0.1 ? -100 : (rnd() * 2 - 1) * 5)] as [number, number]);
      for (const [t, v] of p.bias) { biasTokens.push(t); biasValues.push(v); }
    }
    biasOffsets[b + 1] = biasTokens.length;
    if (rnd() < 0.6) {
      const slot = slotOrder[b];
      const prompt = new Set<number>();
      const output = new Map<number, number>();
      for (let t = 0; t < V; t++) {
        const u = rnd();
        if (u < 0.1) prompt.add(t);
        if (u > 0.05 && u < 0.2) output.set(t, 1 + Math.floor(rnd() * 5));
        counts[slot * V + t] = (output.get(t) ?? 0) | (prompt.has(t) ? 0x80000000 : 0);
      }
      penaltySlots[b] = slot;
      repetition[b] = Math.fround(0.5 + rnd() * 1.5);
      frequency[b] = Math.fround((rnd() * 2 - 1) * 2);
      presence[b] = Math.fround((rnd() * 2 - 1) * 2);
      p.penalties = { prompt, output, repetition: repetition[b], frequency: frequency[b], presence: presence[b] };
    }
    rows.push(p);
  }
  return {
    S, V, logits, rows,
    maskWords: Int32Array.from(masks.flat()), maskRows, M: masks.length,
    biasOffsets, biasTokens: Int32Array.from(biasTokens), biasValues: Float32Array.from(biasValues),
    counts, C, penaltySlots, repetition, frequency, presence,
  };
}

/** process_logits' reference for a case (its logits read as `values`, e.g. rounded to f16 first). */
export function processCaseReference(c: ProcessCase, values: ArrayLike<number> = c.logits): Float64Array {
  const out = new Float64Array(c.S * c.V);
  c.rows.forEach((p, b) => out.set(processRow(Array.prototype.slice.call(values, b * c.V, (b + 1) * c.V), p), b * c.V));
  return out;
}

/**
 * Compares processed logits with the reference: -inf exactly where the reference has it, elsewhere within
 * `tol` of max |reference| (f32 arithmetic: a few roundings per element).
 */
export function expectProcessed(got: ArrayLike<number>, want: ArrayLike<number>, tol: number): void {
  let scale = 0;
  for (let i = 0; i < want.length; i++) if (Number.isFinite(want[i])) scale = Math.max(scale, Math.abs(want[i]));
  let worst = 0, worstAt = -1;
  for (let i = 0; i < want.length; i++) {
    if (!Number.isFinite(want[i])) {
      if (got[i] !== want[i]) throw new Error(`element ${i}: ${got[i]}, want ${want[i]}`);
      continue;
    }
    const e = Math.abs(got[i] - want[i]) / scale;
    if (Number.isNaN(e)) throw new Error(`element ${i}: ${got[i]}, want ${want[i]}`);
    if (e > worst) { worst = e; worstAt = i; }
  }
  if (worst > tol) throw new Error(`element ${worstAt}: ${got[worstAt]}, want ${want[worstAt]} (error ${worst} of max |want| > ${tol})`);
}
