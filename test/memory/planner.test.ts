/**
 * The memory planner, checked against numbers worked out by hand from the configs: parameter groups,
 * tied heads, KV bytes per token and block, the budget, KV blocks, maxModelLen capping, concurrency, the
 * worked example of the issue, and ERR_GPUFORMER_OOM with the knob that helps.
 */
import * as path from 'path';
import { kvBytesPerToken } from '../../lib/core/spec';
import { specFromConfig } from '../../lib/loader/config';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { formatBytes, formatCount } from '../../lib/memory/format';
import { formatPlan } from '../../lib/memory/plan-report';
import { CUDA_HEAD_DIMS } from '../../lib/models/device-support';
import { computeMemoryPlan, paramGroup, planMemory, weightEntriesFromSpec } from '../../lib/memory/planner';
import { native } from '../../lib/native';
import { GGUF_FILE, MODELS, expectCoded, fixture } from '../loader/helpers';

/** Phi-3-mini's dimensions on a Llama body: the worked example. */
const phi3Like = () => specFromConfig({
  architectures: ['LlamaForCausalLM'], vocab_size: 32064, hidden_size: 3072, num_hidden_layers: 32, num_attention_heads: 32,
  num_key_value_heads: 32, intermediate_size: 8192, max_position_embeddings: 131072, rms_norm_eps: 1e-5, tie_word_embeddings: false,
});

