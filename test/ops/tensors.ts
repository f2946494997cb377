/** Small helpers for the op tests: CPU tensors from typed arrays, poisoned outputs, disposal in bulk. */
import { DType, Tensor } from '../../lib/native';
import { poison } from '../helpers/compare';

const live: Tensor[] = [];

/** A CPU tensor holding `data` (f32 data is rounded on the way into f16 / bf16 tensors). */
export function tensor(dtype: DType, shape: number[], data: ArrayBufferView): Tensor {
  const src: DType | undefined = data instanceof Float32Array && dtype !== 'f32' ? 'f32' : undefined;
  const t = Tensor.fromData('cpu', dtype, shape, data, 'other', src);
  live.push(t);
  return t;
}

export const f32t = (shape: number[], data: Float32Array): Tensor => tensor('f32', shape, data);
export const i32t = (data: ArrayLike<number>): Tensor => tensor('i32', [data.length], Int32Array.from(data));

/** An output tensor filled with NaN (or the integer poison) so unwritten elements show. */
export function out(shape: number[], dtype: DType = 'f32'): Tensor {
  const t = Tensor.empty('cpu', dtype, shape, 'other');
  live.push(t);
  return poison(t);
}

/** Disposes every tensor made through these helpers (call from afterEach). */
export function disposeAll(): void {
  while (live.length) live.pop()!.dispose();
}

/** Checks each case in turn, freeing its tensors after each (what a tier child runs: test/ops/tiers.ts). */
export function checkEach<C, R>(cases: C[], check: (c: C) => R): R[] {
  return cases.map((c) => {
    try {
      return check(c);
    } finally {
      disposeAll();
    }
  });
}

/** Expects fn to throw a GpuformerError with this code and a message matching `message`. */
export function expectCoded(fn: () => void, code: string, message: RegExp): void {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeDefined();
  expect((caught as { code: string }).code).toBe(code);
  expect((caught as Error).message).toMatch(message);
}

/** ALiBi slopes as BLOOM / MPT define them for H heads: 2^(−8(h+1)/H). */
export const alibiSlopes = (H: number): Float32Array => Float32Array.from({ length: H }, (_, h) => 2 ** (-8 * (h + 1) / H));
