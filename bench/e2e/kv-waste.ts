/**
 * KV-cache waste: bytes a cache reserves against the bytes its sequences' keys and values actually fill.
 * A paged cache (vLLM, gpuformer) reserves whole blocks, so it wastes at most one partly filled block per
 * sequence; a contiguous cache reserves maxModelLen tokens per sequence up front (what a naive engine, or a
 * llama.cpp context split evenly between its sequences, does).
 */

export interface KvGeometry {
  /** 2 (K and V) × layers × kv heads × head dim × bytes per element */
  bytesPerToken: number;
  blockSize: number;
  maxModelLen: number;
}

export function kvBytesPerToken(layers: number, kvHeads: number, headDim: number, elementBytes: number): number {
  return 2 * layers * kvHeads * headDim * elementBytes;
}

export interface KvAccount {
  /** bytes the tokens in the cache fill */
  usedBytes: number;
  /** bytes whole blocks of blockSize tokens take */
  pagedBytes: number;
  /** bytes a contiguous maxModelLen slot per sequence takes */
  contiguousBytes: number;
}

/** The three figures for sequences of the given lengths (tokens in the cache). */
export function kvAccount(seqLens: readonly number[], g: KvGeometry): KvAccount {
  let used = 0;
  let paged = 0;
  for (const len of seqLens) {
    if (!(Number.isInteger(len) && len >= 0)) throw new Error(`kvAccount: sequence length ${len} is not a count`);
    if (len > g.maxModelLen) throw new Error(`kvAccount: sequence length ${len} exceeds maxModelLen ${g.maxModelLen}`);
    used += len;
    paged += Math.ceil(len / g.blockSize) * g.blockSize;
  }
  return {
    usedBytes: used * g.bytesPerToken,
    pagedBytes: paged * g.bytesPerToken,
    contiguousBytes: seqLens.length * g.maxModelLen * g.bytesPerToken,
  };
}

/** Share of reserved bytes holding nothing (0 when nothing is reserved). */
export function wasteFraction(reservedBytes: number, usedBytes: number): number {
  return reservedBytes > 0 ? (reservedBytes - usedBytes) / reservedBytes : 0;
}

export interface KvWasteSummary {
  samples: number;
  /** over all samples: Σ(reserved − used) ÷ Σ reserved */
  pagedWaste: number;
  contiguousWaste: number;
  /** the engine's own report (used blocks × block bytes) against the same used bytes; null if not reported */
  measuredWaste: number | null;
  /** the largest reservation seen, for each scheme */
  peakUsedBytes: number;
  peakPagedBytes: number;
  peakContiguousBytes: number;
  peakMeasuredBytes: number | null;
}

/** Accumulates accounts sampled during a run (one per generated token, say). */
export class KvWasteMeter {
  private n = 0;
  private used = 0;
  private paged = 0;
  private contiguous = 0;
  private measured = 0;
  private measuredUsed = 0;
  private peak = { used: 0, paged: 0, contiguous: 0, measured: null as number | null };

  constructor(private readonly geometry: KvGeometry) {}

  /** seqLens: tokens in the cache per live sequence; measuredReservedBytes: the engine's figure, if any. */
  sample(seqLens: readonly number[], measuredReservedBytes?: number): void {
    const a = kvAccount(seqLens, this.geometry);
    this.n++;
    this.used += a.usedBytes;
    this.paged += a.pagedBytes;
    this.contiguous += a.contiguousBytes;
    this.peak.used = Math.max(this.peak.used, a.usedBytes);
    this.peak.paged = Math.max(this.peak.paged, a.pagedBytes);
    this.peak.contiguous = Math.max(this.peak.contiguous, a.contiguousBytes);
    if (measuredReservedBytes !== undefined) {
      this.measured += measuredReservedBytes;
      this.measuredUsed += a.usedBytes;
      this.peak.measured = Math.max(this.peak.measured ?? 0, measuredReservedBytes);
    }
  }

  summary(): KvWasteSummary {
    return {
      samples: this.n,
      pagedWaste: wasteFraction(this.paged, this.used),
      contiguousWaste: wasteFraction(this.contiguous, this.used),
      measuredWaste: this.peak.measured === null ? null : wasteFraction(this.measured, this.measuredUsed),
      peakUsedBytes: this.peak.used,
      peakPagedBytes: this.peak.paged,
      peakContiguousBytes: this.peak.contiguous,
      peakMeasuredBytes: this.peak.measured,
    };
  }
}
