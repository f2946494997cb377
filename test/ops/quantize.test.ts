/**
 * The native quantizer (native/cpu/quantize.h: float → Q8_0 / Q4_0 / Q4_1, used by weights quantized at load,
 * the cast op and the GGUF writers) against ggml's reference quantizers written plainly in float64 with every
 * f32 step rounded (test/helpers/reference.ts ggmlQuantize): the same bytes, bit for bit, on random rows and
 * on the edge cases (all-zero and constant blocks, huge and tiny values, a negative extreme, ties in |x|,
 * values on the rounding boundaries, f16 subnormal scales), from f32, f16 and bf16 sources. The blocks also
 * hold what the format promises (each value within half a step of its original, plus the f16 rounding of d
 * and m), and what blocks cannot hold is an ERR_GPUFORMER_INPUT.
 */
import { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { quantizeBlocks } from '../../lib/ops/quantize';
import type { QuantizedDType } from '../../lib/core/dtype';
import { nextSeed, normal, rng, uniform } from '../helpers/random';
import { dequantizeBlocks, ggmlQuantize, halfToFloat } from '../helpers/reference';
import { disposeAll, expectCoded, out, tensor } from './tensors';

afterEach(disposeAll);

const TYPES: QuantizedDType[] = ['q8_0', 'q4_0', 'q4_1'];

/** Where two byte arrays first differ, for a readable failure. */
function expectSameBytes(got: Uint8Array, want: Uint8Array, what: string): void {
  expect(got.length).toBe(want.length);
  const at = got.findIndex((b, i) => b !== want[i]);
  if (at >= 0) throw new Error(`${what}: byte ${at} is ${got[at]}, the reference has ${want[at]}`);
}

/** The largest |x| whose block scale (Q4_1: minimum) f16 still holds, about. */
const HUGE: Record<QuantizedDType, number> = { q8_0: 65000 * 127, q4_0: 65000 * 8, q4_1: 65000 };

/** Blocks of 32 with the shapes that stress the formulas. */
function edgeBlocks(dtype: QuantizedDType, seed: number): Array<[string, Float32Array]> {
  const r = rng(seed);
  const block = (f: (j: number) => number) => Float32Array.from({ length: 32 }, (_, j) => f(j));
  const step = 1 / 32; // a power of two: d and 1/d are exact, so the half steps below land exactly on the boundaries
  return [
    ['all zero', block(() => 0)],
    ['negative zeros', block(() => -0)],
    ['constant positive', block(() => 0.75)],
    ['constant negative', block(() => -3.5)],
    ['one non-zero', block((j) => (j === 17 ? -2.5 : 0))],
    ['negative extreme', block((j) => (j === 5 ? -9 : r() * 4 - 2))],
    ['ties in |x|: +a first', block((j) => (j === 3 ? 6 : j === 20 ? -6 : r() - 0.5))],
    ['ties in |x|: −a first', block((j) => (j === 3 ? -6 : j === 20 ? 6 : r() - 0.5))],
    // huge: the scale near f16's largest (Q4_1 stores its minimum as f16 too, so |x| stays within 65504 there)
    ['huge', block((j) => (j === 0 ? HUGE[dtype] : (r() * 2 - 1) * HUGE[dtype]))],
    ['tiny (f16-subnormal scales)', block(() => (r() * 2 - 1) * 1e-6)],
    ['tinier (scales round to 0)', block(() => (r() * 2 - 1) * 1e-9)],
    ['f32 tiny normals', block(() => (r() * 2 - 1) * 1e-30)],
    ['half steps (Q8_0 .5 boundaries)', block((j) => (j === 0 ? 127 * step : (Math.floor(r() * 254) - 127 + 0.5) * step))],
    ['half steps (Q4 boundaries)', block((j) => (j === 0 ? -8 * step : (Math.floor(r() * 16) - 8 + 0.5) * step))],
    ['integers', block((j) => j - 16)],
    ['spread magnitudes', block((j) => (r() < 0.5 ? -1 : 1) * 10 ** (r() * 12 - 8))],
  ];
}

describe('quantize: the native quantizer is ggml\'s reference, bit for bit', () => {
  const seed = nextSeed();

  test.each(TYPES)('%s: random rows of several lengths, uniform and normal', (dtype) => {
    for (const [i, n] of [32, 96, 4096, 32 * 4099 /* several pool tasks */].entries()) {
      for (const values of [uniform(n, seed + i, -3, 3), normal(n, seed + 10 + i, 0.02)]) {
        expectSameBytes(quantizeBlocks(dtype, values), ggmlQuantize(values, dtype), `${dtype} n=${n}`);
      }
    }
  });

  test.each(TYPES)('%s: edge-case blocks, alone and all in one tensor', (dtype) => {
    const cases = edgeBlocks(dtype, seed + 1);
    for (const [name, values] of cases) {
      expectSameBytes(quantizeBlocks(dtype, values), ggmlQuantize(values, dtype), `${dtype} ${name}`);
    }
    const all = new Float32Array(cases.length * 32);
    cases.forEach(([, v], i) => all.set(v, i * 32));
    expectSameBytes(quantizeBlocks(dtype, all), ggmlQuantize(all, dtype), `${dtype} all edge blocks`);
  });

  test.each(TYPES)('%s: f16 and bf16 sources quantize as their f32 values do', (dtype) => {
    const values = uniform(32 * 67, seed + 2, -4, 4);
    for (const half of ['f16', 'bf16'] as const) {
      const t = tensor(half, [values.length], values); // the addon's own rounding to half precision
      const bits = new Uint16Array(t.read());
      const wide = Tensor.fromData('cpu', 'f32', [values.length], bits, 'other', half);
      const widened = new Float32Array(wide.read());
      wide.dispose();
      expectSameBytes(quantizeBlocks(dtype, bits, half), ggmlQuantize(widened, dtype), `${dtype} from ${half}`);
    }
  });

  test.each(TYPES)('%s: every value within half a step of its original (the format, not just the reference)', (dtype) => {
    const values = uniform(32 * 500, seed + 3, -2, 2);
    const blocks = quantizeBlocks(dtype, values);
    const deq = dequantizeBlocks(blocks, dtype);
    const blockBytes = dtype === 'q8_0' ? 34 : dtype === 'q4_0' ? 18 : 20;
    const view = new DataView(blocks.buffer);
    for (let b = 0; b < values.length / 32; b++) {
      const d = Math.abs(halfToFloat(view.getUint16(b * blockBytes, true)));
      let amax = 0;
      for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(values[b * 32 + j]));
      // half a step, plus what rounding d (and m) to f16 moves the grid: at most 2^-11 of each level's size;
      // Q4_0 maps the extreme to −8 steps, so values of the other sign past 7.5 steps clamp at 7
      const levels = dtype === 'q8_0' ? 127 : dtype === 'q4_0' ? 8 : 15;
      for (let j = 0; j < 32; j++) {
        const x = values[b * 32 + j];
        const clamp = dtype === 'q4_0' ? Math.abs(x) - 7 * d : 0;
        const bound = Math.max(d / 2, clamp) + (levels * d + amax) * 2 ** -11 + 1e-7;
        const err = Math.abs(deq[b * 32 + j] - x);
        if (err > bound) throw new Error(`${dtype} block ${b} element ${j}: |${deq[b * 32 + j]} − ${values[b * 32 + j]}| > ${bound}`);
      }
    }
  });

  test.each(TYPES)('%s: the cast op quantizes to the same bytes, and dequantizes them back', (dtype) => {
    const values = uniform(32 * 33, seed + 4, -1, 1);
    const x = tensor('f32', [33, 32], values);
    const q = out([33, 32], dtype);
    const back = out([33, 32]);
    runSync([ops.cast({ x, out: q }), ops.cast({ x: q, out: back })]);
    const bytes = new Uint8Array(q.read());
    expectSameBytes(bytes, ggmlQuantize(values, dtype), `cast f32 → ${dtype}`);
    expect(Float64Array.from(new Float32Array(back.read()))).toEqual(Float64Array.from(dequantizeBlocks(bytes, dtype), Math.fround));
  });
});