describe('the worked example: vocab 32064 × hidden 3072, 131072 positions', () => {
  const spec = phi3Like();
  const weights = weightEntriesFromSpec(spec, 'f16');
  const H100 = { device: 'cuda:0', activationDtype: 'f16' as const, deviceTotalBytes: 80e9 };

  it('the token table is 98.5 M parameters, 197 MB in f16', () => {
    const plan = computeMemoryPlan(spec, weights, H100);
    const tok = plan.params.groups.tokenEmbedding;
    expect(tok.params).toBe(32064 * 3072);
    expect(tok.params).toBe(98_500_608);
    expect(tok.bytes).toBe(197_001_216);
    expect(formatCount(tok.params)).toBe('98.5 M');
    expect(formatBytes(tok.bytes)).toBe('197.0 MB');
  });

  it('groups, totals and KV geometry as computed by hand', () => {
    const plan = computeMemoryPlan(spec, weights, H100);
    const g = plan.params.groups;
    expect(g.attention.params).toBe(32 * 4 * 3072 * 3072); // q, k, v, o
    expect(g.mlp.params).toBe(32 * 3 * 3072 * 8192); // gate, up, down
    expect(g.norms.params).toBe(32 * 2 * 3072 + 3072);
    expect(g.lmHead.params).toBe(98_500_608); // untied
    expect(g.positionEmbedding.params).toBe(0);
    expect(plan.params.count).toBe(3_821_079_552);
    expect(plan.params.bytes).toBe(2 * 3_821_079_552);
    expect(plan.params.tiedLmHead).toBe(false);
    expect(plan.kv.bytesPerToken).toBe(2 * 32 * 32 * 96 * 2);
    expect(plan.kv.blockBytes).toBe(16 * 393_216);
    expect(plan.budget.bytes).toBe(72e9);
  });

  it('KV blocks are what the budget leaves; maxModelLen stays at the config when it fits', () => {
    const plan = computeMemoryPlan(spec, weights, H100);
    const left = 72e9 - plan.params.bytes - plan.workspace.bytes;
    expect(plan.kv.blocks).toBe(Math.floor(left / plan.kv.blockBytes));
    expect(plan.kv.blocks * 16).toBeGreaterThan(131072);
    expect(plan.maxModelLen).toBe(131072);
    expect(plan.maxModelLenFrom).toBe('config');
    expect(plan.concurrentSequences).toBe(Math.floor(plan.kv.blocks / (131072 / 16)));
    expect(plan.totalBytes).toBe(plan.params.bytes + plan.workspace.bytes + plan.kv.blocks * plan.kv.blockBytes);
    expect(plan.totalBytes).toBeLessThanOrEqual(72e9);
    expect(plan.fits).toBe(true);
  });

  it('the workspace covers one step of maxNumBatchedTokens honestly (hidden, q/k/v, MLP, logits rows)', () => {
    const plan = computeMemoryPlan(spec, weights, { ...H100, maxNumBatchedTokens: 4096, maxNumSeqs: 128 });
    const T = 4096;
    const C = 3072;
    const F = 8192;
    // residual stream, normed input, delta; q, k, v, attention output; gate, up, activation; last rows and logits;
    // the sampling stage: processed f32 logits and i32 token counts per row, and each row's logit-bias list
    const lower = (T * (3 * C + 4 * C + 3 * F) + 128 * C + 128 * 32064) * 2 + 128 * 32064 * 8 + 128 * 1024 * 8;
    expect(plan.workspace.bytes).toBeGreaterThanOrEqual(lower);
    expect(plan.workspace.bytes).toBeLessThan(lower * 1.01 + 1e6);
    expect(plan.workspace.maxNumBatchedTokens).toBe(4096);
  });

  it('on a smaller GPU maxModelLen is capped at what fits', () => {
    const plan = computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 16e9 });
    const left = 14.4e9 - plan.params.bytes - plan.workspace.bytes;
    expect(plan.kv.blocks).toBe(Math.floor(left / plan.kv.blockBytes));
    // the longest length whose KV blocks fit beside the weights and its workspace: whole blocks
    expect(plan.maxModelLen).toBe(plan.kv.blocks * 16);
    expect(plan.maxModelLen).toBeLessThan(131072);
    // one block more does not fit with every layer on the GPU; the planner then streams a layer from host memory
    const allResident = { ...H100, deviceTotalBytes: 16e9, maxModelLen: plan.maxModelLen + 16, gpuLayers: 32 };
    expect(computeMemoryPlan(spec, weights, allResident).fits).toBe(false);
    const longer = computeMemoryPlan(spec, weights, { ...allResident, gpuLayers: undefined });
    expect(longer.fits).toBe(true);
    // streaming one or two layers saves nothing (each needs a staging slot of its size): three do
    expect(longer.offload).toMatchObject({ gpuLayers: 29, hostLayers: [29, 30, 31], from: 'memory', slots: 2 });
    expect(plan.maxModelLenFrom).toBe('memory');
    expect(plan.concurrentSequences).toBe(1);
  });

  it('f32 weights that do not fit on the GPU (every layer kept there): ERR_GPUFORMER_OOM before allocating, with the missing bytes and the knobs', async () => {
    const before = native.memoryTotals('cpu').allocations;
    const f32 = weightEntriesFromSpec(spec, 'f32');
    const o = { ...H100, deviceTotalBytes: 16e9, activationDtype: 'f32' as const, gpuLayers: 32 };
    const plan = computeMemoryPlan(spec, f32, o);
    expect(plan.fits).toBe(false);
    expect(plan.offload).toBeUndefined();
    const required = plan.params.bytes + plan.workspace.bytes + plan.kv.blockBytes; // one block at least
    expect(plan.shortfallBytes).toBe(required - 14.4e9);
    const err = await expectCoded(() => planMemory(spec, f32, o), 'ERR_GPUFORMER_OOM',
      new RegExp(`${plan.shortfallBytes} bytes`), /are missing/, /dtype: 'float16'/, /saves 7\.6 GB/, /gpuMemoryUtilization/,
      /dtype: 'q8_0' \(or 'q4_0'\) quantizes the float matrices while loading: about 10\.9 GB less in q8_0, enough/,
      /gpuLayers: at most \d+ of 32 layers fit on the GPU with the rest streamed/);
    expect(err.message).toMatch(/14\.4 GB/);
    expect(native.memoryTotals('cpu').allocations).toBe(before);
  });

  it('an explicit maxModelLen that does not fit says how much would', async () => {
    const plan = computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 12e9, maxModelLen: 131072 });
    expect(plan.fits).toBe(false);
    const capped = computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 12e9 });
    const fitsLen = capped.maxModelLen;
    expect(capped.maxModelLenFrom).toBe('memory');
    expect(plan.shortfallBytes).toBe(plan.params.bytes + plan.workspace.bytes + 8192 * plan.kv.blockBytes - 10.8e9);
    await expectCoded(() => planMemory(spec, weights, { ...H100, deviceTotalBytes: 12e9, maxModelLen: 131072 }), 'ERR_GPUFORMER_OOM',
      new RegExp(`maxModelLen: at most ${fitsLen} fits`));
    // and that length does fit; one block more does not with every layer on the GPU
    expect(computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 12e9, maxModelLen: fitsLen }).fits).toBe(true);
    expect(computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 12e9, maxModelLen: fitsLen + 16, gpuLayers: 32 }).fits).toBe(false);
  });

  it('maxModelLen past the position limit is an input error', async () => {
    await expectCoded(() => computeMemoryPlan(spec, weights, { ...H100, maxModelLen: 131073 }), 'ERR_GPUFORMER_INPUT', /131073/, /131072 positions/);
  });

  it('the text form names every part', () => {
    const text = formatPlan(computeMemoryPlan(spec, weights, { ...H100, deviceTotalBytes: 16e9 }));
    for (const s of ['token embedding', '98.5 M', '197.0 MB', 'LM head', 'KV cache', '393.2 kB per token', 'maxModelLen',
      'capped by the memory left', 'gpuMemoryUtilization 0.9 × 16.0 GB on cuda:0']) expect(text).toContain(s);
  });
});

