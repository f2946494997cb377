/**
 * config.json → ModelSpec: every fixture and real model (values written out by hand from their configs),
 * both RoPE config forms, the family-specific fields, and the refusals.
 */
import * as fs from 'fs';
import * as path from 'path';
import { HfConfig, readConfig, specFromConfig } from '../../lib/loader/config';
import { MODELS, expectCoded, fixture, readJson, removeTempDirs, tempDir } from './helpers';

afterAll(removeTempDirs);

const configOf = (dir: string) => readJson(path.join(dir, 'config.json')) as HfConfig;

describe('fixture and real-model configs', () => {
  it('bert: post-LN encoder with learned positions and token types', () => {
    const s = specFromConfig(configOf(fixture('bert')));
    expect(s).toMatchObject({
      family: 'bert', architecture: 'bert', vocabSize: 1000, hiddenSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 4,
      headDim: 32, intermediateSize: 512, maxPositionEmbeddings: 128, norm: { kind: 'layernorm', eps: 1e-12 },
      activation: 'gelu', gatedMlp: false, positional: 'learned', typeVocabSize: 2, attentionBias: true, mlpBias: true,
      causal: false, eosTokenIds: [], padTokenId: 0,
    });
    expect(s.rope).toBeUndefined();
  });

  it('all-MiniLM-L6-v2: BertModel', () => {
    const s = specFromConfig(configOf(path.join(MODELS, 'all-MiniLM-L6-v2')));
    expect(s).toMatchObject({ family: 'bert', architecture: 'BertModel', vocabSize: 30522, hiddenSize: 384, numLayers: 6,
      numHeads: 12, headDim: 32, intermediateSize: 1536, maxPositionEmbeddings: 512, typeVocabSize: 2 });
  });

  it('gpt2: n_embd / n_head / n_layer / n_positions, gelu_new is the tanh GELU, tied head', () => {
    const s = specFromConfig(configOf(fixture('gpt2')));
    expect(s).toMatchObject({
      family: 'gpt2', vocabSize: 1000, hiddenSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 4, headDim: 32,
      intermediateSize: 512, maxPositionEmbeddings: 128, norm: { kind: 'layernorm', eps: 1e-5 }, activation: 'gelu_tanh',
      positional: 'learned', tieWordEmbeddings: true, attentionBias: true, mlpBias: true, causal: true,
      bosTokenId: 0, eosTokenIds: [0],
    });
  });

  it('llama-gqa: the newer rope_parameters form, explicit head_dim, GQA, untied', () => {
    const s = specFromConfig(configOf(fixture('llama-gqa')));
    expect(s).toMatchObject({
      family: 'llama', vocabSize: 1000, hiddenSize: 256, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 64,
      intermediateSize: 688, maxPositionEmbeddings: 256, norm: { kind: 'rmsnorm', eps: 1e-5 }, activation: 'silu',
      gatedMlp: true, positional: 'rope', tieWordEmbeddings: false, attentionBias: false, mlpBias: false, causal: true,
      bosTokenId: 1, eosTokenIds: [2],
    });
    expect(s.rope).toEqual({ theta: 10000, rotaryDim: 64, interleaved: false });
  });

  it('qwen2-bias-bf16: q/k/v bias, theta 1e6, sliding_window ignored without use_sliding_window', () => {
    const s = specFromConfig(configOf(fixture('qwen2-bias-bf16')));
    expect(s).toMatchObject({ family: 'llama', modelType: 'qwen2', numKvHeads: 1, headDim: 64, attentionBias: true,
      tieWordEmbeddings: true, norm: { kind: 'rmsnorm', eps: 1e-6 } });
    expect(s.rope).toEqual({ theta: 1e6, rotaryDim: 64, interleaved: false });
    expect(s.slidingWindow).toBeUndefined();
  });

  it('llama3-rope-scaled-sharded: rope_theta + rope_scaling llama3', () => {
    const s = specFromConfig(configOf(fixture('llama3-rope-scaled-sharded')));
    expect(s).toMatchObject({ numHeads: 2, numKvHeads: 1, headDim: 128, numLayers: 3, maxPositionEmbeddings: 512, tieWordEmbeddings: true });
    expect(s.rope).toEqual({
      theta: 500000, rotaryDim: 128, interleaved: false,
      scaling: { type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 64 },
    });
  });

  it('llama2c-260K: head_dim from hidden / heads, torch_dtype', () => {
    const s = specFromConfig(configOf(path.join(MODELS, 'llama2c-260K')));
    expect(s).toMatchObject({ architecture: 'LlamaForCausalLM', hiddenSize: 64, numHeads: 8, numKvHeads: 4, headDim: 8,
      intermediateSize: 172, numLayers: 5, vocabSize: 512, tieWordEmbeddings: true, checkpointDtype: 'float32' });
  });
});

