/**
 * The dtypes of a load: what activations and the KV cache are computed in, and how weights are stored.
 * CPU: activations f32 always (DESIGN section 4); float weights stay as stored unless a dtype is asked for
 * (the CPU kernels read f16/bf16 directly); GGUF blocks stay quantized unless 'float32' asks to dequantize.
 * CUDA: f16/bf16 activations with f32 accumulation; 'float32' runs everything in f32.
 * 'q8_0' / 'q4_0' / 'q4_1' quantize a float checkpoint's matrices while loading (which ones: planWeights in
 * weights.ts); activations and the other weights are then as 'auto' has them.
 */
import type { DType } from '../native';
import type { QuantizedDType } from '../core/dtype';
import type { WeightPrecision } from './weights';

/** What a load may ask for (Engine.load's dtype option). */
export const DTYPE_CHOICES = ['auto', 'float32', 'float16', 'bfloat16', 'q8_0', 'q4_0', 'q4_1'] as const;
export type DtypeChoice = (typeof DTYPE_CHOICES)[number];

export interface Precision {
  activation: DType;
  weights: WeightPrecision;
}

const NAMED: Record<'float32' | 'float16' | 'bfloat16', DType> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };

const isQuantizedChoice = (c: DtypeChoice): c is QuantizedDType => c === 'q8_0' || c === 'q4_0' || c === 'q4_1';

export function choosePrecision(deviceIsCpu: boolean, choice: DtypeChoice, checkpointDtype?: string): Precision {
  if (isQuantizedChoice(choice)) {
    const auto = choosePrecision(deviceIsCpu, 'auto', checkpointDtype);
    return { activation: auto.activation, weights: { ...auto.weights, quantize: choice } };
  }
  if (deviceIsCpu) {
    if (choice === 'auto') return { activation: 'f32', weights: { float: 'keep', keepQuantized: true } };
    return { activation: 'f32', weights: { float: NAMED[choice], keepQuantized: choice !== 'float32' } };
  }
  let dtype: DType;
  if (choice !== 'auto') dtype = NAMED[choice];
  else dtype = checkpointDtype === 'bfloat16' ? 'bf16' : 'f16';
  return { activation: dtype, weights: { float: dtype, keepQuantized: choice !== 'float32' } };
}