describe('what the device cannot run fails at planning, before any allocation', () => {
  it('a head dim without a CUDA attention kernel is ERR_GPUFORMER_UNSUPPORTED on CUDA, fine on the CPU', async () => {
    const src = await openModel(fixture('llama-gqa'));
    const odd = { ...src, spec: { ...src.spec, headDim: 48 } };
    const before = native.memoryTotals('cpu');
    await expectCoded(() => planForSource(odd, { device: 'cuda:0', deviceTotalBytes: 80e9 }), 'ERR_GPUFORMER_UNSUPPORTED',
      /head dim 48 has no CUDA attention kernel .*device: 'cpu'/);
    expect(native.memoryTotals('cpu')).toEqual(before);
    expect(planForSource(odd, { device: 'cpu', memoryBudgetBytes: 256e6, maxNumSeqs: 8 }).device).toBe('cpu');
    for (const headDim of CUDA_HEAD_DIMS) {
      expect(planForSource({ ...src, spec: { ...src.spec, headDim } }, { device: 'cuda:0', deviceTotalBytes: 80e9 }).device).toBe('cuda:0');
    }
  });
});

describe('fixtures on the CPU', () => {
  it('llama-gqa: hand-computed parameters and KV bytes; KV capped at maxNumSeqs sequences', async () => {
    const src = await openModel(fixture('llama-gqa'));
    const { memory: plan } = planForSource(src, { device: 'cpu', memoryBudgetBytes: 256e6, maxNumSeqs: 8, maxNumBatchedTokens: 256 });
    const C = 256;
    const g = plan.params.groups;
    expect(g.tokenEmbedding.params).toBe(1000 * C);
    expect(g.attention.params).toBe(2 * (C * C + 128 * C + 128 * C + C * C));
    expect(g.mlp.params).toBe(2 * 3 * 688 * C);
    expect(g.norms.params).toBe(2 * 2 * C + C);
    expect(g.lmHead.params).toBe(1000 * C);
    expect(plan.params.count).toBe(1_963_264);
    expect(plan.params.bytes).toBe(4 * 1_963_264);
    expect(plan.kv.bytesPerToken).toBe(2 * 2 * 2 * 64 * 4);
    expect(plan.kv.blocks).toBe(8 * (256 / 16)); // the CPU reserves only what maxNumSeqs sequences can use
    expect(plan.maxModelLen).toBe(256);
    expect(plan.concurrentSequences).toBe(8);
    expect(plan.budget).toEqual({ bytes: 256e6, source: 'memoryBudgetBytes' });
  });

  it('tied heads are counted once (qwen2, gpt2), bf16 kept as stored on the CPU', async () => {
    for (const name of ['qwen2-bias-bf16', 'gpt2']) {
      const src = await openModel(fixture(name));
      const { memory: plan } = planForSource(src, { device: 'cpu', memoryBudgetBytes: 1e9 });
      expect(plan.params.tiedLmHead).toBe(true);
      expect(plan.params.groups.lmHead.params).toBe(0);
      const stored = [...src.tensors.values()].reduce((a, t) => a + t.nbytes, 0);
      expect(plan.params.bytes).toBe(stored);
    }
    const qwen = planForSource(await openModel(fixture('qwen2-bias-bf16')), { device: 'cpu', memoryBudgetBytes: 1e9 }).memory;
    expect(qwen.dtypes.weights).toBe('bf16');
  });

  it("dtype 'float16' halves an f32 checkpoint's weight bytes", async () => {
    const src = await openModel(fixture('llama-gqa'));
    const f16 = planForSource(src, { device: 'cpu', dtype: 'float16', memoryBudgetBytes: 1e9 }).memory;
    expect(f16.params.bytes).toBe(2 * 1_963_264);
    expect(f16.dtypes.weights).toBe('f16');
  });

  it('an encoder has no KV cache; its workspace covers maxNumBatchedTokens', async () => {
    const src = await openModel(path.join(MODELS, 'all-MiniLM-L6-v2'));
    const { memory: plan } = planForSource(src, { device: 'cpu', maxNumBatchedTokens: 1024, maxNumSeqs: 16, memoryBudgetBytes: 1e9 });
    expect(plan.kv).toMatchObject({ bytesPerToken: 0, blocks: 0, bytes: 0 });
    expect(plan.maxModelLen).toBe(512);
    expect(plan.params.groups.positionEmbedding.params).toBe(512 * 384 + 2 * 384);
    // word + position + type + embedding LayerNorm, then per layer: q/k/v/o with biases, two LayerNorms, the MLP
    // (the pooler head is not loaded: sentence-transformers pools the hidden states itself)
    const perLayer = 4 * (384 * 384 + 384) + 2 * 2 * 384 + (384 * 1536 + 1536) + (1536 * 384 + 384);
    expect(plan.params.count).toBe(30522 * 384 + 512 * 384 + 2 * 384 + 2 * 384 + 6 * perLayer);
    expect(plan.params.count).toBe(22_565_376);
    const lower = 1024 * (384 * 6 + 1536) * 4; // hidden-sized buffers and the MLP intermediate, f32
    expect(plan.workspace.bytes).toBeGreaterThan(lower);
  });

  it('GGUF blocks kept quantized are counted at their block size', async () => {
    const src = await openModel(GGUF_FILE);
    const lp = planForSource(src, { device: 'cpu', memoryBudgetBytes: 4e9, maxModelLen: 2048 });
    let stored = 0;
    for (const name of lp.weightPlan.requests.keys()) stored += src.tensors.get(name)!.nbytes;
    expect(lp.memory.params.bytes).toBe(stored);
    expect(lp.memory.dtypes.weights).toMatch(/q4_1 .* \+ q8_0 .* \+ f32/);
    expect(lp.memory.params.count).toBe(134_515_008);
    const f32 = planForSource(src, { device: 'cpu', dtype: 'float32', memoryBudgetBytes: 4e9, maxModelLen: 2048 }).memory;
    expect(f32.params.bytes).toBe(4 * 134_515_008);
  });

  it('a budget too small for the weights is ERR_GPUFORMER_OOM naming memoryBudgetBytes', async () => {
    const src = await openModel(fixture('llama-gqa'));
    await expectCoded(() => planForSource(src, { device: 'cpu', memoryBudgetBytes: 4e6 }), 'ERR_GPUFORMER_OOM', /memoryBudgetBytes: at least/,
      /bytes \(.*\) are missing/);
    const plan = planForSource(src, { device: 'cpu', memoryBudgetBytes: 4e6 }, false).memory;
    expect(plan.fits).toBe(false);
    expect(formatPlan(plan)).toContain('DOES NOT FIT');
  });

  it('the CPU default budget is half of system memory', async () => {
    const os = await import('os');
    const plan = planForSource(await openModel(fixture('gpt2')), { device: 'cpu' }).memory;
    expect(plan.budget.bytes).toBe(Math.floor(os.totalmem() / 2));
    expect(plan.budget.source).toMatch(/50% of .* system memory/);
  });
});

