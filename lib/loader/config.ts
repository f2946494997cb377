/**
 * config.json → ModelSpec for the architectures gpuformer runs: the BERT family (BertModel and its task
 * heads: MiniLM, BGE, E5 …), GPT-2, and the Llama family (Llama 1/2/3, Mistral, Qwen2, SmolLM). Every field
 * the forward passes depend on is read here, once; a value gpuformer cannot honour (an activation, a RoPE
 * variant, an attention tweak) is refused with ERR_GPUFORMER_UNSUPPORTED rather than silently computing
 * something else.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { badWeights, unsupported } from '../errors';
import type { ScoreActivation } from '../core/source';
import type { Family, ModelSpec, RopeScaling, RopeSpec } from '../core/spec';

export type HfConfig = Record<string, unknown>;

const FAMILY_BY_ARCHITECTURE: Record<string, Family> = {
  BertModel: 'bert',
  BertForMaskedLM: 'bert',
  BertForPreTraining: 'bert',
  BertForSequenceClassification: 'bert',
  BertForTokenClassification: 'bert',
  BertForNextSentencePrediction: 'bert',
  BertForMultipleChoice: 'bert',
  BertForQuestionAnswering: 'bert',
  GPT2LMHeadModel: 'gpt2',
  GPT2Model: 'gpt2',
  LlamaForCausalLM: 'llama',
  LlamaModel: 'llama',
  MistralForCausalLM: 'llama',
  MistralModel: 'llama',
  Qwen2ForCausalLM: 'llama',
  Qwen2Model: 'llama',
};

/** model_type fallbacks, for configs without `architectures` */
const FAMILY_BY_MODEL_TYPE: Record<string, Family> = { bert: 'bert', gpt2: 'gpt2', llama: 'llama', mistral: 'llama', qwen2: 'llama' };

export const SUPPORTED_ARCHITECTURES = Object.keys(FAMILY_BY_ARCHITECTURE);

