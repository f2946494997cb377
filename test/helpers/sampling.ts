/** Sampling states and parameters for tests that drive a runner or the loop directly. */
import { NEUTRAL_SAMPLING, SamplingParams, SamplingState } from '../../lib/core/step';

/** A runner's sampling state: neutral (greedy, nothing else) but for what `p` sets. */
export const samplingState = (p: Partial<SamplingState> & { step: number }): SamplingState =>
  ({ ...NEUTRAL_SAMPLING, allowedTokens: null, history: null, ...p });

/** The greedy state of token `step`. */
export const greedy = (step: number): SamplingState => samplingState({ step });

/** A request's sampling: neutral but for what `p` sets. */
export const samplingParams = (p: Partial<SamplingParams> = {}): SamplingParams => ({ ...NEUTRAL_SAMPLING, ...p });
