/**
 * GGUF → ModelSource: the real SmolLM2 file gives the spec its README states and the tensor names the shared
 * weight planner needs; synthetic llama files check the name mapping, reversed dims, every supported dtype,
 * offsets that point at the written bytes, biases and untied heads; and models gpuformer cannot run are
 * refused with ERR_GPUFORMER_UNSUPPORTED naming the reason.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openGguf } from '../../lib/loader/gguf';
import { huggingFaceName } from '../../lib/loader/gguf-model';
import { planWeights } from '../../lib/models/weights';
import { tensorBytes, writeGguf, type MetaEntry, type TensorEntry } from './gguf-writer';

const REAL = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

let tmp: string;
beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-model-'));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe('the real SmolLM2-135M-Instruct file', () => {
  test('spec from the llama.* metadata', async () => {
    const src = await openGguf(REAL);
    expect(src.format).toBe('gguf');
    expect(src.path).toBe(REAL);
    expect(src.spec).toEqual({
      family: 'llama', architecture: 'llama', modelType: 'llama',
      vocabSize: 49152, hiddenSize: 576, numLayers: 30, numHeads: 9, numKvHeads: 3, headDim: 64,
      intermediateSize: 1536, maxPositionEmbeddings: 8192,
      norm: { kind: 'rmsnorm', eps: 1e-5 }, activation: 'silu', gatedMlp: true,
      positional: 'rope', rope: { theta: 100000, rotaryDim: 64, interleaved: true },
      tieWordEmbeddings: true, attentionBias: false, mlpBias: false, causal: true,
      bosTokenId: 1, eosTokenIds: [2], padTokenId: 2,
    });
    expect(src.generationConfig).toEqual({ bos_token_id: 1, eos_token_id: [2], pad_token_id: 2 });
    expect(src.chatTemplate).toMatch(/^\{% for message in messages %\}/);
    expect(src.tokenizer?.config).toMatchObject({ add_bos_token: false, eos_token: '<|im_end|>', bos_token: '<|im_start|>' });
  });

  test('tensors under Hugging Face names, outermost-first shapes, quantized dtypes, absolute offsets', async () => {
    const src = await openGguf(REAL);
    expect(src.tensors.size).toBe(272);
    const embed = src.tensors.get('model.embed_tokens.weight')!;
    expect(embed).toMatchObject({ dtype: 'q8_0', shape: [49152, 576], nbytes: 30081024, file: REAL });
    expect(src.tensors.get('model.layers.29.self_attn.k_proj.weight')).toMatchObject({ dtype: 'q4_1', shape: [192, 576] });
    expect(src.tensors.get('model.layers.0.mlp.down_proj.weight')).toMatchObject({ dtype: 'q4_1', shape: [576, 1536] });
    expect(src.tensors.get('model.layers.0.mlp.gate_proj.weight')).toMatchObject({ dtype: 'q4_1', shape: [1536, 576] });
    expect(src.tensors.get('model.norm.weight')).toMatchObject({ dtype: 'f32', shape: [576], offset: 98360128 });
    expect(src.tensors.has('lm_head.weight')).toBe(false);
    const total = [...src.tensors.values()].reduce((a, t) => a + t.nbytes, 0);
    expect(total).toBeLessThan(fs.statSync(REAL).size);
    expect(total).toBeGreaterThan(90e6); // ~96.6 MB of blocks: a 135M model at ~4.5 bits, not 540 MB of f32
  });

  test('the shared weight planner accepts it, keeping the quantized matrices quantized', async () => {
    const src = await openGguf(REAL);
    const plan = planWeights(src.spec, src.tensors, { float: 'keep', keepQuantized: true });
    expect(plan.prefix).toBe('model.');
    expect(plan.requests.size).toBe(272);
    expect(plan.requests.get('model.layers.3.self_attn.q_proj.weight')).toEqual({ dtype: 'keep', packable: true });
    const f32 = planWeights(src.spec, src.tensors, { float: 'f32', keepQuantized: false });
    // tied to the head: the embedding lookup reads its rows packed or not
    expect(f32.requests.get('model.embed_tokens.weight')).toEqual({ dtype: 'f32', packable: true });
  });
});

describe('synthetic llama files', () => {
  const C = 64;
  const H = 4;
  const KV = 2;
  const D = 16;
  const F = 96;
  const V = 128;
  const L = 2;

  function llamaMeta(extra: MetaEntry[] = [], arch = 'llama'): MetaEntry[] {
    return [
      { key: 'general.architecture', type: 'string', value: arch },
      { key: `${arch}.block_count`, type: 'uint32', value: L },
      { key: `${arch}.context_length`, type: 'uint64', value: 2048n },
      { key: `${arch}.embedding_length`, type: 'uint32', value: C },
      { key: `${arch}.feed_forward_length`, type: 'uint32', value: F },
      { key: `${arch}.attention.head_count`, type: 'uint32', value: H },
      { key: `${arch}.attention.head_count_kv`, type: 'uint32', value: KV },
      { key: `${arch}.attention.layer_norm_rms_epsilon`, type: 'float32', value: 1e-6 },
      { key: `${arch}.rope.freq_base`, type: 'float32', value: 500000 },
      { key: `${arch}.vocab_size`, type: 'uint32', value: V },
      ...extra,
    ];
  }

  /** A 2-layer llama using every supported type somewhere, q/k/v biases and an untied output head. */
  function llamaTensors(): TensorEntry[] {
    let seed = 1;
    const t = (name: string, dims: number[], type: string): TensorEntry =>
      ({ name, dims, type, data: tensorBytes(type, dims.reduce((a, b) => a * b, 1), seed++) });
    const out = [t('token_embd.weight', [C, V], 'Q8_0')];
    const mats = ['Q4_0', 'Q4_1', 'F16', 'BF16', 'Q8_0', 'F32'];
    for (let i = 0; i < L; i++) {
      const m = (k: number) => mats[(i + k) % mats.length];
      out.push(
        t(`blk.${i}.attn_norm.weight`, [C], 'F32'),
        t(`blk.${i}.attn_q.weight`, [C, H * D], m(0)),
        t(`blk.${i}.attn_k.weight`, [C, KV * D], m(1)),
        t(`blk.${i}.attn_v.weight`, [C, KV * D], m(2)),
        t(`blk.${i}.attn_q.bias`, [H * D], 'F32'),
        t(`blk.${i}.attn_k.bias`, [KV * D], 'F32'),
        t(`blk.${i}.attn_v.bias`, [KV * D], 'F16'),
        t(`blk.${i}.attn_output.weight`, [H * D, C], m(3)),
        t(`blk.${i}.ffn_norm.weight`, [C], 'F32'),
        t(`blk.${i}.ffn_gate.weight`, [C, F], m(4)),
        t(`blk.${i}.ffn_up.weight`, [C, F], m(5)),
        t(`blk.${i}.ffn_down.weight`, [F, C], m(0)),
      );
    }
    out.push(t('output_norm.weight', [C], 'F32'), t('output.weight', [C, V], 'F16'));
    return out;
  }

  function write(name: string, metadata: MetaEntry[], tensors: TensorEntry[]) {
    const file = path.join(tmp, name);
    return { file, written: writeGguf(file, { metadata, tensors }) };
  }

  test('names, shapes, dtypes and offsets of every tensor', async () => {
    const tensors = llamaTensors();
    const { file, written } = write('llama.gguf', llamaMeta(), tensors);
    const src = await openGguf(file);
    expect(src.tensors.size).toBe(tensors.length);
    const dtypeOf: Record<string, string> = { F32: 'f32', F16: 'f16', BF16: 'bf16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_1: 'q4_1' };
    const fd = fs.openSync(file, 'r');
    try {
      for (const t of tensors) {
        const hf = huggingFaceName(t.name)!;
        const s = src.tensors.get(hf)!;
        expect(s).toBeDefined();
        expect(s.name).toBe(hf);
        expect(s.shape).toEqual([...t.dims].reverse());
        expect(s.dtype).toBe(dtypeOf[t.type]);
        expect(s.nbytes).toBe(t.data.length);
        expect(s.offset).toBe(written.offsets.get(t.name));
        const back = Buffer.alloc(s.nbytes);
        fs.readSync(fd, back, 0, s.nbytes, s.offset);
        expect(back.equals(t.data)).toBe(true);
      }
    } finally {
      fs.closeSync(fd);
    }
    expect(src.spec).toMatchObject({
      numLayers: L, hiddenSize: C, numHeads: H, numKvHeads: KV, headDim: D, intermediateSize: F, vocabSize: V,
      maxPositionEmbeddings: 2048, norm: { kind: 'rmsnorm', eps: 1e-6 },
      rope: { theta: 500000, rotaryDim: D, interleaved: true },
      tieWordEmbeddings: false, attentionBias: true, mlpBias: false, eosTokenIds: [],
    });
    expect(src.tokenizer).toBeUndefined();
    expect(src.chatTemplate).toBeUndefined();
    // the shared planner takes it: untied head, biases, quantized matrices kept
    const plan = planWeights(src.spec, src.tensors, { float: 'keep', keepQuantized: true });
    expect(plan.requests.has('lm_head.weight')).toBe(true);
    expect(plan.requests.has('model.layers.1.self_attn.v_proj.bias')).toBe(true);
  });

  test('the name mapping', () => {
    expect(huggingFaceName('token_embd.weight')).toBe('model.embed_tokens.weight');
    expect(huggingFaceName('output_norm.weight')).toBe('model.norm.weight');
    expect(huggingFaceName('output.weight')).toBe('lm_head.weight');
    expect(huggingFaceName('blk.12.attn_norm.weight')).toBe('model.layers.12.input_layernorm.weight');
    expect(huggingFaceName('blk.0.attn_output.bias')).toBe('model.layers.0.self_attn.o_proj.bias');
    expect(huggingFaceName('blk.3.ffn_norm.weight')).toBe('model.layers.3.post_attention_layernorm.weight');
    expect(huggingFaceName('blk.3.ffn_down.weight')).toBe('model.layers.3.mlp.down_proj.weight');
    expect(huggingFaceName('blk.3.ffn_gate_exps.weight')).toBeUndefined();
    expect(huggingFaceName('rope_freqs.weight')).toBeUndefined();
  });

  test('rope scaling and head sizes from the metadata', async () => {
    const extra: MetaEntry[] = [
      { key: 'llama.rope.scaling.type', type: 'string', value: 'yarn' },
      { key: 'llama.rope.scaling.factor', type: 'float32', value: 4 },
      { key: 'llama.rope.scaling.original_context_length', type: 'uint32', value: 512 },
      { key: 'llama.rope.dimension_count', type: 'uint32', value: 8 },
      { key: 'tokenizer.ggml.eos_token_id', type: 'uint32', value: 5 },
      { key: 'tokenizer.ggml.eot_token_id', type: 'uint32', value: 7 },
    ];
    const { file } = write('yarn.gguf', llamaMeta(extra), llamaTensors());
    const src = await openGguf(file);
    expect(src.spec.rope).toEqual({ theta: 500000, rotaryDim: 8, interleaved: true,
      scaling: { type: 'yarn', factor: 4, originalMaxPositionEmbeddings: 512 } });
    expect(src.spec.eosTokenIds).toEqual([5, 7]);
    const linear = write('linear.gguf', llamaMeta([{ key: 'llama.rope.scale_linear', type: 'float32', value: 2 }]), llamaTensors());
    expect((await openGguf(linear.file)).spec.rope?.scaling).toEqual({ type: 'linear', factor: 2 });
  });

  test('a ChatML template whose EOS is <|endoftext|>: generation also stops at <|im_end|>', async () => {
    const chatml = "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + '<|im_end|>\\n' }}{% endfor %}" +
      "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
    const { file } = write('chatml.gguf', llamaMeta([
      { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
      { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: ['<|endoftext|>', '<|im_start|>', '<|im_end|>', 'a', 'b', 'ab'] },
      { key: 'tokenizer.ggml.token_type', type: { array: 'int32' }, value: [3, 3, 3, 1, 1, 1] },
      { key: 'tokenizer.ggml.merges', type: { array: 'string' }, value: ['a b'] },
      { key: 'tokenizer.ggml.eos_token_id', type: 'uint32', value: 0 },
      { key: 'tokenizer.chat_template', type: 'string', value: chatml },
    ]), llamaTensors());
    const src = await openGguf(file);
    expect(src.spec.eosTokenIds).toEqual([0, 2]);
    expect(src.generationConfig).toEqual({ eos_token_id: [0, 2] });
    expect(src.chatTemplate).toBe(chatml);
    expect(src.tokenizer?.config).toMatchObject({ eos_token: '<|endoftext|>', add_bos_token: false, eos_token_ids: [0, 2] });
  });

  const unsupported = (re: RegExp) => expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED', message: expect.stringMatching(re) });
  const bad = (re: RegExp) => expect.objectContaining({ code: 'ERR_GPUFORMER_BAD_WEIGHTS', message: expect.stringMatching(re) });

  test('other architectures are unsupported, naming them', async () => {
    const { file } = write('gemma.gguf', llamaMeta([], 'gemma'), llamaTensors());
    await expect(openGguf(file)).rejects.toEqual(unsupported(/GGUF architecture 'gemma' is not supported \(supported: llama\)/));
  });

  test('tensor types outside F32/F16/BF16/Q8_0/Q4_0/Q4_1 are unsupported, naming tensor and type', async () => {
    const tensors = llamaTensors();
    const i = tensors.findIndex((t) => t.name === 'blk.1.ffn_up.weight');
    tensors[i] = { ...tensors[i], type: 'Q5_0', data: tensorBytes('Q5_0', C * F, 9) };
    const { file } = write('q5.gguf', llamaMeta(), tensors);
    await expect(openGguf(file)).rejects.toEqual(unsupported(/tensor 'blk.1.ffn_up.weight' has ggml type Q5_0/));
  });

  test('tensors of other model kinds (experts, rope tables) are unsupported', async () => {
    const moe = write('moe.gguf', llamaMeta(), [...llamaTensors(),
      { name: 'blk.0.ffn_gate_exps.weight', dims: [C, F, 4], type: 'F16', data: tensorBytes('F16', C * F * 4, 3) }]);
    await expect(openGguf(moe.file)).rejects.toEqual(unsupported(/tensor 'blk.0.ffn_gate_exps.weight' is not part of a llama model/));
    const experts = write('experts.gguf', llamaMeta([{ key: 'llama.expert_count', type: 'uint32', value: 8 }]), llamaTensors());
    await expect(openGguf(experts.file)).rejects.toEqual(unsupported(/mixture-of-experts llama \(8 experts\)/));
    const freqs = write('freqs.gguf', llamaMeta(), [...llamaTensors(),
      { name: 'rope_freqs.weight', dims: [D / 2], type: 'F32', data: tensorBytes('F32', D / 2, 4) }]);
    await expect(openGguf(freqs.file)).rejects.toEqual(unsupported(/rope_freqs.weight/));
  });

  test('missing tensors, wrong shapes and bad metadata are bad weights', async () => {
    const missing = write('missing.gguf', llamaMeta(), llamaTensors().filter((t) => t.name !== 'blk.1.ffn_down.weight'));
    await expect(openGguf(missing.file)).rejects.toEqual(bad(/tensor 'blk.1.ffn_down.weight' is missing/));

    const tensors = llamaTensors();
    const i = tensors.findIndex((t) => t.name === 'blk.0.attn_k.weight');
    tensors[i] = { ...tensors[i], dims: [C, H * D], type: 'F32', data: tensorBytes('F32', C * H * D, 5) };
    const shape = write('shape.gguf', llamaMeta(), tensors);
    await expect(openGguf(shape.file)).rejects.toEqual(bad(/tensor 'blk.0.attn_k.weight' has shape \[64, 64\], expected \[32, 64\]/));

    const noLayers = write('nolayers.gguf', llamaMeta().filter((m) => m.key !== 'llama.block_count'), llamaTensors());
    await expect(openGguf(noLayers.file)).rejects.toEqual(bad(/metadata 'llama.block_count' is missing/));

    const wrongType = write('wrongtype.gguf', llamaMeta().map((m) => m.key === 'llama.embedding_length'
      ? { ...m, type: 'string' as const, value: '64' } : m), llamaTensors());
    await expect(openGguf(wrongType.file)).rejects.toEqual(bad(/'llama.embedding_length' should be a non-negative integer, found string 64/));

    const heads = write('heads.gguf', llamaMeta().map((m) => m.key === 'llama.attention.head_count_kv' ? { ...m, value: 3 } : m), llamaTensors());
    await expect(openGguf(heads.file)).rejects.toEqual(bad(/4 attention heads cannot be shared by 3 KV heads/));

    const extraLayer = write('extra.gguf', llamaMeta(), [...llamaTensors(),
      { name: 'blk.2.attn_norm.weight', dims: [C], type: 'F32', data: tensorBytes('F32', C, 6) }]);
    await expect(openGguf(extraLayer.file)).rejects.toEqual(bad(/tensor for layer 2 but llama.block_count is 2/));
  });

  test('tokenizer models other than gpt2 and llama are refused; a llama vocabulary needs its scores', async () => {
    const tokenizer = (model: string): MetaEntry[] => [
      { key: 'tokenizer.ggml.model', type: 'string', value: model },
      { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: ['<unk>', '<s>', '</s>'] },
    ];
    const bert = write('wordpiece.gguf', llamaMeta(tokenizer('bert')), llamaTensors());
    await expect(openGguf(bert.file)).rejects.toEqual(unsupported(/GGUF tokenizer model 'bert' is not supported/));
    const spm = write('spm-noscores.gguf', llamaMeta(tokenizer('llama')), llamaTensors());
    await expect(openGguf(spm.file)).rejects.toEqual(bad(/a llama tokenizer needs tokenizer.ggml.scores, one per token \(found 0 for 3 tokens\)/));
  });
});
