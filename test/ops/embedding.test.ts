/** embedding: token rows of every storage dtype, scaled, plus optional position and type rows; bad ids. */
import { DType, Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32 } from '../helpers/compare';
import { ints, nextSeed, normal } from '../helpers/random';
import * as ref from '../helpers/reference';
import { disposeAll, expectCoded, i32t, out, tensor } from './tensors';

afterEach(disposeAll);

/** A [rows, C] table of `dtype` and the values it really holds (after rounding or quantization). */
function table(dtype: DType, rows: number, C: number, seed: number): { t: Tensor; values: Float64Array } {
  const data = normal(rows * C, seed);
  if (dtype === 'q8_0' || dtype === 'q4_0' || dtype === 'q4_1') {
    const q = ref.quantize(data, dtype);
    return { t: tensor(dtype, [rows, C], q.bytes), values: q.values };
  }
  const t = tensor(dtype, [rows, C], data);
  const values = dtype === 'f32' ? Float64Array.from(data) : ref.decodeHalfBits(new Uint16Array(t.read()), dtype as 'f16' | 'bf16');
  return { t, values };
}

describe('embedding', () => {
  test.each([
    ['f32', 1, 64], ['f32', 17, 96], ['f16', 17, 384], ['bf16', 257, 128], ['q8_0', 17, 64], ['q4_0', 33, 96],
    ['q4_1', 5, 256],
  ] as const)('tok %s, T = %i, C = %i, scaled, with positions and types', (dtype, T, C) => {
    const seed = nextSeed();
    const V = 50, P = 40, Y = 2;
    const tok = table(dtype, V, C, seed);
    const pos = table('f16', P, C, seed + 1);
    const type = table('f32', Y, C, seed + 2);
    const ids = ints(T, seed + 3, V), posIds = ints(T, seed + 4, P), typeIds = ints(T, seed + 5, Y);
    const o = out([T, C]);
    runSync([ops.embedding({
      ids: i32t(ids), tok: tok.t, posIds: i32t(posIds), pos: pos.t, typeIds: i32t(typeIds), type: type.t, scale: 1.7, out: o,
    })]);
    const want = ref.embedding(ids, tok.values, C, 1.7, { ids: posIds, table: pos.values }, { ids: typeIds, table: type.values });
    expectClose(f32(o), want, 1e-6, `embedding seed ${seed}`);
  });

  test('token rows only (no positions or types, scale 1)', () => {
    const seed = nextSeed();
    const tok = table('bf16', 1000, 32, seed);
    const ids = ints(300, seed + 1, 1000);
    const o = out([300, 32]);
    runSync([ops.embedding({ ids: i32t(ids), tok: tok.t, out: o })]);
    expectClose(f32(o), ref.embedding(ids, tok.values, 32, 1), 0, `embedding seed ${seed}`);
  });

  test.each(['f32', 'bf16', 'q8_0', 'q4_0', 'q4_1'] as const)('a %s table packed for the CPU linear (tied to the LM head) gives the same rows', (dtype) => {
    // where the tier packs (AVX-512: row pairs, quantized groups of 16 rows), the lookup reads the packed rows
    const seed = nextSeed();
    const V = 48, C = 96;
    const plain = table(dtype, V, C, seed).t;
    const packed = tensor(dtype, [V, C], new Uint8Array(plain.read()));
    packed.packForLinear();
    const ids = ints(40, seed + 1, V);
    const [want, got] = [out([40, C]), out([40, C])];
    runSync([ops.embedding({ ids: i32t(ids), tok: plain, scale: 1.3, out: want }), ops.embedding({ ids: i32t(ids), tok: packed, scale: 1.3, out: got })]);
    expect(new Uint32Array(got.read())).toEqual(new Uint32Array(want.read()));
  });

  describe('indices out of range are ERR_GPUFORMER_INPUT naming the argument, index and value; out is untouched', () => {
    const setup = () => ({ tok: table('f32', 10, 32, 1).t, pos: table('f32', 8, 32, 2).t, type: table('f32', 2, 32, 3).t });
    test('ids', () => {
      const { tok } = setup();
      const o = out([3, 32]);
      expectCoded(() => runSync([ops.embedding({ ids: i32t([1, 10, 2]), tok, out: o })]), 'ERR_GPUFORMER_INPUT',
        /ids\[1\] = 10 is outside \[0, 10\)/);
      expect(f32(o).every(Number.isNaN)).toBe(true);
      expectCoded(() => runSync([ops.embedding({ ids: i32t([-1]), tok, out: out([1, 32]) })]), 'ERR_GPUFORMER_INPUT',
        /ids\[0\] = -1/);
    });
    test('posIds', () => {
      const { tok, pos } = setup();
      expectCoded(() => runSync([ops.embedding({ ids: i32t([1, 2]), tok, posIds: i32t([0, 8]), pos, out: out([2, 32]) })]),
        'ERR_GPUFORMER_INPUT', /posIds\[1\] = 8 is outside \[0, 8\)/);
    });
    test('typeIds', () => {
      const { tok, type } = setup();
      expectCoded(() => runSync([ops.embedding({ ids: i32t([1]), tok, typeIds: i32t([-3]), type, out: out([1, 32]) })]),
        'ERR_GPUFORMER_INPUT', /typeIds\[0\] = -3 is outside \[0, 2\)/);
    });
  });
});
