/**
 * Float values → GGUF blocks (Q8_0, Q4_0, Q4_1) on the host, through the native reference quantizer
 * (native/cpu/quantize.h: bit for bit ggml's quantize_row_*_ref). The one quantizer of the project: weights
 * quantized while loading go through the same native code, and so do the GGUF writers of the tests and
 * benchmarks, so a tensor quantized at load and the same tensor written to a GGUF file are the same bytes.
 */
import { inputError } from '../errors';
import { DType, Tensor } from '../native';

/** Elements per block of every format here (core/dtype's QUANT_BLOCK; ops/ sits beside core/, not above it). */
const QUANT_BLOCK = 32;

/**
 * `values` (a multiple of 32 elements of srcDtype: f32 by default, or the bits of f16 / bf16) → their blocks,
 * 32 consecutive values per block. Non-finite values and scales past f16 are ERR_GPUFORMER_INPUT.
 */
export function quantizeBlocks(dtype: Extract<DType, 'q8_0' | 'q4_0' | 'q4_1'>, values: Float32Array | Uint16Array, srcDtype: DType = 'f32'): Uint8Array {
  const n = values.length;
  if (n % QUANT_BLOCK !== 0) throw inputError(`quantizeBlocks: ${n} values are not whole ${QUANT_BLOCK}-element blocks`);
  if (n === 0) return new Uint8Array(0);
  const t = Tensor.fromData('cpu', dtype, [n / QUANT_BLOCK, QUANT_BLOCK], values, 'other', srcDtype);
  try {
    return new Uint8Array(t.read());
  } finally {
    t.dispose();
  }
}
