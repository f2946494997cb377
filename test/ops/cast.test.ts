/**
 * cast: every float → float pair and every quantized → float pair, element for element exact against
 * conversions written in TypeScript (cast-cases.ts), at lengths that cover the vector bodies, their scalar
 * tails and several parallel chunks; every CPU kernel tier the machine has, in child processes (tiers.ts); coded errors for bad arguments.
 */
import { ops, runSync } from '../../lib/ops';
import { nextSeed } from '../helpers/random';
import { CastCase, checkCast, FloatDType, SourceDType } from './cast-cases';
import { encodeQuantized } from './linear-cases';
import { disposeAll, expectCoded, out, tensor } from './tensors';
import { CPU_TIERS, forEachTier, runInTier } from './tiers';

afterEach(disposeAll);

const FLOATS: FloatDType[] = ['f32', 'f16', 'bf16'];
const QUANTIZED: SourceDType[] = ['q8_0', 'q4_0', 'q4_1'];

function cases(seed: number): CastCase[] {
  const list: CastCase[] = [];
  for (const src of FLOATS) {
    for (const dst of FLOATS) {
      for (const n of [1, 7, 33, 1000, 65536 + 4099]) list.push({ src, dst, n, seed: seed + list.length });
    }
  }
  for (const src of QUANTIZED) {
    for (const dst of FLOATS) {
      for (const n of [32, 96, 65536 + 32 * 7]) list.push({ src, dst, n, seed: seed + list.length });
    }
  }
  return list;
}

describe('cast', () => {
  const all = cases(nextSeed());
  test.each(all.map((c) => [`${c.src} → ${c.dst}, n = ${c.n}`, c] as const))('%s', (_name, c) => {
    expect(checkCast(c)).toBe(c.n);
  });

  test('a multi-dimensional tensor casts by element count (shapes may differ)', () => {
    const src = encodeQuantized('q4_1', 4 * 64, nextSeed());
    const o = out([16, 16], 'f32');
    runSync([ops.cast({ x: tensor('q4_1', [4, 64], src.bytes), out: o })]);
    expect(Array.from(new Float32Array(o.read()))).toEqual(Array.from(src.values, Math.fround));
  });
});

describe('cast on every CPU kernel tier (child processes with GPUFORMER_CPU_ISA)', () => {
  const list = cases(nextSeed());
  forEachTier(CPU_TIERS.plain, (tier) => {
    expect(runInTier<number[]>(tier, 'cast-cases.ts', 'runCastCases', list)).toEqual(list.map((c) => c.n));
  });
});

describe('cast input errors', () => {
  test('element counts differ', () => {
    expectCoded(() => runSync([ops.cast({ x: tensor('f32', [5], new Float32Array(5)), out: out([6], 'f16') })]),
      'ERR_GPUFORMER_INPUT', /elements/);
  });
  test('an integer destination, or blocks from other blocks (float → blocks: test/ops/quantize.test.ts)', () => {
    expectCoded(() => runSync([ops.cast({ x: tensor('q4_1', [32], new Uint8Array(20)), out: out([32], 'q8_0') })]),
      'ERR_GPUFORMER_INPUT', /out/);
    expectCoded(() => runSync([ops.cast({ x: tensor('f32', [4], new Float32Array(4)), out: out([4], 'i32') })]),
      'ERR_GPUFORMER_INPUT', /out/);
  });
  test('an integer source', () => {
    expectCoded(() => runSync([ops.cast({ x: tensor('i32', [4], new Int32Array(4)), out: out([4], 'f32') })]),
      'ERR_GPUFORMER_INPUT', /x/);
  });
});