describe('fields of the wild', () => {
  const llama = (extra: HfConfig): HfConfig => ({
    architectures: ['LlamaForCausalLM'], model_type: 'llama', vocab_size: 128256, hidden_size: 4096, num_hidden_layers: 32,
    num_attention_heads: 32, num_key_value_heads: 8, intermediate_size: 14336, max_position_embeddings: 131072,
    rms_norm_eps: 1e-5, ...extra,
  });

  it('Llama 3.1: rope_scaling with rope_type llama3, a list of EOS ids, bfloat16', () => {
    const s = specFromConfig(llama({
      rope_theta: 500000.0, torch_dtype: 'bfloat16', bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
      rope_scaling: { factor: 8.0, low_freq_factor: 1.0, high_freq_factor: 4.0, original_max_position_embeddings: 8192, rope_type: 'llama3' },
    }));
    expect(s.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(s.checkpointDtype).toBe('bfloat16');
    expect(s.headDim).toBe(128);
    expect(s.rope!.scaling).toEqual({ type: 'llama3', factor: 8, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositionEmbeddings: 8192 });
  });

  it('the same scaling in the rope_parameters form gives the same spec', () => {
    const a = specFromConfig(llama({ rope_theta: 500000, rope_scaling: { type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }));
    const b = specFromConfig(llama({ rope_parameters: { rope_theta: 500000, rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 } }));
    expect(b).toEqual(a);
  });

  it('linear scaling under the old "type" key; the transformers 5 "dtype" key', () => {
    const s = specFromConfig(llama({ rope_scaling: { type: 'linear', factor: 4 }, dtype: 'float16' }));
    expect(s.rope).toEqual({ theta: 10000, rotaryDim: 128, interleaved: false, scaling: { type: 'linear', factor: 4 } });
    expect(s.checkpointDtype).toBe('float16');
  });

  it('num_key_value_heads defaults to the head count; attention_bias and mlp_bias are read', () => {
    const s = specFromConfig(llama({ num_key_value_heads: undefined, attention_bias: true, mlp_bias: true }));
    expect(s.numKvHeads).toBe(32);
    expect(s.attentionBias).toBe(true);
    expect(s.mlpBias).toBe(true);
  });

  it('Mistral: sliding_window applies', () => {
    const s = specFromConfig({ ...llama({}), architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: 4096 });
    expect(s.family).toBe('llama');
    expect(s.slidingWindow).toBe(4096);
    expect(specFromConfig({ ...llama({}), architectures: ['MistralForCausalLM'], model_type: 'mistral', sliding_window: null }).slidingWindow).toBeUndefined();
  });

  it('Qwen2 with use_sliding_window', () => {
    const s = specFromConfig({ ...llama({}), architectures: ['Qwen2ForCausalLM'], model_type: 'qwen2', sliding_window: 32768, use_sliding_window: true });
    expect(s.slidingWindow).toBe(32768);
    expect(s.attentionBias).toBe(true);
  });

  it('GPT-2: n_inner null means 4 × n_embd; BERT task heads are the BERT family', () => {
    const g = specFromConfig({ architectures: ['GPT2LMHeadModel'], vocab_size: 50257, n_embd: 768, n_head: 12, n_layer: 12, n_positions: 1024, n_inner: null });
    expect(g.intermediateSize).toBe(3072);
    expect(g.activation).toBe('gelu_tanh');
    const b = specFromConfig({ architectures: ['BertForMaskedLM'], vocab_size: 30522, hidden_size: 768, num_hidden_layers: 12,
      num_attention_heads: 12, intermediate_size: 3072, max_position_embeddings: 512 });
    expect(b).toMatchObject({ family: 'bert', typeVocabSize: 2, norm: { kind: 'layernorm', eps: 1e-12 } });
  });
});

describe('refusals', () => {
  it('an unknown architecture names itself and what is supported', async () => {
    await expectCoded(() => specFromConfig({ architectures: ['MambaForCausalLM'], model_type: 'mamba' }), 'ERR_GPUFORMER_UNSUPPORTED',
      /'MambaForCausalLM'/, /'mamba'/, /LlamaForCausalLM/);
    await expectCoded(() => specFromConfig({ model_type: 'roberta' }), 'ERR_GPUFORMER_UNSUPPORTED', /'roberta'/);
    await expectCoded(() => specFromConfig({}), 'ERR_GPUFORMER_UNSUPPORTED', /neither architectures nor model_type/);
  });

  it('a known model type under an unknown head is refused', async () => {
    await expectCoded(() => specFromConfig({ architectures: ['LlamaForSequenceClassification'], model_type: 'llama' }),
      'ERR_GPUFORMER_UNSUPPORTED', /LlamaForSequenceClassification/);
  });

  it('variants gpuformer would compute wrongly', async () => {
    const base = { architectures: ['LlamaForCausalLM'], vocab_size: 10, hidden_size: 64, num_hidden_layers: 1, num_attention_heads: 4,
      intermediate_size: 128, max_position_embeddings: 64 };
    await expectCoded(() => specFromConfig({ ...base, hidden_act: 'gelu' }), 'ERR_GPUFORMER_UNSUPPORTED', /hidden_act 'gelu'/);
    await expectCoded(() => specFromConfig({ ...base, rope_scaling: { rope_type: 'longrope', factor: 4 } }), 'ERR_GPUFORMER_UNSUPPORTED', /longrope/);
    await expectCoded(() => specFromConfig({ ...base, rope_scaling: { rope_type: 'linear' } }), 'ERR_GPUFORMER_BAD_WEIGHTS', /factor/);
    await expectCoded(() => specFromConfig({ ...base, num_key_value_heads: 3 }), 'ERR_GPUFORMER_BAD_WEIGHTS', /4 attention heads/, /3 key\/value/);
    await expectCoded(() => specFromConfig({ ...base, hidden_size: 65 }), 'ERR_GPUFORMER_BAD_WEIGHTS', /65/, /4 attention heads/);
    await expectCoded(() => specFromConfig({ architectures: ['BertModel'], vocab_size: 10, hidden_size: 64, num_hidden_layers: 1,
      num_attention_heads: 4, intermediate_size: 128, max_position_embeddings: 64, position_embedding_type: 'relative_key' }),
    'ERR_GPUFORMER_UNSUPPORTED', /relative_key/);
    await expectCoded(() => specFromConfig({ architectures: ['GPT2LMHeadModel'], vocab_size: 10, n_embd: 64, n_head: 4, n_layer: 1,
      n_positions: 64, activation_function: 'relu' }), 'ERR_GPUFORMER_UNSUPPORTED', /'relu'/);
  });

  it('a missing or mistyped field names the field and the file', async () => {
    await expectCoded(() => specFromConfig({ architectures: ['LlamaForCausalLM'], hidden_size: 64 }, '/m/config.json'),
      'ERR_GPUFORMER_BAD_WEIGHTS', /\/m\/config\.json/, /'num_attention_heads' is missing/);
    await expectCoded(() => specFromConfig({ architectures: ['GPT2LMHeadModel'], vocab_size: '50257', n_embd: 64, n_head: 4, n_layer: 1, n_positions: 8 }),
      'ERR_GPUFORMER_BAD_WEIGHTS', /'vocab_size'/, /"50257"/);
    await expectCoded(() => specFromConfig({ architectures: ['GPT2LMHeadModel'], vocab_size: 5, n_embd: 64, n_head: 4, n_layer: 1, n_positions: 8, eos_token_id: 'x' }),
      'ERR_GPUFORMER_BAD_WEIGHTS', /'eos_token_id'/);
  });

  it('config.json missing or malformed', async () => {
    const dir = tempDir('gf-config');
    await expectCoded(readConfig(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /no config\.json/);
    fs.writeFileSync(path.join(dir, 'config.json'), '{"architectures": ["BertModel"],');
    await expectCoded(readConfig(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /config\.json is not valid JSON/);
    fs.writeFileSync(path.join(dir, 'config.json'), '[]');
    await expectCoded(readConfig(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /JSON object/);
    fs.rmSync(dir, { recursive: true });
  });
});
