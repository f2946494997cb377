/**
 * What each dtype costs in bytes: the one table the planner, the weight loader and the runners' buffers all
 * read. Plain dtypes have a size per element; the GGUF block formats (QUANTIZED) store 32 elements per block
 * in a fixed number of bytes and have no per-element size.
 */
import { inputError } from '../errors';
import type { DType } from '../native';

/** The GGUF block formats: matrices that linear and embedding read in their blocks. */
export type QuantizedDType = Extract<DType, 'q8_0' | 'q4_0' | 'q4_1'>;
export const QUANTIZED: ReadonlySet<DType> = new Set<QuantizedDType>(['q8_0', 'q4_0', 'q4_1']);

/** Elements per block of every QUANTIZED format. */
export const QUANT_BLOCK = 32;

/** Bytes per 32-element block: q8_0 = f16 scale + 32 × i8; q4_0 = f16 scale + 16 bytes; q4_1 = f16 scale, f16 min + 16 bytes. */
const QUANT_BLOCK_BYTES: Readonly<Record<string, number>> = { q8_0: 34, q4_0: 18, q4_1: 20 };

const ELEMENT_BYTES: Readonly<Partial<Record<DType, number>>> = { f32: 4, f16: 2, bf16: 2, i32: 4, i64: 8, i8: 1 };

/**
 * Bytes per element of a plain dtype (activations, indices, the KV cache, unquantized weights). A block
 * format has none: ERR_GPUFORMER_INPUT.
 */
export function elementBytes(dtype: DType): number {
  const b = ELEMENT_BYTES[dtype];
  if (b === undefined) throw inputError(`${dtype} is a block format; activations and the KV cache need f32, f16 or bf16`);
  return b;
}

/** Bytes of `numel` elements of a dtype (quantized: whole 32-element blocks). */
export function dtypeNbytes(dtype: DType, numel: number): number {
  if (QUANTIZED.has(dtype)) return (numel / QUANT_BLOCK) * QUANT_BLOCK_BYTES[dtype];
  return numel * elementBytes(dtype);
}
