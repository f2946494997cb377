/**
 * inspectModel / formatInspection (what `gpuformer inspect` prints): the source summary, the plan with its
 * shortfall instead of an exception, planning for a GPU this machine lacks, JSON round trip.
 */
import * as path from 'path';
import { formatInspection, inspectModel } from '../../lib/engine/inspect';
import { resolveDevice } from '../../lib/engine/plan';
import { native } from '../../lib/native';
import { GGUF_FILE, MODELS, expectCoded, fixture } from './helpers';

it('summarizes a sentence-transformers model and plans it on the CPU', async () => {
  const x = await inspectModel(path.join(MODELS, 'all-MiniLM-L6-v2'), { device: 'cpu', memoryBudgetBytes: 1e9, maxNumBatchedTokens: 2048 });
  expect(x.source).toMatchObject({ format: 'safetensors', architecture: 'BertModel', family: 'bert', tensors: 105 - 1,
    tokenizer: true, chatTemplate: false, pooling: { mode: 'mean', normalize: true }, maxSeqLength: 256 });
  expect(x.source.checkpointBytes).toBe(90_868_376 - 8 - 11_408);
  expect(x.plan.fits).toBe(true);
  expect(JSON.parse(JSON.stringify(x))).toEqual(x);
  const text = formatInspection(x);
  for (const s of ['BertModel (safetensors): 6 layers, hidden 384, 12 heads', 'pooling mean + normalize, max_seq_length 256',
    'token embedding', '11.7 M', 'KV cache    none (encoder)', 'budget 1.0 GB (memoryBudgetBytes)']) expect(text).toContain(s);
});

it('a plan that does not fit is shown with its shortfall, not thrown', async () => {
  const x = await inspectModel(fixture('llama-gqa'), { device: 'cpu', memoryBudgetBytes: 5e6 });
  expect(x.plan.fits).toBe(false);
  expect(x.plan.shortfallBytes).toBeGreaterThan(0);
  expect(formatInspection(x)).toMatch(/DOES NOT FIT: .* missing/);
});

it('plans for a GPU this machine lacks when told its size; without it, says why not', async () => {
  const cuda = native.devices().cuda;
  if (!cuda.available) {
    await expectCoded(inspectModel(fixture('qwen2-bias-bf16'), { device: 'cuda' }), 'ERR_GPUFORMER_INPUT', /CUDA is not available/, /deviceTotalBytes/);
  }
  const x = await inspectModel(fixture('qwen2-bias-bf16'), { device: 'cuda:1', deviceTotalBytes: 24e9, gpuMemoryUtilization: 0.5 });
  expect(x.plan.device).toBe('cuda:1');
  expect(x.plan.budget.bytes).toBe(12e9);
  // CUDA keeps a bf16 checkpoint in bf16 and computes in it
  expect(x.plan.dtypes).toEqual({ weights: 'bf16', activations: 'bf16', kv: 'bf16' });
  expect(x.plan.kv.bytesPerToken).toBe(2 * 2 * 1 * 64 * 2);
  expect(x.plan.maxModelLen).toBe(256);
  const f32 = await inspectModel(fixture('qwen2-bias-bf16'), { device: 'cuda', deviceTotalBytes: 24e9, dtype: 'float32' });
  expect(f32.plan.dtypes.weights).toBe('f32');
  expect(f32.plan.params.bytes).toBe(2 * x.plan.params.bytes);
});

it('a GGUF file: quantized blocks, tokenizer and chat template from its metadata', async () => {
  const x = await inspectModel(GGUF_FILE, { device: 'cpu', memoryBudgetBytes: 2e9, maxModelLen: 2048 });
  expect(x.source).toMatchObject({ format: 'gguf', family: 'llama', tokenizer: true, chatTemplate: true });
  expect(formatInspection(x)).toMatch(/weights in q4_1 .* \+ q8_0 .* \+ f32/);
  expect(x.plan.maxModelLen).toBe(2048);
});

it('device names', () => {
  expect(resolveDevice('cpu')).toBe('cpu');
  expect(resolveDevice('cuda', 8e9)).toBe('cuda:0');
  expect(resolveDevice('cuda:3', 8e9)).toBe('cuda:3');
  expect(resolveDevice('auto')).toBe(native.devices().cuda.available ? 'cuda:0' : 'cpu');
  expect(() => resolveDevice('gpu')).toThrow(/'auto', 'cpu', 'cuda' or 'cuda:N'/);
});