describe('quantize: what blocks cannot hold is refused', () => {
  const block = (v: number, at = 7) => Float32Array.from({ length: 32 }, (_, j) => (j === at ? v : 0.5));

  test.each(TYPES)('%s: NaN and ±inf', (dtype) => {
    for (const v of [NaN, Infinity, -Infinity]) {
      expectCoded(() => quantizeBlocks(dtype, block(v)), 'ERR_GPUFORMER_INPUT', new RegExp(`cannot quantize to ${dtype}: a value is`));
    }
  });

  test('scales and minima past f16', () => {
    expectCoded(() => quantizeBlocks('q8_0', block(1e7)), 'ERR_GPUFORMER_INPUT', /q8_0: a block holds values from .* whose scale overflows f16/);
    expectCoded(() => quantizeBlocks('q4_0', block(-6e5)), 'ERR_GPUFORMER_INPUT', /q4_0: .*scale overflows f16/);
    expectCoded(() => quantizeBlocks('q4_1', Float32Array.from({ length: 32 }, () => -7e4)), 'ERR_GPUFORMER_INPUT',
      /q4_1: .*minimum overflows f16/);
    // just inside: the largest Q8_0 block whose scale is finite
    expect(() => quantizeBlocks('q8_0', block(65504 * 127))).not.toThrow();
  });

  test('lengths and shapes that are not whole blocks; integer sources', () => {
    expectCoded(() => quantizeBlocks('q8_0', new Float32Array(33)), 'ERR_GPUFORMER_INPUT', /33 values are not whole 32-element blocks/);
    expectCoded(() => runSync([ops.cast({ x: tensor('i32', [32], new Int32Array(32)), out: out([32], 'q8_0') })]),
      'ERR_GPUFORMER_INPUT', /'x' must be a float or quantized tensor/);
    expectCoded(() => runSync([ops.cast({ x: tensor('q4_0', [32], new Uint8Array(18)), out: out([32], 'q8_0') })]),
      'ERR_GPUFORMER_INPUT', /a q8_0 'out' is quantized from f32, f16 or bf16, got 'x' q4_0/);
  });
});
