/**
 * embed()'s output stage (lib/engine/embedding-output.ts) against float64 references written plainly from
 * sentence-transformers' quantize_embeddings (int8 / uint8 buckets of (max − min) / 255 from the ranges, int8
 * shifted by −128 and truncated toward zero as numpy's astype; binary / ubinary as np.packbits(x > 0, axis=-1))
 * and from vLLM's Matryoshka `dimensions` (keep the first components, normalize again); and the option checks.
 */
import { EMBED_PRECISIONS, finishEmbeddings, quantizeEmbeddings, truncateEmbedding } from '../../lib/engine/embedding-output';
import { checkEmbedCombination, resolveEmbedOptions } from '../../lib/engine/options';
import { expectClose } from '../helpers/compare';
import { nextSeed, normal, uniform } from '../helpers/random';

/** rows of d normal values (some exact zeros and negative zeros, where x > 0 matters) */
function rows(n: number, d: number, seed: number): Float32Array[] {
  const flat = normal(n * d, seed);
  for (let i = 0; i < flat.length; i += 13) flat[i] = i % 2 ? 0 : -0;
  return Array.from({ length: n }, (_, r) => flat.slice(r * d, (r + 1) * d));
}

// ------------------------------------------------------------------------------------- references (float64)

function refRanges(vs: ArrayLike<number>[], d: number): { min: number[]; max: number[] } {
  const col = (j: number) => vs.map((v) => v[j]);
  return { min: Array.from({ length: d }, (_, j) => Math.min(...col(j))), max: Array.from({ length: d }, (_, j) => Math.max(...col(j))) };
}

/** numpy's float → int8 / uint8 astype for in-range values (toward zero); clamped outside, NaN → the lowest code */
function refCast(x: number, lo: number, hi: number): number {
  if (Number.isNaN(x)) return lo;
  const t = x < 0 ? Math.ceil(x) : Math.floor(x);
  return (t < lo ? lo : t > hi ? hi : t) + 0; // + 0: an integer code has no negative zero
}

function refScalar(vs: Float32Array[], precision: 'int8' | 'uint8', r: { min: ArrayLike<number>; max: ArrayLike<number> }): number[][] {
  return vs.map((v) => Array.from(v, (x, j) => {
    const start = r.min[j];
    const step = (r.max[j] - r.min[j]) / 255;
    return precision === 'uint8' ? refCast((x - start) / step, 0, 255) : refCast((x - start) / step - 128, -128, 127);
  }));
}

/** np.packbits(v > 0) of one row: bits as a string, cut into bytes, the last padded with zeros */
function refPack(v: ArrayLike<number>): number[] {
  let bits = Array.from(v, (x) => (x > 0 ? '1' : '0')).join('');
  bits = bits.padEnd(Math.ceil(bits.length / 8) * 8, '0');
  return Array.from({ length: bits.length / 8 }, (_, k) => parseInt(bits.slice(8 * k, 8 * k + 8), 2));
}

function refTruncate(v: ArrayLike<number>, d: number, normalize: boolean): number[] {
  const head = Array.from(v).slice(0, d);
  if (!normalize) return head;
  const norm = Math.max(Math.sqrt(head.reduce((a, x) => a + x * x, 0)), 1e-12);
  return head.map((x) => x / norm);
}

// ------------------------------------------------------------------------------------- tests

describe('quantized precisions against the formulas', () => {
  test.each([[1, 8], [5, 384], [17, 13], [64, 1024], [3, 1]])('binary and ubinary: %i rows of %i dims', (n, d) => {
    const seed = nextSeed();
    const vs = rows(n, d, seed);
    const u = quantizeEmbeddings(vs, 'ubinary');
    const b = quantizeEmbeddings(vs, 'binary');
    vs.forEach((v, i) => {
      const want = refPack(v);
      expect(u[i]).toBeInstanceOf(Uint8Array);
      expect(b[i]).toBeInstanceOf(Int8Array);
      expect(Array.from(u[i])).toEqual(want);
      expect(Array.from(b[i])).toEqual(want.map((x) => x - 128));
    });
  });

  test.each(['int8', 'uint8'] as const)('%s over the batch, calibration embeddings and given ranges', (precision) => {
    const seed = nextSeed();
    const d = 37;
    const vs = rows(20, d, seed);
    const calibration = rows(50, d, seed + 1);
    const own = quantizeEmbeddings(vs, precision);
    expect(own[0]).toBeInstanceOf(precision === 'int8' ? Int8Array : Uint8Array);
    expect(own.map((x) => Array.from(x))).toEqual(refScalar(vs, precision, refRanges(vs, d)));
    const cal = quantizeEmbeddings(vs, precision, { calibrationEmbeddings: calibration });
    expect(cal.map((x) => Array.from(x))).toEqual(refScalar(vs, precision, refRanges(calibration, d)));
    // ranges narrower than the data: codes clamp to the type's range instead of wrapping
    const min = new Float64Array(uniform(d, seed + 2, -0.5, -0.1));
    const max = new Float64Array(uniform(d, seed + 3, 0.1, 0.5));
    const given = quantizeEmbeddings(vs, precision, { ranges: [min, max] });
    expect(given.map((x) => Array.from(x))).toEqual(refScalar(vs, precision, { min, max }));
    const codes = given.flatMap((x) => Array.from(x));
    expect(codes).toContain(precision === 'int8' ? -128 : 0);
    expect(codes).toContain(precision === 'int8' ? 127 : 255);
  });

  test('the batch\'s own extremes land on the end codes; a dimension with one value maps to the lowest code', () => {
    const vs = [new Float32Array([-1, 0.5, 2]), new Float32Array([1, 0.5, -2]), new Float32Array([0, 0.5, 0])];
    expect(quantizeEmbeddings(vs, 'uint8').map((x) => Array.from(x))).toEqual([[0, 0, 255], [255, 0, 0], [127, 0, 127]]);
    expect(quantizeEmbeddings(vs, 'int8').map((x) => Array.from(x))).toEqual([[-128, -128, 127], [127, -128, -128], [0, -128, 0]]);
  });

  test('float32 is the vectors themselves', () => {
    const vs = rows(3, 5, nextSeed());
    expect(quantizeEmbeddings(vs, 'float32')).toEqual(vs);
    expect(EMBED_PRECISIONS).toEqual(['float32', 'int8', 'uint8', 'binary', 'ubinary']);
  });
});

