/**
 * The dtypes of a load: what activations and the KV cache are computed in, and how weights are stored.
 * CPU: activations f32 always (DESIGN section 4); float weights stay as stored unless a dtype is asked for
 * (the CPU kernels read f16/bf16 directly); GGUF blocks stay quantized unless 'float32' asks to dequantize.
 * CUDA: f16/bf16 activations with f32 accumulation; 'float32' runs everything in f32.
 */
import type { DType } from '../native';
import type { WeightPrecision } from './weights';

/** What a load may ask for (Engine.load's dtype option). */
export const DTYPE_CHOICES = ['auto', 'float32', 'float16', 'bfloat16'] as const;
export type DtypeChoice = (typeof DTYPE_CHOICES)[number];

export interface Precision {
  activation: DType;
  weights: WeightPrecision;
}

const NAMED: Record<Exclude<DtypeChoice, 'auto'>, DType> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };

export function choosePrecision(deviceIsCpu: boolean, choice: DtypeChoice, checkpointDtype?: string): Precision {
  if (deviceIsCpu) {
    if (choice === 'auto') return { activation: 'f32', weights: { float: 'keep', keepQuantized: true } };
    return { activation: 'f32', weights: { float: NAMED[choice], keepQuantized: choice !== 'float32' } };
  }
  let dtype: DType;
  if (choice !== 'auto') dtype = NAMED[choice];
  else dtype = checkpointDtype === 'bfloat16' ? 'bf16' : 'f16';
  return { activation: dtype, weights: { float: dtype, keepQuantized: choice !== 'float32' } };
}
