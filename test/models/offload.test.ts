/**
 * The offload machinery on the CPU (lib/models/offload.ts LayerStream, the fetchSlot / waitSlot / releaseSlot
 * commands, the forward passes' layer hooks, the loader's host placement): a runner whose layers stream through
 * two staging slots computes exactly what the runner with every layer in place computes — the same copies of
 * the same weights feed the same kernels — for Llama (2 and 3 layers, so a slot is refilled), GPT-2 (whose
 * q/k/v are views of the slot's c_attn) and BERT, in float and in blocks quantized at load, in prefill and in
 * decode steps (prepared programs run again and again). On a GPU the copies run on a copy stream instead
 * (test/gpu/offload.test.ts); the CPU has nothing to overlap, so the planner never streams layers there.
 */
import { openModel } from '../../lib/loader/open';
import type { ModelEncoderRunner } from '../../lib/models/encoder-runner';
import type { DtypeChoice } from '../../lib/models/precision';
import { native } from '../../lib/native';
import { fixture } from '../loader/helpers';
import { readCases } from './golden';
import { openStreamedRunner } from './load-runner';
import { expectSameRows, expectStreamedAsInPlace } from './streamed-cases';

const runnerWith = (name: string, streamed: number[], dtype: DtypeChoice = 'auto') =>
  openStreamedRunner(fixture(name), 'cpu', streamed, dtype);

describe.each([
  ['llama-gqa', [[1], [0, 1]]],
  ['llama3-rope-scaled-sharded', [[2], [1, 2], [0, 1, 2]]],
  ['gpt2', [[1], [0, 1]]],
] as const)('%s', (name, splits) => {
  const prompts = readCases(name).map((c) => c.input_ids.slice(0, 40));

  test.each(['auto', 'q4_0'] as const)('streamed layers give the logits and greedy ids of the runner with every layer in place (%s)',
    (dtype) => expectStreamedAsInPlace(fixture(name), 'cpu', dtype, splits, prompts, 6));
});

it('bert: streamed layers give the same embeddings', async () => {
  const cases = readCases('bert');
  const ids = cases.map((c) => c.input_ids);
  const typeIds = cases.map((c) => c.token_type_ids!);
  const embed = async (streamed: number[]) => {
    const r = await runnerWith('bert', streamed) as ModelEncoderRunner;
    try {
      return await r.embed(ids, { pooling: 'mean', normalize: true, typeIds });
    } finally {
      r.dispose();
    }
  };
  const want = await embed([]);
  expectSameRows(await embed([1]), want, 'bert streaming layer 1');
  expectSameRows(await embed([0, 1]), want, 'bert streaming layers 0, 1');
});

it('the slots hold one streamed layer each: two for two or more streamed layers, one for one', async () => {
  const layerBytes = async (streamed: number[]) => {
    const before = native.memoryTotals('cpu').weights;
    const r = await runnerWith('llama3-rope-scaled-sharded', streamed);
    const held = native.memoryTotals('cpu').weights - before;
    r.dispose();
    return held;
  };
  const all = await layerBytes([]);
  const source = await openModel(fixture('llama3-rope-scaled-sharded'));
  const layer = [...source.tensors.values()].filter((t) => t.name.includes('layers.0.')).reduce((a, t) => a + t.nbytes, 0);
  expect(await layerBytes([2])).toBe(all + layer);
  expect(await layerBytes([1, 2])).toBe(all + 2 * layer);
  expect(await layerBytes([0, 1, 2])).toBe(all + 2 * layer);
});