describe('Matryoshka dimensions', () => {
  test.each([[384, 1], [384, 64], [768, 500], [13, 12]])('width %i to %i: the first components, normalized again', (width, d) => {
    const seed = nextSeed();
    const [v] = rows(1, width, seed);
    expectClose(truncateEmbedding(v, d, true), refTruncate(v, d, true), 1e-7, `seed ${seed}`);
    expect(Array.from(truncateEmbedding(v, d, false))).toEqual(refTruncate(v, d, false));
    // a normalized vector's prefix normalizes to the raw vector's normalized prefix
    const normed = Float32Array.from(refTruncate(v, width, true));
    expectClose(truncateEmbedding(normed, d, true), refTruncate(v, d, true), 1e-6, `seed ${seed}`);
  });

  test('finishEmbeddings truncates, renormalizes, then quantizes', () => {
    const vs = rows(4, 16, nextSeed());
    const o = resolveEmbedOptions({ dimensions: 9, precision: 'ubinary' }, { width: 16 });
    const got = finishEmbeddings(vs, { ...o, normalize: true });
    vs.forEach((v, i) => expect(Array.from(got[i])).toEqual(refPack(refTruncate(v, 9, true))));
    expect(finishEmbeddings(vs, resolveEmbedOptions({}, { width: 16 }))).toEqual(vs);
  });
});

describe('embed option checks', () => {
  const ctx = { width: 384, pooling: { mode: 'mean' as const, normalize: true } };
  const bad = (o: object, ...patterns: RegExp[]) => {
    let err: { code?: string; message: string } | undefined;
    try {
      resolveEmbedOptions(o, ctx);
    } catch (e) {
      err = e as typeof err;
    }
    expect(err?.code).toBe('ERR_GPUFORMER_INPUT');
    for (const p of patterns) expect(err?.message).toMatch(p);
  };

  test('defaults, and each value checked', () => {
    expect(resolveEmbedOptions(undefined, ctx)).toMatchObject({ pooling: 'mean', normalize: true, precision: 'float32', dimensions: undefined });
    bad({ dimensions: 385 }, /dimensions = 385 is more than the model's 384/);
    bad({ dimensions: 0 }, /dimensions must be a positive integer/);
    bad({ dimensions: 2.5 }, /dimensions/);
    bad({ precision: 'int4' }, /precision must be 'float32', 'int8', 'uint8', 'binary' or 'ubinary', got "int4"/);
    bad({ precision: 'binary', ranges: [[0], [1]] }, /ranges applies to precision 'int8' or 'uint8' only, not 'binary'/);
    bad({ precision: 'int8', ranges: [[0, 1], [1]] }, /min has 2 dimensions, max 1/);
    bad({ precision: 'int8', ranges: [[2], [1]] }, /dimension 0 has min 2 above max 1/);
    bad({ precision: 'int8', ranges: [[0], [NaN]] }, /ranges\[1\]\[0\] must be a finite number/);
    bad({ precision: 'int8', ranges: [new Array(384).fill(0), new Array(384).fill(1)], dimensions: 64 }, /ranges has 384 dimensions; the embeddings have 64/);
    bad({ precision: 'uint8', calibrationEmbeddings: [[1, 2], [3]] }, /calibrationEmbeddings\[1\] has 1 dimensions/);
    bad({ precision: 'uint8', calibrationEmbeddings: [new Float32Array(384)], ranges: [new Array(384).fill(0), new Array(384).fill(1)] }, /not both/);
    bad({ signal: {} }, /signal must be an AbortSignal/);
    const ok = resolveEmbedOptions({ precision: 'int8', dimensions: 2, ranges: [[-1, -2], new Float32Array([1, 2])] }, ctx);
    expect(ok.ranges).toEqual([new Float64Array([-1, -2]), new Float64Array([1, 2])]);
    // a resolved value resolves to itself (the server resolves a body's options, the Engine again)
    expect(resolveEmbedOptions(ok, ctx)).toEqual(ok);
  });

  test('the server names its own field through the fail callback', () => {
    expect(() => checkEmbedCombination({ dimensions: 500 }, 384, (option, message) => {
      throw new Error(`${option}: ${message}`);
    })).toThrow('dimensions: dimensions = 500 is more than the model\'s 384 dimensions');
  });
});
