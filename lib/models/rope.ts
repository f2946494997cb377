/**
 * Rotary position embedding frequencies, computed the way Hugging Face transformers computes them
 * (modeling_rope_utils.py), so that a checkpoint's rope_theta and rope_scaling give the same angles here.
 * The rope op takes the resulting inv_freq [R/2] and applies angle = position · inv_freq[i].
 */
import { unsupported } from '../errors';
import type { RopeSpec } from '../core/spec';

/** What the attention needs from RoPE: per-pair frequencies and a factor on the softmax scale (YaRN). */
export interface RopeTables {
  /** f32 [rotaryDim / 2] */
  invFreq: Float32Array;
  /** multiplies cos and sin in transformers; here it is folded into the attention scale as its square */
  attentionFactor: number;
}

/** theta^(-2i/R) for i in [0, R/2): the unscaled frequencies. */
function defaultInvFreq(theta: number, rotaryDim: number): Float64Array {
  const half = rotaryDim / 2;
  const out = new Float64Array(half);
  // transformers forms the exponent in float32 (arange(0, dim, 2).float() / dim) and the power in float32;
  // float64 here differs by far less than the fixtures' tolerance and matches the float64 references better.
  for (let i = 0; i < half; i++) out[i] = 1 / Math.pow(theta, (2 * i) / rotaryDim);
  return out;
}

/**
 * Llama 3's frequency-dependent scaling: long wavelengths (beyond the original context / lowFreqFactor)
 * are divided by `factor`, short ones (below original / highFreqFactor) are kept, and the band between is
 * interpolated smoothly.
 */
function llama3Scale(invFreq: Float64Array, factor: number, low: number, high: number, original: number): Float64Array {
  const lowFreqWavelen = original / low;
  const highFreqWavelen = original / high;
  return invFreq.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen < highFreqWavelen) return f;
    if (wavelen > lowFreqWavelen) return f / factor;
    const smooth = (original / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/**
 * YaRN (NTK-by-parts): dimensions that rotate fewer than betaSlow times over the original context are
 * interpolated (divided by factor), those that rotate more than betaFast times are kept, with a linear ramp
 * between; the attention logits are scaled by (0.1·ln(factor) + 1)². Uses transformers' defaults
 * (beta_fast 32, beta_slow 1).
 */
function yarnScale(invFreq: Float64Array, theta: number, rotaryDim: number, factor: number, original: number): Float64Array {
  const betaFast = 32;
  const betaSlow = 1;
  const correctionDim = (rotations: number) =>
    (rotaryDim * Math.log(original / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  const low = Math.max(Math.floor(correctionDim(betaFast)), 0);
  const high = Math.min(Math.ceil(correctionDim(betaSlow)), rotaryDim - 1);
  const span = high === low ? high - low + 0.001 : high - low;
  return invFreq.map((f, i) => {
    const ramp = Math.min(Math.max((i - low) / span, 0), 1);
    const extrapolationWeight = 1 - ramp;
    return (f / factor) * (1 - extrapolationWeight) + f * extrapolationWeight;
  });
}

/** The frequencies (and attention factor) for a model's RoPE, scaling included. */
export function ropeTables(rope: RopeSpec): RopeTables {
  const { theta, rotaryDim, scaling } = rope;
  if (!(rotaryDim >= 2 && rotaryDim % 2 === 0)) throw unsupported(`rope: rotary dim must be even and ≥ 2, got ${rotaryDim}`);
  let inv = defaultInvFreq(theta, rotaryDim);
  let attentionFactor = 1;
  const type = scaling?.type ?? 'default';
  if (scaling && type !== 'default') {
    const factor = scaling.factor;
    if (type === 'linear') {
      inv = inv.map((f) => f / factor);
    } else if (type === 'llama3') {
      const original = scaling.originalMaxPositionEmbeddings;
      if (original === undefined) throw unsupported('rope: llama3 scaling needs original_max_position_embeddings');
      inv = llama3Scale(inv, factor, scaling.lowFreqFactor ?? 1, scaling.highFreqFactor ?? 4, original);
    } else if (type === 'yarn') {
      const original = scaling.originalMaxPositionEmbeddings;
      if (original === undefined) throw unsupported('rope: yarn scaling needs original_max_position_embeddings');
      inv = yarnScale(inv, theta, rotaryDim, factor, original);
      attentionFactor = factor > 1 ? 0.1 * Math.log(factor) + 1 : 1;
    } else {
      // 'dynamic' rescales theta from the current sequence length at every step: not a fixed table.
      throw unsupported(`rope: scaling type '${type}' is not supported (supported: default, linear, llama3, yarn)`);
    }
  }
  return { invFreq: Float32Array.from(inv), attentionFactor };
}
