/**
 * What embed() makes of the model's pooled vectors before handing them back: Matryoshka truncation and the
 * quantized precisions vector stores keep.
 *
 *  - `dimensions`: keep the first `dimensions` components, then L2-normalize again when the embedding is
 *    normalized (vLLM's and OpenAI's `dimensions`). Normalizing a normalized vector's prefix equals
 *    normalizing the raw vector's prefix, so the runner's normalization may stay where it is.
 *  - `precision`: sentence-transformers' quantize_embeddings, formula for formula:
 *      int8 / uint8: per dimension, start = min and step = (max − min) / 255 over the `ranges` given, else
 *        over `calibrationEmbeddings`, else over this call's own embeddings (sentence-transformers' last
 *        resort, which makes the codes depend on the batch); uint8 = (x − start) / step and
 *        int8 = (x − start) / step − 128, truncated toward zero as numpy's astype does. Where numpy's cast
 *        is undefined (out of range, or 0 / 0 where max = min) the code is clamped to the type's range
 *        (0 / 0 gives the lowest code).
 *      ubinary: the bits x > 0 packed eight to a byte, the first dimension in the highest bit (np.packbits),
 *        the last byte padded with zeros; binary = ubinary − 128 as int8.
 * The arithmetic is float64 throughout (one rounding, at the end).
 */
import { inputError, shown } from '../errors';

export type EmbedPrecision = 'float32' | 'int8' | 'uint8' | 'binary' | 'ubinary';
export const EMBED_PRECISIONS: readonly EmbedPrecision[] = ['float32', 'int8', 'uint8', 'binary', 'ubinary'];

/** The array type each precision answers with: packed bits and codes are bytes, signed or not. */
export type EmbeddingOf<P extends EmbedPrecision> = P extends 'int8' | 'binary' ? Int8Array : P extends 'uint8' | 'ubinary' ? Uint8Array : Float32Array;
export type Embedding = Float32Array | Int8Array | Uint8Array;

/** int8 / uint8 ranges: the lowest and the highest value of each dimension, [min[], max[]] (sentence-transformers' `ranges`, shape [2, d]). */
export type QuantizationRanges = readonly [ArrayLike<number>, ArrayLike<number>];

/** The output options embed() resolves (lib/engine/options.ts). */
export interface EmbeddingOutputOptions {
  normalize: boolean;
  dimensions?: number;
  precision: EmbedPrecision;
  ranges?: QuantizationRanges;
  calibrationEmbeddings?: ArrayLike<number>[];
}

/** Each vector's first `dims` components, L2-normalized again when `normalize` (as torch.nn.functional.normalize: ‖v‖ floored at 1e-12). */
export function truncateEmbedding(v: Float32Array, dims: number, normalize: boolean): Float32Array {
  const out = v.slice(0, dims);
  if (!normalize) return out;
  let sq = 0;
  for (let i = 0; i < dims; i++) sq += out[i] * out[i];
  const norm = Math.max(Math.sqrt(sq), 1e-12);
  for (let i = 0; i < dims; i++) out[i] = out[i] / norm;
  return out;
}

/** Per-dimension min and max over `rows` (each of length d). */
export function rangesOf(rows: ArrayLike<number>[], d: number): QuantizationRanges {
  const min = new Float64Array(d).fill(Infinity);
  const max = new Float64Array(d).fill(-Infinity);
  for (const r of rows) {
    for (let j = 0; j < d; j++) {
      if (r[j] < min[j]) min[j] = r[j];
      if (r[j] > max[j]) max[j] = r[j];
    }
  }
  return [min, max];
}

/** A code from q = (x − start) / step: truncated toward zero, clamped to [lo, hi]; NaN (0 / 0) is lo. */
function code(q: number, lo: number, hi: number): number {
  if (Number.isNaN(q)) return lo;
  return Math.min(hi, Math.max(lo, Math.trunc(q)));
}

/** int8 or uint8 codes of the vectors over `ranges` (one per dimension). */
function scalarQuantize(vectors: Float32Array[], precision: 'int8' | 'uint8', ranges: QuantizationRanges): Array<Int8Array | Uint8Array> {
  const [min, max] = ranges;
  return vectors.map((v) => {
    const out = precision === 'int8' ? new Int8Array(v.length) : new Uint8Array(v.length);
    for (let j = 0; j < v.length; j++) {
      const q = (v[j] - min[j]) / ((max[j] - min[j]) / 255);
      out[j] = precision === 'int8' ? code(q - 128, -128, 127) : code(q, 0, 255);
    }
    return out;
  });
}

/** The bits v > 0, eight to a byte, first dimension in the highest bit, zero-padded (np.packbits per row). */
export function packSignBits(v: Float32Array): Uint8Array {
  const out = new Uint8Array(Math.ceil(v.length / 8));
  for (let j = 0; j < v.length; j++) if (v[j] > 0) out[j >> 3] |= 0x80 >> (j & 7);
  return out;
}

/** Quantizes float vectors to `precision` as sentence-transformers' quantize_embeddings does (see the file comment). */
export function quantizeEmbeddings(vectors: Float32Array[], precision: EmbedPrecision,
  calibration: { ranges?: QuantizationRanges; calibrationEmbeddings?: ArrayLike<number>[] } = {}): Embedding[] {
  switch (precision) {
    case 'float32':
      return vectors;
    case 'ubinary':
      return vectors.map(packSignBits);
    case 'binary':
      return vectors.map((v) => Int8Array.from(packSignBits(v), (b) => b - 128));
    case 'int8':
    case 'uint8': {
      const d = vectors[0]?.length ?? 0;
      const ranges = calibration.ranges ?? rangesOf(calibration.calibrationEmbeddings ?? vectors, d);
      return scalarQuantize(vectors, precision, ranges);
    }
    default:
      throw inputError(`precision must be one of ${EMBED_PRECISIONS.map((p) => `'${p}'`).join(', ')}, got ${shown(precision)}`);
  }
}

/** The model's pooled vectors as embed() answers them: truncated to `dimensions` (renormalized), then quantized. */
export function finishEmbeddings(vectors: Float32Array[], o: EmbeddingOutputOptions): Embedding[] {
  const d = o.dimensions;
  const cut = d !== undefined && vectors.length > 0 && d < vectors[0].length ? vectors.map((v) => truncateEmbedding(v, d, o.normalize)) : vectors;
  return quantizeEmbeddings(cut, o.precision, o);
}
