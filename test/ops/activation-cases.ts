/**
 * Pointwise activation cases shared by activation.test.ts and its per-tier child processes: normal values, the
 * far tails where exp saturates, exact zeros, and row lengths that leave every kind of vector tail.
 */
import { ops, runSync } from '../../lib/ops';
import { f32 } from '../helpers/compare';
import { normal } from '../helpers/random';
import { disposeAll, f32t, out } from './tensors';

/** Normal values plus the far tails (where exp saturates) and exact zeros. */
export function inputs(n: number, seed: number): Float32Array {
  const x = normal(n, seed, 3);
  const extremes = [0, -0, 20, -20, 88, -88, 100, -100, 1e-7, -1e-7];
  for (let i = 0; i < Math.min(n, extremes.length); i++) x[(i * 7919) % n] = extremes[i];
  return x;
}

export const ACTIVATION_SIZES = [1, 7, 17, 33, 1024, 257 * 13];

/** The bits of gelu (erf, tanh), silu and swiglu over the inputs of every size, as one digest per activation. */
export function activationDigests(seed: number): Record<string, number> {
  const digests: Record<string, number> = { geluErf: 0, geluTanh: 0, silu: 0, swiglu: 0 };
  const mix = (name: string, o: Float32Array) => {
    for (const v of new Uint32Array(o.buffer, o.byteOffset, o.length)) digests[name] = (Math.imul(digests[name], 31) + v) >>> 0;
  };
  try {
    for (const n of ACTIVATION_SIZES) {
      const x = f32t([n], inputs(n, seed + n));
      const o = { geluErf: out([n]), geluTanh: out([n]), silu: out([n]), swiglu: out([1, n]) };
      runSync([
        ops.gelu({ x, out: o.geluErf }), ops.gelu({ x, out: o.geluTanh, tanh: true }), ops.silu({ x, out: o.silu }),
        ops.swiglu({ gate: f32t([1, n], inputs(n, seed + n)), up: f32t([1, n], inputs(n, seed + 2 * n)), out: o.swiglu }),
      ]);
      for (const [name, t] of Object.entries(o)) mix(name, f32(t));
    }
    return digests;
  } finally {
    disposeAll();
  }
}
