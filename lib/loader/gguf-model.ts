/**
 * GGUF metadata and tensor infos → the ModelSpec and Hugging Face-named TensorSources that the safetensors
 * path produces, so the planner, weight loader and forward passes are shared. Only the llama architecture is
 * supported; its q/k projection rows stay in the file's order, which pairs adjacent dimensions for RoPE, so
 * the spec says rope.interleaved.
 */
import { badWeights, unsupported } from '../errors';
import type { DType } from '../native';
import type { ModelSpec, RopeScaling } from '../core/spec';
import type { TensorSource } from '../core/source';
import { ggufEosIds, GgufMeta } from './gguf-metadata';
import type { GgufFile, GgufTensorInfo } from './gguf-reader';

const DTYPES: Record<string, DType> = {
  F32: 'f32', F16: 'f16', BF16: 'bf16', Q8_0: 'q8_0', Q4_0: 'q4_0', Q4_1: 'q4_1',
};

/** GGUF per-layer tensor names (after 'blk.N.') → Hugging Face names (after 'model.layers.N.'). */
const LAYER_NAMES: Record<string, string> = {
  attn_norm: 'input_layernorm',
  attn_q: 'self_attn.q_proj',
  attn_k: 'self_attn.k_proj',
  attn_v: 'self_attn.v_proj',
  attn_output: 'self_attn.o_proj',
  ffn_norm: 'post_attention_layernorm',
  ffn_gate: 'mlp.gate_proj',
  ffn_up: 'mlp.up_proj',
  ffn_down: 'mlp.down_proj',
};

const GLOBAL_NAMES: Record<string, string> = {
  token_embd: 'model.embed_tokens',
  output_norm: 'model.norm',
  output: 'lm_head',
};

/**
 * The Hugging Face name of a llama GGUF tensor, or undefined when gpuformer has no use for it (an unknown
 * tensor makes the model unsupported: silently ignoring a weight would compute something else).
 */
