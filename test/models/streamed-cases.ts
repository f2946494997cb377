/** Driving a decoder runner through prefill and greedy decode steps, and comparing rows bit for bit: the checks of offload on the CPU and on a GPU. */
import * as path from 'path';
import type { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import type { DtypeChoice } from '../../lib/models/precision';
import { DeviceName, native } from '../../lib/native';
import { TestBlocks } from './golden';
import { openStreamedRunner } from './load-runner';
import { greedy } from '../helpers/sampling';

/** Full-prompt logits, then greedy decode steps with their logits, of each case in turn. */
export async function decodeCases(r: ModelDecoderRunner, prompts: number[][], steps: number): Promise<{ logits: Float32Array[]; ids: number[][] }> {
  const logits: Float32Array[] = [];
  const ids: number[][] = [];
  for (const prompt of prompts) {
    const table = new TestBlocks(16, r.numBlocks).take(prompt.length + steps);
    logits.push(...await r.logits([{ tokens: prompt, start: 0, blockTable: table, sample: null }]));
    const out: number[] = [];
    for (let s = 0; s < steps; s++) {
      const sample = greedy(s);
      const res = await r.step([s === 0 ? { tokens: prompt, start: 0, blockTable: table, sample }
        : { tokens: [out[s - 1]], start: prompt.length + s - 1, blockTable: table, sample }]);
      out.push(res.tokens[0]);
    }
    ids.push(out);
  }
  return { logits, ids };
}

/** Bit for bit the same rows (what the same kernels on the same weights give). */
export const expectSameRows = (a: Float32Array[], b: Float32Array[], what: string) => {
  expect(a.length).toBe(b.length);
  a.forEach((x, i) => {
    const at = x.findIndex((v, j) => !Object.is(v, b[i][j]));
    if (at >= 0) throw new Error(`${what}: row set ${i} element ${at} is ${x[at]}, in place ${b[i][at]}`);
  });
};


/**
 * With each split's layers streamed through the staging slots, `dir`'s decoder gives the logits (bit for bit) and
 * greedy ids of the runner with every layer in place, and again when its programs run a second time (prepared
 * once; on a GPU their CUDA graphs replay the copies); disposing it frees the slots and the host copies.
 */
export async function expectStreamedAsInPlace(dir: string, device: DeviceName, dtype: DtypeChoice, splits: ReadonlyArray<readonly number[]>,
  prompts: number[][], steps: number): Promise<void> {
  const base = await openStreamedRunner<ModelDecoderRunner>(dir, device, [], dtype);
  let want: Awaited<ReturnType<typeof decodeCases>>;
  try {
    want = await decodeCases(base, prompts, steps);
  } finally {
    base.dispose();
  }
  const weights = () => [native.memoryTotals('cpu').weights, native.memoryTotals(device).weights];
  for (const streamed of splits) {
    const before = weights();
    const r = await openStreamedRunner<ModelDecoderRunner>(dir, device, [...streamed], dtype);
    try {
      const got = await decodeCases(r, prompts, steps);
      expectSameRows(got.logits, want.logits, `${path.basename(dir)} ${dtype} streaming layers ${streamed}`);
      expect(got.ids).toEqual(want.ids);
      expect((await decodeCases(r, prompts, steps)).ids).toEqual(want.ids);
    } finally {
      r.dispose();
    }
    expect(weights()).toEqual(before);
  }
}
