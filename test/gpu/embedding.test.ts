/**
 * embedding on the device against the CPU: token tables of every storage dtype (f32, f16, bf16, and GGUF
 * Q8_0 / Q4_0 / Q4_1 blocks read in place), scaled, with position and token-type rows, written in every
 * activation dtype; rows whose width does not allow 16-byte accesses take the element-wise path.
 * (Ids out of range: bad-input.test.ts.)
 */
import { DType } from '../../lib/native';
import { ops } from '../../lib/ops';
import { ints, nextSeed } from '../helpers/random';
import { encodeWeights, WeightDType } from '../ops/linear-cases';
import { ACTS, Act, describeGpu, disposeAll, expectAgree, i32s, output, raw, runBoth, Spec } from './both-devices';

afterEach(disposeAll);

const table = (dtype: WeightDType, rows: number, C: number, seed: number): Spec =>
  raw(dtype as DType, [rows, C], encodeWeights(dtype, rows * C, seed).bytes);

function check(a: Act, dtype: WeightDType, T: number, C: number, withPosAndType: boolean, scale: number): void {
  const seed = nextSeed();
  const V = 50, P = 40, Y = 2;
  const specs: Record<string, Spec> = { ids: i32s(ints(T, seed, V)), tok: table(dtype, V, C, seed + 1), out: output([T, C]) };
  if (withPosAndType) {
    Object.assign(specs, {
      posIds: i32s(ints(T, seed + 2, P)), pos: table('f16', P, C, seed + 3),
      typeIds: i32s(ints(T, seed + 4, Y)), type: table('f32', Y, C, seed + 5),
    });
  }
  const r = runBoth(a, specs, (t) => [ops.embedding({
    ids: t.ids, tok: t.tok, posIds: t.posIds, pos: t.pos, typeIds: t.typeIds, type: t.type, scale, out: t.out,
  })]);
  expectAgree(r, 'out', a, `embedding tok ${dtype} T=${T} C=${C} seed ${seed}`);
}

describeGpu('embedding', () => {
  describe.each(ACTS)('%s out', (a) => {
    test.each([
      ['f32', 1, 64], ['f32', 17, 96], ['f16', 17, 384], ['bf16', 257, 128], ['q8_0', 17, 64], ['q4_0', 33, 96],
      ['q4_1', 5, 256], ['q8_0', 300, 576],
    ] as const)('tok %s, T = %i, C = %i, scaled, with positions and types', (dtype, T, C) => {
      check(a, dtype, T, C, true, 1.7);
    });

    test.each([['f32', 36], ['bf16', 3], ['f16', 100]] as const)('tok %s, C = %i (no 16-byte rows)', (dtype, C) => {
      check(a, dtype, 19, C, true, 0.5);
    });

    test.each(['bf16', 'q4_1'] as const)('tok %s rows only (no positions or types, scale 1)', (dtype) => {
      check(a, dtype, 300, 64, false, 1);
    });
  });
});