export function huggingFaceName(ggufName: string): string | undefined {
  const layer = /^blk\.(\d+)\.([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (layer) {
    const hf = LAYER_NAMES[layer[2]];
    return hf && `model.layers.${Number(layer[1])}.${hf}.${layer[3]}`;
  }
  const global = /^([a-z_]+)\.(weight|bias)$/.exec(ggufName);
  if (global) {
    const hf = GLOBAL_NAMES[global[1]];
    return hf && `${hf}.${global[2]}`;
  }
  return undefined;
}

export interface GgufModel {
  spec: ModelSpec;
  /** by Hugging Face name */
  tensors: Map<string, TensorSource>;
}

/** The ModelSpec and tensor sources of a parsed GGUF file; refuses architectures and types it cannot run. */
export function ggufModel(file: GgufFile): GgufModel {
  const meta = new GgufMeta(file);
  const arch = meta.string('general.architecture');
  if (arch === undefined) throw badWeights(`${file.path}: metadata 'general.architecture' is missing`);
  if (arch !== 'llama') {
    throw unsupported(`${file.path}: GGUF architecture '${arch}' is not supported (supported: llama)`);
  }
  const tensors = mapTensors(file);
  const spec = llamaSpec(file, meta, tensors);
  checkShapes(file, spec, tensors);
  return { spec, tensors };
}

function mapTensors(file: GgufFile): Map<string, TensorSource> {
  const out = new Map<string, TensorSource>();
  for (const t of file.tensors) {
    if (t.name === 'rope_freqs.weight') {
      throw unsupported(`${file.path}: tensor 'rope_freqs.weight' (a per-frequency RoPE scaling table, as in ` +
        'Llama 3.1 conversions) is not supported');
    }
    const name = huggingFaceName(t.name);
    if (name === undefined) throw unsupported(`${file.path}: tensor '${t.name}' is not part of a llama model gpuformer can run`);
    out.set(name, tensorSource(file, t, name));
  }
  return out;
}

function tensorSource(file: GgufFile, t: GgufTensorInfo, name: string): TensorSource {
  const dtype = DTYPES[t.type.name];
  if (!dtype) {
    throw unsupported(`${file.path}: tensor '${t.name}' has ggml type ${t.type.name} ` +
      `(supported: ${Object.keys(DTYPES).join(', ')})`);
  }
  // ggml lists the innermost dimension first; shapes here are outermost first
  return { name, file: file.path, offset: t.fileOffset, dtype, shape: [...t.dims].reverse(), nbytes: t.nbytes };
}

function llamaSpec(file: GgufFile, meta: GgufMeta, tensors: Map<string, TensorSource>): ModelSpec {
  const k = (s: string) => `llama.${s}`;
  const experts = meta.uint(k('expert_count')) ?? 0;
  if (experts > 0) throw unsupported(`${file.path}: mixture-of-experts llama (${experts} experts) is not supported`);

  const hiddenSize = meta.requiredUint(k('embedding_length'));
  const numHeads = meta.requiredUint(k('attention.head_count'));
  const numKvHeads = meta.uint(k('attention.head_count_kv')) ?? numHeads;
  if (numKvHeads < 1 || numHeads % numKvHeads !== 0) {
    throw badWeights(`${file.path}: ${numHeads} attention heads cannot be shared by ${numKvHeads} KV heads`);
  }
  const headDim = meta.uint(k('attention.key_length')) ?? hiddenSize / numHeads;
  const valueDim = meta.uint(k('attention.value_length')) ?? headDim;
  if (!Number.isInteger(headDim) || headDim < 1) {
    throw badWeights(`${file.path}: embedding_length ${hiddenSize} is not a multiple of head_count ${numHeads}`);
  }
  if (valueDim !== headDim) {
    throw unsupported(`${file.path}: key length ${headDim} ≠ value length ${valueDim} is not supported`);
  }
  const rotaryDim = meta.uint(k('rope.dimension_count')) ?? headDim;
  if (rotaryDim < 2 || rotaryDim % 2 !== 0 || rotaryDim > headDim) {
    throw badWeights(`${file.path}: rope.dimension_count ${rotaryDim} must be even and at most the head size ${headDim}`);
  }
  const eps = meta.float(k('attention.layer_norm_rms_epsilon'));
  if (eps === undefined || eps <= 0) throw badWeights(`${file.path}: llama.attention.layer_norm_rms_epsilon is missing or not positive`);

  const tokens = meta.raw('tokenizer.ggml.tokens');
  const vocabSize = meta.uint(k('vocab_size')) ?? (Array.isArray(tokens) ? tokens.length : undefined) ??
    tensors.get('model.embed_tokens.weight')?.shape[0];
  if (vocabSize === undefined) throw badWeights(`${file.path}: no llama.vocab_size, token list or token_embd.weight gives the vocabulary size`);

  const eosTokenIds = ggufEosIds(meta);
  const bosTokenId = meta.uint('tokenizer.ggml.bos_token_id');
  const padTokenId = meta.uint('tokenizer.ggml.padding_token_id');
  const scaling = ropeScaling(file, meta);
  return {
    family: 'llama',
    architecture: 'llama',
    modelType: 'llama',
    vocabSize,
    hiddenSize,
    numLayers: meta.requiredUint(k('block_count')),
    numHeads,
    numKvHeads,
    headDim,
    intermediateSize: meta.requiredUint(k('feed_forward_length')),
    maxPositionEmbeddings: meta.requiredUint(k('context_length')),
    norm: { kind: 'rmsnorm', eps },
    activation: 'silu',
    gatedMlp: true,
    positional: 'rope',
    rope: {
      theta: meta.float(k('rope.freq_base')) ?? 10000,
      rotaryDim,
      interleaved: true,
      ...(scaling ? { scaling } : {}),
    },
    tieWordEmbeddings: !tensors.has('lm_head.weight'),
    attentionBias: tensors.has('model.layers.0.self_attn.q_proj.bias'),
    mlpBias: tensors.has('model.layers.0.mlp.down_proj.bias'),
    causal: true,
    ...(bosTokenId !== undefined ? { bosTokenId } : {}),
    eosTokenIds,
    ...(padTokenId !== undefined ? { padTokenId } : {}),
    ...checkpointDtype(tensors),
  };
}

function ropeScaling(file: GgufFile, meta: GgufMeta): RopeScaling | undefined {
  const type = meta.string('llama.rope.scaling.type');
  const factor = meta.float('llama.rope.scaling.factor') ?? meta.float('llama.rope.scale_linear');
  const original = meta.uint('llama.rope.scaling.original_context_length');
  if (type === undefined) {
    // older files have only rope.scale_linear
    return factor !== undefined && factor !== 1 ? { type: 'linear', factor } : undefined;
  }
  if (type === 'none') return undefined;
  if (type !== 'linear' && type !== 'yarn') {
    throw unsupported(`${file.path}: RoPE scaling type '${type}' is not supported (supported: none, linear, yarn)`);
  }
  if (factor === undefined || factor <= 0) throw badWeights(`${file.path}: RoPE scaling '${type}' without a positive factor`);
  return { type, factor, ...(original !== undefined ? { originalMaxPositionEmbeddings: original } : {}) };
}

/** The float dtype of the file's float matrices when they agree (what the precision policy follows). */
function checkpointDtype(tensors: Map<string, TensorSource>): { checkpointDtype?: string } {
  const names: Partial<Record<DType, string>> = { f32: 'float32', f16: 'float16', bf16: 'bfloat16' };
  const found = new Set<string>();
  for (const t of tensors.values()) if (t.shape.length >= 2 && names[t.dtype]) found.add(names[t.dtype]!);
  return found.size === 1 ? { checkpointDtype: [...found][0] } : {};
}

/** Every tensor a llama layer needs, with the shape the spec implies (names in the message are GGUF's). */
function checkShapes(file: GgufFile, spec: ModelSpec, tensors: Map<string, TensorSource>): void {
  const C = spec.hiddenSize;
  const q = spec.numHeads * spec.headDim;
  const kv = spec.numKvHeads * spec.headDim;
  const F = spec.intermediateSize;
  const expect = (hf: string, gguf: string, shape: number[], required = true) => {
    const t = tensors.get(hf);
    if (!t) {
      if (required) throw badWeights(`${file.path}: tensor '${gguf}' is missing`);
      return;
    }
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw badWeights(`${file.path}: tensor '${gguf}' has shape [${t.shape.join(', ')}], expected [${shape.join(', ')}] ` +
        `from the metadata`);
    }
  };
  expect('model.embed_tokens.weight', 'token_embd.weight', [spec.vocabSize, C]);
  expect('model.norm.weight', 'output_norm.weight', [C]);
  expect('lm_head.weight', 'output.weight', [spec.vocabSize, C], false);
  for (let i = 0; i < spec.numLayers; i++) {
    const l = (g: string, hf: string, shape: number[], required = true) =>
      expect(`model.layers.${i}.${hf}`, `blk.${i}.${g}`, shape, required);
    l('attn_norm.weight', 'input_layernorm.weight', [C]);
    l('attn_q.weight', 'self_attn.q_proj.weight', [q, C]);
    l('attn_k.weight', 'self_attn.k_proj.weight', [kv, C]);
    l('attn_v.weight', 'self_attn.v_proj.weight', [kv, C]);
    l('attn_output.weight', 'self_attn.o_proj.weight', [C, q]);
    l('ffn_norm.weight', 'post_attention_layernorm.weight', [C]);
    l('ffn_gate.weight', 'mlp.gate_proj.weight', [F, C]);
    l('ffn_up.weight', 'mlp.up_proj.weight', [F, C]);
    l('ffn_down.weight', 'mlp.down_proj.weight', [C, F]);
    l('attn_q.bias', 'self_attn.q_proj.bias', [q], spec.attentionBias);
    l('attn_k.bias', 'self_attn.k_proj.bias', [kv], spec.attentionBias);
    l('attn_v.bias', 'self_attn.v_proj.bias', [kv], spec.attentionBias);
    l('attn_output.bias', 'self_attn.o_proj.bias', [C], false);
    l('ffn_gate.bias', 'mlp.gate_proj.bias', [F], false);
    l('ffn_up.bias', 'mlp.up_proj.bias', [F], false);
    l('ffn_down.bias', 'mlp.down_proj.bias', [C], false);
  }
  const layerIndex = /^model\.layers\.(\d+)\./;
  for (const name of tensors.keys()) {
    const m = layerIndex.exec(name);
    if (m && Number(m[1]) >= spec.numLayers) {
      throw badWeights(`${file.path}: tensor for layer ${m[1]} but llama.block_count is ${spec.numLayers}`);
    }
  }
}