/** Reads and parses <dir>/config.json; missing or malformed → ERR_GPUFORMER_BAD_WEIGHTS. */
export async function readConfig(dir: string): Promise<HfConfig> {
  const file = path.join(dir, 'config.json');
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    throw badWeights(`${dir} has no config.json: a Hugging Face model directory needs one (or pass a .gguf file)`);
  }
  let config: unknown;
  try {
    config = JSON.parse(text);
  } catch (e) {
    throw badWeights(`${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw badWeights(`${file} must hold a JSON object`);
  }
  return config as HfConfig;
}

/** Typed field access that names the field and the file when a value is missing or has the wrong type. */
class Fields {
  constructor(private readonly c: HfConfig, private readonly where: string) {}

  has(key: string): boolean {
    return this.c[key] !== undefined && this.c[key] !== null;
  }

  raw(key: string): unknown {
    return this.c[key];
  }

  int(key: string, fallback?: number): number {
    const v = this.c[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw badWeights(`${this.where}: '${key}' is missing`);
    }
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw badWeights(`${this.where}: '${key}' must be a non-negative integer, got ${JSON.stringify(v)}`);
    return v;
  }

  positive(key: string, fallback?: number): number {
    const v = this.int(key, fallback);
    if (v === 0) throw badWeights(`${this.where}: '${key}' must be positive, got 0`);
    return v;
  }

  num(key: string, fallback?: number): number {
    const v = this.c[key];
    if (v === undefined || v === null) {
      if (fallback !== undefined) return fallback;
      throw badWeights(`${this.where}: '${key}' is missing`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v)) throw badWeights(`${this.where}: '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  }

  bool(key: string, fallback: boolean): boolean {
    const v = this.c[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'boolean') throw badWeights(`${this.where}: '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }

  str(key: string): string | undefined {
    const v = this.c[key];
    return typeof v === 'string' ? v : undefined;
  }

  /** a token id, or undefined when absent / null */
  tokenId(key: string): number | undefined {
    const v = this.c[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw badWeights(`${this.where}: '${key}' must be a token id, got ${JSON.stringify(v)}`);
    return v;
  }

  /** a token id or a list of them (eos_token_id may be either) */
  tokenIds(key: string): number[] {
    const v = this.c[key];
    if (v === undefined || v === null) return [];
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
      throw badWeights(`${this.where}: '${key}' must be a token id or a list of them, got ${JSON.stringify(v)}`);
    }
    return list as number[];
  }
}

/** The architecture a config names: architectures[0], else model_type. */
export function architectureOf(config: HfConfig): string {
  const archs = config.architectures;
  if (Array.isArray(archs) && typeof archs[0] === 'string') return archs[0];
  if (typeof config.model_type === 'string') return config.model_type;
  return '(none: config.json has neither architectures nor model_type)';
}

/** ModelSpec of a parsed config.json; `where` names the file in error messages. */
export function specFromConfig(config: HfConfig, where = 'config.json'): ModelSpec {
  const architecture = architectureOf(config);
  const modelType = typeof config.model_type === 'string' ? config.model_type : '';
  const family = FAMILY_BY_ARCHITECTURE[architecture] ?? (Array.isArray(config.architectures) ? undefined : FAMILY_BY_MODEL_TYPE[modelType]);
  if (!family) {
    throw unsupported(`${where}: architecture '${architecture}'${modelType ? ` (model_type '${modelType}')` : ''} is not ` +
      `supported; gpuformer runs ${SUPPORTED_ARCHITECTURES.join(', ')}`);
  }
  const f = new Fields(config, where);
  const spec = family === 'bert' ? bertSpec(f, architecture) : family === 'gpt2' ? gpt2Spec(f, architecture) : llamaSpec(f, architecture);
  const dtype = f.str('torch_dtype') ?? f.str('dtype');
  if (dtype === 'float32' || dtype === 'float16' || dtype === 'bfloat16') spec.checkpointDtype = dtype;
  checkGeometry(spec, where);
  return spec;
}

function common(f: Fields) {
  return {
    bosTokenId: f.tokenId('bos_token_id'),
    eosTokenIds: f.tokenIds('eos_token_id'),
    padTokenId: f.tokenId('pad_token_id'),
  };
}

function withoutUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

function bertSpec(f: Fields, architecture: string): ModelSpec {
  const modelType = f.str('model_type') ?? 'bert';
  if (f.bool('is_decoder', false) || architecture === 'BertLMHeadModel') {
    throw unsupported(`${architecture}: BERT used as a causal decoder (is_decoder) is not supported`);
  }
  const posType = f.str('position_embedding_type') ?? 'absolute';
  if (posType !== 'absolute') throw unsupported(`${architecture}: position_embedding_type '${posType}' is not supported (only 'absolute')`);
  const hidden = f.positive('hidden_size');
  const heads = f.positive('num_attention_heads');
  return withoutUndefined<ModelSpec>({
    family: 'bert', architecture, modelType,
    numLabels: CLASSIFIERS.has(architecture) ? numLabels(f) : undefined,
    vocabSize: f.positive('vocab_size'),
    hiddenSize: hidden,
    numLayers: f.positive('num_hidden_layers'),
    numHeads: heads, numKvHeads: heads, headDim: hidden / heads,
    intermediateSize: f.positive('intermediate_size'),
    maxPositionEmbeddings: f.positive('max_position_embeddings'),
    norm: { kind: 'layernorm', eps: f.num('layer_norm_eps', 1e-12) },
    activation: activation(f.str('hidden_act') ?? 'gelu', architecture),
    gatedMlp: false, positional: 'learned',
    typeVocabSize: f.int('type_vocab_size', 2),
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    attentionBias: true, mlpBias: true, causal: false,
    ...common(f),
  });
}

/** Architectures whose checkpoint carries a sequence-classification head gpuformer runs (the pooler and the classifier). */
const CLASSIFIERS = new Set(['BertForSequenceClassification']);

/** A classifier's outputs: id2label's size (what transformers derives num_labels from), else num_labels, else its default 2. */
function numLabels(f: Fields): number {
  const labels = f.raw('id2label');
  if (isObject(labels) && Object.keys(labels).length > 0) return Object.keys(labels).length;
  return f.positive('num_labels', 2);
}

/** The torch activations a cross-encoder's config may name for its scores, as gpuformer computes them. */
const SCORE_ACTIVATIONS: Record<string, ScoreActivation> = {
  'torch.nn.modules.activation.Sigmoid': 'sigmoid',
  'torch.nn.modules.linear.Identity': 'identity',
  'torch.nn.modules.activation.Tanh': 'tanh',
};

/**
 * The activation sentence-transformers' CrossEncoder puts on a classifier's logits: the config's
 * sentence_transformers.activation_fn, else its sbert_ce_default_activation_function (older saves), else
 * sigmoid for one label and identity for more. An activation gpuformer does not compute is refused.
 */
export function scoreActivation(config: HfConfig, numLabels: number, where = 'config.json'): ScoreActivation {
  const st = config.sentence_transformers;
  const named = (isObject(st) ? st.activation_fn : undefined) ?? config.sbert_ce_default_activation_function;
  if (named === undefined || named === null) return numLabels === 1 ? 'sigmoid' : 'identity';
  const act = typeof named === 'string' ? SCORE_ACTIVATIONS[named] : undefined;
  if (!act) {
    throw unsupported(`${where}: the cross-encoder activation ${JSON.stringify(named)} is not supported ` +
      `(${Object.keys(SCORE_ACTIVATIONS).join(', ')})`);
  }
  return act;
}

function gpt2Spec(f: Fields, architecture: string): ModelSpec {
  if (f.bool('scale_attn_by_inverse_layer_idx', false)) throw unsupported(`${architecture}: scale_attn_by_inverse_layer_idx is not supported`);
  if (!f.bool('scale_attn_weights', true)) throw unsupported(`${architecture}: scale_attn_weights false is not supported`);
  const hidden = f.positive('n_embd');
  const heads = f.positive('n_head');
  return withoutUndefined<ModelSpec>({
    family: 'gpt2', architecture, modelType: f.str('model_type') ?? 'gpt2',
    vocabSize: f.positive('vocab_size'),
    hiddenSize: hidden,
    numLayers: f.positive('n_layer'),
    numHeads: heads, numKvHeads: heads, headDim: hidden / heads,
    intermediateSize: f.positive('n_inner', 4 * hidden),
    maxPositionEmbeddings: f.positive('n_positions'),
    norm: { kind: 'layernorm', eps: f.num('layer_norm_epsilon', 1e-5) },
    activation: activation(f.str('activation_function') ?? 'gelu_new', architecture),
    gatedMlp: false, positional: 'learned',
    tieWordEmbeddings: f.bool('tie_word_embeddings', true),
    attentionBias: true, mlpBias: true, causal: true,
    ...common(f),
  });
}

function llamaSpec(f: Fields, architecture: string): ModelSpec {
  const modelType = f.str('model_type') ?? 'llama';
  const act = f.str('hidden_act') ?? 'silu';
  if (act !== 'silu') throw unsupported(`${architecture}: hidden_act '${act}' is not supported for the Llama family (only 'silu')`);
  const hidden = f.positive('hidden_size');
  const heads = f.positive('num_attention_heads');
  const headDim = f.has('head_dim') ? f.positive('head_dim') : hidden / heads;
  const rope = ropeSpec(f, architecture, headDim);
  const isQwen2 = modelType === 'qwen2' || architecture.startsWith('Qwen2');
  // Qwen2 configs carry a sliding_window that only applies when use_sliding_window is set
  const windowed = isQwen2 ? f.bool('use_sliding_window', false) : f.has('sliding_window');
  return withoutUndefined<ModelSpec>({
    family: 'llama', architecture, modelType,
    vocabSize: f.positive('vocab_size'),
    hiddenSize: hidden,
    numLayers: f.positive('num_hidden_layers'),
    numHeads: heads,
    numKvHeads: f.positive('num_key_value_heads', heads),
    headDim,
    intermediateSize: f.positive('intermediate_size'),
    maxPositionEmbeddings: f.positive('max_position_embeddings'),
    norm: { kind: 'rmsnorm', eps: f.num('rms_norm_eps', 1e-6) },
    activation: 'silu', gatedMlp: true, positional: 'rope', rope,
    tieWordEmbeddings: f.bool('tie_word_embeddings', false),
    // Qwen2 always has q/k/v biases; Llama says so with attention_bias
    attentionBias: isQwen2 || f.bool('attention_bias', false),
    mlpBias: f.bool('mlp_bias', false),
    causal: true,
    slidingWindow: windowed && f.has('sliding_window') ? f.positive('sliding_window') : undefined,
    ...common(f),
  });
}

function activation(name: string, architecture: string): ModelSpec['activation'] {
  switch (name) {
    case 'gelu': return 'gelu';
    case 'gelu_new': case 'gelu_pytorch_tanh': case 'gelu_fast': return 'gelu_tanh';
    default: throw unsupported(`${architecture}: activation '${name}' is not supported (gelu, gelu_new, gelu_pytorch_tanh)`);
  }
}

const ROPE_TYPES = new Set<RopeScaling['type']>(['default', 'linear', 'llama3', 'dynamic', 'yarn']);

/**
 * RoPE parameters from either form found in the wild: `rope_theta` + `rope_scaling` (most checkpoints) or
 * the newer `rope_parameters` { rope_theta, rope_type, factor, … } (transformers 5).
 */
function ropeSpec(f: Fields, architecture: string, headDim: number): RopeSpec {
  const params = f.raw('rope_parameters');
  const scalingRaw = f.raw('rope_scaling');
  const p = isObject(params) ? params : undefined;
  if (p && !('rope_theta' in p) && !('rope_type' in p) && !('type' in p)) {
    throw unsupported(`${architecture}: per-layer-type rope_parameters (${Object.keys(p).join(', ')}) are not supported`);
  }
  const theta = f.has('rope_theta') ? f.num('rope_theta') : p && typeof p.rope_theta === 'number' ? p.rope_theta : 10000;
  const partial = f.has('partial_rotary_factor') ? f.num('partial_rotary_factor') : p && typeof p.partial_rotary_factor === 'number' ? p.partial_rotary_factor : 1;
  const rotaryDim = Math.round(headDim * partial);

  // the scaling entries: rope_scaling when given, else the scaling keys of rope_parameters
  const s = isObject(scalingRaw) ? scalingRaw : p;
  const type = s ? String(s.rope_type ?? s.type ?? 'default') : 'default';
  if (!ROPE_TYPES.has(type as RopeScaling['type'])) {
    throw unsupported(`${architecture}: rope scaling type '${type}' is not supported (default, linear, llama3, yarn)`);
  }
  const spec: RopeSpec = { theta, rotaryDim, interleaved: false };
  if (s && type !== 'default') {
    const num = (k: string) => (typeof s[k] === 'number' ? (s[k] as number) : undefined);
    const factor = num('factor');
    if (factor === undefined || !(factor > 0)) throw badWeights(`${architecture}: rope scaling '${type}' needs a positive factor, got ${JSON.stringify(s.factor)}`);
    spec.scaling = withoutUndefined<RopeScaling>({
      type: type as RopeScaling['type'],
      factor,
      lowFreqFactor: num('low_freq_factor'),
      highFreqFactor: num('high_freq_factor'),
      originalMaxPositionEmbeddings: num('original_max_position_embeddings') ?? (f.has('original_max_position_embeddings') ? f.int('original_max_position_embeddings') : undefined),
    });
  }
  return spec;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);

/** Geometry the forward passes rely on (whole head dims, GQA groups that divide evenly). */
function checkGeometry(s: ModelSpec, where: string): void {
  if (!Number.isInteger(s.headDim) || s.headDim <= 0) {
    throw badWeights(`${where}: hidden size ${s.hiddenSize} is not divisible by ${s.numHeads} attention heads`);
  }
  if (s.numHeads % s.numKvHeads !== 0) {
    throw badWeights(`${where}: ${s.numHeads} attention heads are not a multiple of ${s.numKvHeads} key/value heads`);
  }
  if (s.rope && (s.rope.rotaryDim < 2 || s.rope.rotaryDim % 2 !== 0 || s.rope.rotaryDim > s.headDim)) {
    throw unsupported(`${where}: rotary dimension ${s.rope.rotaryDim} must be even and at most head_dim ${s.headDim}`);
  }
}
