/**
 * Loading onto a CUDA device (skips itself where no GPU is visible): every tensor read back from the GPU
 * equals the same request loaded on the CPU (the CPU path is checked against the file bytes in
 * weights.test.ts), the 'weights' tag on CUDA equals the plan, and everything is freed after dispose and
 * after a failed load. The plan's budget comes from the real device's memory.
 */
import * as fs from 'fs';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import type { WeightRequest } from '../../lib/core/source';
import { loadWeights } from '../../lib/loader/weights';
import { native } from '../../lib/native';
import type { DeviceName, Tensor } from '../../lib/native';
import { expectCoded, fixture } from './helpers';

const cuda = native.devices().cuda.available;
const describeCuda = cuda ? describe : describe.skip;
const GPU: DeviceName = 'cuda:0';

const disposeAll = (m: Map<string, Tensor>) => m.forEach((t) => t.dispose());

describeCuda('weights on CUDA', () => {
  it.each(['llama-gqa', 'qwen2-bias-bf16', 'gpt2'])('%s: the default plan (f16/bf16) loads the same bytes as on the CPU', async (name) => {
    const source = await openModel(fixture(name));
    const before = native.memoryTotals(GPU);
    const plan = planForSource(source, { device: 'cuda', maxNumSeqs: 4, maxModelLen: 128 });
    expect(plan.memory.budget.source).toMatch(/gpuMemoryUtilization 0\.9 × .* on cuda:0/);
    const want = source.spec.checkpointDtype === 'bfloat16' ? 'bf16' : 'f16';
    expect(plan.precision.activation).toBe(want);
    const gpu = await loadWeights(source.tensors, plan.weightPlan.requests, { device: GPU });
    const cpu = await loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' });
    try {
      expect(native.memoryTotals(GPU).weights - before.weights).toBe(plan.memory.params.bytes);
      for (const [n, t] of gpu) {
        expect(t.dtype).toBe(want);
        expect(t.shape).toEqual(cpu.get(n)!.shape);
        expect(Buffer.from(t.read()).equals(Buffer.from(cpu.get(n)!.read()))).toBe(true);
      }
    } finally {
      disposeAll(gpu);
      disposeAll(cpu);
    }
    expect(native.memoryTotals(GPU).weights).toBe(before.weights);
  });

  it('a failed load frees its GPU memory', async () => {
    const source = await openModel(fixture('llama-gqa'));
    const tensors = new Map(source.tensors);
    const v = tensors.get('model.norm.weight')!;
    tensors.set('broken', { ...v, name: 'broken', offset: fs.statSync(v.file).size - 8 });
    const requests = new Map<string, WeightRequest>([...source.tensors.keys()].map((k) => [k, { dtype: 'f16' }]));
    requests.set('broken', { dtype: 'f16' });
    const before = native.memoryTotals(GPU);
    await expectCoded(loadWeights(tensors, requests, { device: GPU }), 'ERR_GPUFORMER_BAD_WEIGHTS', /truncated/);
    const after = native.memoryTotals(GPU);
    expect(after.weights).toBe(before.weights);
    expect(after.allocations).toBe(before.allocations);
  });
});