it('KV bytes per token = 2 × layers × kvHeads × headDim × dtype bytes', () => {
  const spec = phi3Like();
  expect(kvBytesPerToken(spec, 'f16')).toBe(2 * 32 * 32 * 96 * 2);
  expect(kvBytesPerToken({ ...spec, numKvHeads: 8 }, 'f32')).toBe(2 * 32 * 8 * 96 * 4);
});

it('parameter groups of every family', () => {
  const cases: Array<[string, string]> = [
    ['model.embed_tokens.weight', 'tokenEmbedding'], ['transformer.wte.weight', 'tokenEmbedding'], ['embeddings.word_embeddings.weight', 'tokenEmbedding'],
    ['transformer.wpe.weight', 'positionEmbedding'], ['bert.embeddings.position_embeddings.weight', 'positionEmbedding'],
    ['embeddings.token_type_embeddings.weight', 'positionEmbedding'],
    ['model.layers.3.self_attn.k_proj.weight', 'attention'], ['h.0.attn.c_attn.bias', 'attention'], ['encoder.layer.1.attention.self.query.weight', 'attention'],
    ['encoder.layer.1.attention.output.dense.weight', 'attention'],
    ['model.layers.0.mlp.down_proj.weight', 'mlp'], ['transformer.h.1.mlp.c_fc.weight', 'mlp'], ['encoder.layer.0.intermediate.dense.weight', 'mlp'],
    ['encoder.layer.0.output.dense.bias', 'mlp'],
    ['model.layers.0.input_layernorm.weight', 'norms'], ['model.norm.weight', 'norms'], ['transformer.h.0.ln_2.bias', 'norms'], ['ln_f.weight', 'norms'],
    ['encoder.layer.0.attention.output.LayerNorm.weight', 'norms'], ['embeddings.LayerNorm.bias', 'norms'],
    ['lm_head.weight', 'lmHead'], ['bert.pooler.dense.weight', 'classifier'], ['classifier.bias', 'classifier'], ['bert.encoder.layer.0.output.dense.bias', 'mlp'],
  ];
  for (const [name, group] of cases) expect([name, paramGroup(name)]).toEqual([name, group]);
});
