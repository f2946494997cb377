/**
 * Quantizing on the device (the cast op's float → Q8_0 / Q4_0 / Q4_1 direction, native/cuda/quantize.cu):
 * the same block bytes as the CPU's reference quantizer (test/ops/quantize.test.ts holds that one to ggml's
 * formulas), from f32, f16 and bf16 tensors, on random rows and on the blocks that stress the formulas (all
 * zero, constant, a negative extreme, ties in |x|, values on the rounding boundaries, scales that are f16
 * subnormals or round to zero). Values stay in f32's normal range: fast math flushes subnormals on the device.
 */
import type { QuantizedDType } from '../../lib/core/dtype';
import { Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { normal, uniform } from '../helpers/random';
import { DEVICE, describeGpu, disposeAll } from './both-devices';

const TYPES: QuantizedDType[] = ['q8_0', 'q4_0', 'q4_1'];
const made: Tensor[] = [];
const keep = (t: Tensor) => { made.push(t); return t; };
afterEach(() => {
  while (made.length) made.pop()!.dispose();
  disposeAll();
});

/** the blocks of `values` (as `src` elements) quantized by cast on `device` */
function quantizeOn(device: string, dtype: QuantizedDType, src: 'f32' | 'f16' | 'bf16', values: Float32Array): Uint8Array {
  const x = keep(Tensor.fromData(device, src, [values.length / 32, 32], values, 'other', 'f32'));
  const out = keep(Tensor.empty(device, dtype, [values.length / 32, 32], 'other'));
  out.write(new Uint8Array(out.nbytes).fill(0xa5)); // poisoned: an unwritten block shows
  runSync([ops.cast({ x, out })]);
  return new Uint8Array(out.read());
}

function edgeValues(): Float32Array {
  const blocks: number[][] = [
    Array(32).fill(0), Array(32).fill(0.75), Array(32).fill(-3.5),
    Array.from({ length: 32 }, (_, j) => (j === 5 ? -9 : ((j * 7) % 11) / 5 - 1)),
    Array.from({ length: 32 }, (_, j) => (j === 3 ? 6 : j === 20 ? -6 : ((j * 5) % 7) / 7 - 0.5)),
    Array.from({ length: 32 }, (_, j) => (j === 0 ? 127 / 32 : (((j * 13) % 254) - 127 + 0.5) / 32)),
    Array.from({ length: 32 }, (_, j) => (j === 0 ? -8 / 32 : (((j * 5) % 16) - 8 + 0.5) / 32)),
    Array.from({ length: 32 }, (_, j) => (((j * 3) % 17) / 8 - 1) * 1e-6),
    Array.from({ length: 32 }, (_, j) => (((j * 3) % 17) / 8 - 1) * 1e-9),
  ];
  return Float32Array.from(blocks.flat());
}

describeGpu('cast to blocks on the device: the CPU reference quantizer\'s bytes', () => {
  test.each(TYPES)('%s from f32, f16 and bf16', (dtype) => {
    for (const values of [uniform(32 * 1000, 17, -3, 3), normal(32 * 517, 18, 0.02), edgeValues()]) {
      for (const src of ['f32', 'f16', 'bf16'] as const) {
        const want = quantizeOn('cpu', dtype, src, values);
        const got = quantizeOn(DEVICE, dtype, src, values);
        const at = got.findIndex((b, i) => b !== want[i]);
        if (at >= 0) throw new Error(`${dtype} from ${src}: byte ${at} is ${got[at]} on ${DEVICE}, ${want[at]} on the cpu`);
      }
    }
  });
});
