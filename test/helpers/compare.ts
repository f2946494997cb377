/** Comparing op outputs with float64 references, and poisoning outputs so unwritten elements show. */
import { Tensor } from '../../lib/native';

/** Tolerances as max |got − want| ÷ max |want| (the fixtures README's rule), by compute dtype. */
export const TOLERANCE = { f32: 1e-4, f16: 5e-3, bf16: 3e-2 } as const;

/**
 * Relative logits tolerance of a quantized model (GGUF Q4_1 / Q8_0 blocks read in place) against its
 * dequantized f32 path. Every matmul with quantized weights, prefill and decode alike, takes 8-bit activations
 * (as llama.cpp does; a row's result must not depend on how many rows share the matmul), and rounding
 * activations to int8 turns ulp-level differences upstream into differences of this size (a change of
 * attention's summation order, 1e-6 on the f32 path's logits, moved the quantized path's by up to 4.5e-2).
 * Observed up to 5.9e-2 on SmolLM2-135M Q4_1.
 */
export const QUANTIZED_LOGITS_TOLERANCE = 8e-2;

/** Fills a float tensor with NaN (blocks with 0xa5 bytes) so any element an op fails to write fails the comparison. */
export function poison(t: Tensor): Tensor {
  const n = t.nbytes / (t.dtype === 'f32' || t.dtype === 'i32' ? 4 : t.dtype === 'i64' ? 8 : t.dtype === 'i8' ? 1 : 2);
  if (t.dtype === 'f32') t.write(new Float32Array(n).fill(NaN));
  else if (t.dtype === 'f16' || t.dtype === 'bf16') t.write(new Uint16Array(n).fill(0x7fff));
  else if (t.dtype === 'i32') t.write(new Int32Array(n).fill(-0x7ffffff0));
  else if (t.dtype === 'i64') t.write(new BigInt64Array(n).fill(-1n));
  else if (t.dtype === 'q8_0' || t.dtype === 'q4_0' || t.dtype === 'q4_1') t.write(new Uint8Array(t.nbytes).fill(0xa5));
  return t;
}

export function relError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) throw new Error(`length ${got.length} != ${want.length}`);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d; // NaN counts as the worst error
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  return maxDiff / Math.max(maxRef, 1e-30);
}

/** Asserts max |got − want| ÷ max |want| ≤ tol, naming the worst element when it fails. */
export function expectClose(got: ArrayLike<number>, want: ArrayLike<number>, tol: number, what = 'output'): void {
  const err = relError(got, want);
  if (!(err <= tol)) {
    let worst = 0;
    let worstD = -1;
    for (let i = 0; i < want.length; i++) {
      const d = Math.abs(got[i] - want[i]);
      if (Number.isNaN(d) || d > worstD) {
        worstD = Number.isNaN(d) ? Infinity : d;
        worst = i;
        if (Number.isNaN(d)) break;
      }
    }
    throw new Error(`${what}: relative error ${err.toExponential(3)} > ${tol} (worst at ${worst}: got ${got[worst]}, want ${want[worst]})`);
  }
}

export const f32 = (t: Tensor): Float32Array => new Float32Array(t.read());
export const i32 = (t: Tensor): Int32Array => new Int32Array(t.read());
