/**
 * Quantizing a float checkpoint while loading (dtype 'q8_0' | 'q4_0' | 'q4_1'): which tensors are quantized
 * and into what (the layers' matrices in the asked type, the LM head and a tied embedding in Q8_0, the rest
 * float; rows that are not whole blocks stay float), that the planner counts the blocks' bytes before anything
 * is allocated, that the loaded blocks are the very bytes the project's GGUF writer stores for the same tensor
 * (read back through the GGUF reader: so a safetensors model quantized at load and its GGUF file of that type
 * run the same kernels on the same bytes, and decode the same ids), and the coded refusals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { convertHfToGguf, ropePermuteRows } from '../../bench/peers/hf-to-gguf';
import type { QuantizedDType } from '../../lib/core/dtype';
import { dtypeNbytes } from '../../lib/core/dtype';
import { Engine } from '../../lib/engine/engine';
import { loadModel } from '../../lib/engine/load';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { loadWeights } from '../../lib/loader/weights';
import type { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { Tensor, native } from '../../lib/native';
import { TestBlocks } from '../models/golden';
import { GGUF_FILE, MODELS, expectCoded, fixture, fixtureCopy, removeTempDirs, tempDir } from './helpers';
import { greedy } from '../helpers/sampling';

afterAll(removeTempDirs);

const TYPES: QuantizedDType[] = ['q8_0', 'q4_0', 'q4_1'];

async function loaded(dir: string, dtype: QuantizedDType | 'auto'): Promise<Map<string, Tensor>> {
  const source = await openModel(dir);
  const plan = planForSource(source, { device: 'cpu', dtype, maxModelLen: 64 });
  return loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' });
}

const disposeAll = (m: Map<string, Tensor>) => { for (const t of m.values()) t.dispose(); };

describe('which tensors are quantized, and into what', () => {
  test.each(TYPES)('llama-gqa (untied head) in %s', async (dtype) => {
    const source = await openModel(fixture('llama-gqa'));
    const plan = planForSource(source, { device: 'cpu', dtype, maxModelLen: 64 });
    const types = new Map(plan.weights.map((w) => [w.name, w.dtype]));
    expect(types.get('model.layers.0.self_attn.q_proj.weight')).toBe(dtype);
    expect(types.get('model.layers.1.mlp.gate_proj.weight')).toBe(dtype);
    expect(types.get('model.layers.1.mlp.down_proj.weight')).toBe('f32'); // [256, 688]: 688 is not whole blocks
    expect(types.get('lm_head.weight')).toBe('q8_0'); // llama.cpp's finer head (its Q6_K) is Q8_0 here
    expect(types.get('model.embed_tokens.weight')).toBe('f32'); // an untied embedding stays float
    expect(types.get('model.layers.0.input_layernorm.weight')).toBe('f32');
    // the planner counts the blocks before anything is allocated
    for (const w of plan.weights) expect(w.bytes).toBe(dtypeNbytes(w.dtype, w.numel));
    expect(plan.memory.dtypes.weights).toMatch(new RegExp(`${dtype}.*f32|f32.*${dtype}`));
  });

  it('a tied embedding is the head: Q8_0 (llama.cpp quantizes the shared token_embd with the output type)', async () => {
    const source = await openModel(fixture('qwen2-bias-bf16'));
    const plan = planForSource(source, { device: 'cpu', dtype: 'q4_0', maxModelLen: 64 });
    const types = new Map(plan.weights.map((w) => [w.name, w.dtype]));
    expect(types.get('model.embed_tokens.weight')).toBe('q8_0');
    expect(types.get('model.layers.0.self_attn.q_proj.bias')).toBe('bf16'); // biases stay as stored on the CPU
    expect(types.get('model.layers.0.self_attn.v_proj.weight')).toBe('q4_0');
  });

  it('GPT-2\'s Conv1D matrices are quantized after the transpose; BERT keeps its embeddings float', async () => {
    const gpt2 = planForSource(await openModel(fixture('gpt2')), { device: 'cpu', dtype: 'q4_1', maxModelLen: 64 });
    const g = new Map(gpt2.weights.map((w) => [w.name, w.dtype]));
    expect(g.get('transformer.h.0.attn.c_attn.weight')).toBe('q4_1');
    expect(g.get('transformer.wte.weight')).toBe('q8_0'); // tied to the head
    expect(g.get('transformer.wpe.weight')).toBe('f32');
    const bert = planForSource(await openModel(fixture('bert')), { device: 'cpu', dtype: 'q8_0' });
    const b = new Map(bert.weights.map((w) => [w.name, w.dtype]));
    expect(b.get('encoder.layer.0.attention.self.query.weight')).toBe('q8_0');
    expect(b.get('embeddings.word_embeddings.weight')).toBe('f32');
  });

  it('rows that are not whole 32-element blocks stay float (llama2.c stories260K: MLP of 172)', async () => {
    const plan = planForSource(await openModel(path.join(MODELS, 'llama2c-260K')), { device: 'cpu', dtype: 'q4_0' });
    const types = new Map(plan.weights.map((w) => [w.name, w.dtype]));
    expect(types.get('model.layers.0.mlp.down_proj.weight')).toBe('f32'); // [64, 172]
    expect(types.get('model.layers.0.mlp.up_proj.weight')).toBe('q4_0'); // [172, 64]
  });

  it('Engine.plan() and memory() count the blocks: planned before loading, allocated exactly', async () => {
    const dir = fixture('llama-gqa');
    const planned = planForSource(await openModel(dir), { device: 'cpu', dtype: 'q4_0', maxModelLen: 64 }).memory;
    const f32 = planForSource(await openModel(dir), { device: 'cpu', dtype: 'float32', maxModelLen: 64 }).memory;
    expect(planned.params.bytes).toBeLessThan(f32.params.bytes / 2); // its untied embedding and 688-wide down_proj stay f32
    const engine = await Engine.load(dir, { device: 'cpu', dtype: 'q4_0', maxModelLen: 64 });
    try {
      expect(engine.plan().params.bytes).toBe(planned.params.bytes);
      expect(engine.memory().weightsBytes).toBe(planned.params.bytes);
    } finally {
      await engine.dispose();
    }
  });

  it('the loaded tensors hold exactly the planned bytes', async () => {
    const source = await openModel(fixture('llama-gqa'));
    const plan = planForSource(source, { device: 'cpu', dtype: 'q4_1', maxModelLen: 64 });
    const w = await loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' });
    try {
      for (const e of plan.weights) {
        expect(w.get(e.name)!.dtype).toBe(e.dtype);
        expect(w.get(e.name)!.nbytes).toBe(e.bytes);
      }
    } finally {
      disposeAll(w);
    }
  });
});

describe('the same bytes as the GGUF writer\'s file of that type', () => {
  test.each(TYPES)('llama-gqa in %s: every tensor byte for byte (q/k as llama.cpp permutes their rows), and the same greedy ids', async (dtype) => {
    const dir = fixture('llama-gqa');
    const file = path.join(tempDir('gf-quantize'), `llama-gqa-${dtype}.gguf`);
    await convertHfToGguf(dir, file, dtype.toUpperCase() as 'Q8_0' | 'Q4_0' | 'Q4_1');
    const atLoad = await loaded(dir, dtype);
    const fromFile = await loaded(file, 'auto');
    try {
      expect([...fromFile.keys()].sort()).toEqual([...atLoad.keys()].sort());
      const spec = (await openModel(dir)).spec;
      for (const [name, t] of atLoad) {
        const g = fromFile.get(name)!;
        expect([name, g.dtype, g.shape]).toEqual([name, t.dtype, t.shape]);
        let bytes: Uint8Array = new Uint8Array(t.read());
        const heads = /q_proj/.test(name) ? spec.numHeads : /k_proj/.test(name) ? spec.numKvHeads : 0;
        if (heads) bytes = ropePermuteRows(bytes, heads, t.shape[0], bytes.length / t.shape[0]);
        const other = new Uint8Array(g.read());
        const at = other.findIndex((b, i) => b !== bytes[i]);
        if (at >= 0) throw new Error(`${name} (${t.dtype}): byte ${at} differs from the GGUF file's`);
      }
    } finally {
      disposeAll(atLoad);
      disposeAll(fromFile);
    }
    // decoding: the same kernels on the same blocks (the GGUF's interleaved RoPE on its permuted rows)
    const ids = async (p: string, d: QuantizedDType | 'auto') => {
      const { runner } = await loadModel(p, { device: 'cpu', dtype: d, maxModelLen: 64, maxNumSeqs: 1, maxNumBatchedTokens: 64 });
      const r = runner as ModelDecoderRunner;
      try {
        const table = new TestBlocks(16, r.numBlocks).take(40);
        const out: number[] = [];
        for (let s = 0; s < 12; s++) {
          const sample = greedy(s);
          const res = await r.step([s === 0 ? { tokens: [1, 17, 230, 99], start: 0, blockTable: table, sample }
            : { tokens: [out[s - 1]], start: 3 + s, blockTable: table, sample }]);
          out.push(res.tokens[0]);
        }
        return out;
      } finally {
        r.dispose();
      }
    };
    expect(await ids(file, 'auto')).toEqual(await ids(dir, dtype));
  });
});

describe('refusals', () => {
  it('a GGUF file that is already quantized is not quantized again', async () => {
    const source = await openModel(GGUF_FILE);
    expectCoded(() => planForSource(source, { device: 'cpu', dtype: 'q4_0' }), 'ERR_GPUFORMER_UNSUPPORTED',
      /is already q[48]_[01]: dtype 'q4_0' quantizes float weights while loading; 'auto' keeps the file's blocks/);
  });

  it('a value blocks cannot hold is ERR_GPUFORMER_BAD_WEIGHTS naming the tensor, and nothing stays allocated', async () => {
    const dir = fixture('llama-gqa');
    const k = (await openModel(dir)).tensors.get('model.layers.1.self_attn.k_proj.weight')!;
    const bytes = fs.readFileSync(path.join(dir, 'model.safetensors'));
    bytes.writeFloatLE(Infinity, k.offset + 4 * 100); // f32 element 100
    const before = native.memoryTotals('cpu').weights;
    await expectCoded(loadModel(fixtureCopy(dir, { 'model.safetensors': bytes }), { device: 'cpu', dtype: 'q8_0', maxModelLen: 64 }),
      'ERR_GPUFORMER_BAD_WEIGHTS', "weight 'model.layers.1.self_attn.k_proj.weight' (f32 → q8_0): cannot quantize to q8_0: a value is inf");
    expect(native.memoryTotals('cpu').weights).toBe(before);
  });

  it('an unknown dtype names the choices', async () => {
    await expect(loadModel(fixture('llama-gqa'), { dtype: 'q5_k' as never })).rejects.toMatchObject({
      code: 'ERR_GPUFORMER_INPUT', message: expect.stringContaining("'q8_0', 'q4_0' or 'q4_1'"),
    });
  });
});
