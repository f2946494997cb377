/**
 * Which stored tensors each family's forward pass needs, and how (as WeightRequests for the loader), and
 * the typed views of the loaded tensors that bert.ts / gpt2.ts / llama.ts read. Names are Hugging Face's
 * (GGUF names arrive already mapped to them); the checkpoint's own prefix ('model.', 'transformer.',
 * 'bert.' or none) is found from the names present.
 */
import { badWeights, unsupported } from '../errors';
import type { DType, Tensor } from '../native';
import { QUANT_BLOCK, QUANTIZED, QuantizedDType } from '../core/dtype';
import type { TensorSource, WeightRequest } from '../core/source';
import type { ModelSpec } from '../core/spec';

/** A linear layer: w [out, in] (float or quantized), optional bias [out]. */
export interface Linear {
  w: Tensor;
  bias?: Tensor;
}

/** A norm layer: weight [C], bias [C] for LayerNorm. */
export interface Norm {
  weight: Tensor;
  bias?: Tensor;
}

export interface LlamaLayer {
  attnNorm: Norm;
  q: Linear;
  k: Linear;
  v: Linear;
  o: Linear;
  mlpNorm: Norm;
  gate: Linear;
  up: Linear;
  down: Linear;
}

export interface LlamaWeights {
  embed: Tensor;
  layers: LlamaLayer[];
  finalNorm: Norm;
  lmHead: Linear;
}

export interface Gpt2Layer {
  ln1: Norm;
  q: Linear;
  k: Linear;
  v: Linear;
  attnProj: Linear;
  ln2: Norm;
  fc: Linear;
  mlpProj: Linear;
}

export interface Gpt2Weights {
  wte: Tensor;
  wpe: Tensor;
  layers: Gpt2Layer[];
  finalNorm: Norm;
  lmHead: Linear;
}

export interface BertLayer {
  q: Linear;
  k: Linear;
  v: Linear;
  attnOut: Linear;
  attnNorm: Norm;
  inter: Linear;
  out: Linear;
  outNorm: Norm;
}

export interface BertWeights {
  word: Tensor;
  position: Tensor;
  tokenType?: Tensor;
  embedNorm: Norm;
  layers: BertLayer[];
  /** BertForSequenceClassification's head: the pooler (dense + tanh on the first token) and the classifier */
  head?: { pooler: Linear; classifier: Linear };
}

/** How the weights of a load are stored: a float dtype for everything, or quantized kept where ops read it. */
export interface WeightPrecision {
  /** target float dtype; 'keep' keeps each float tensor's stored dtype (the CPU reads f16/bf16 directly) */
  float: DType | 'keep';
  /** keep GGUF-quantized matrices quantized (linear and embedding read them directly); false dequantizes */
  keepQuantized: boolean;
  /** quantize a float checkpoint's matrices into this block format while loading (quantizedType says which) */
  quantize?: QuantizedDType;
}

/** The names each family reads, with the loader request for each. */
export interface WeightPlan {
  requests: Map<string, WeightRequest>;
  /** the checkpoint's name prefix ('model.', 'transformer.', 'bert.', '') */
  prefix: string;
}

/**
 * What a weight is to the forward pass: a layer's matrix (read by linear), the LM head (or a cross-encoder's
 * classifier), the token embedding
 * (read by embedding; by linear too when the head is tied to it), or anything else (norms, biases, position
 * and type tables), which ops read in float only.
 */
export type WeightRole = 'linear' | 'lmHead' | 'tokenEmbedding' | 'tiedEmbedding' | 'other';

/**
 * The block format a float matrix is quantized into at load (dtype 'q8_0' | 'q4_0' | 'q4_1'), or undefined to
 * keep it float. As llama.cpp's llama-quantize chooses (llama_tensor_get_type): the layers' matrices take the
 * asked format; the LM head takes a finer one than a 4-bit body (llama.cpp's Q6_K, which gpuformer lacks:
 * Q8_0 here), and so does a token embedding tied to the head, since it is the head (llama.cpp quantizes the
 * shared token_embd with the output's type). An untied token embedding, norms, biases and position tables stay
 * float. A matrix whose rows (K, the last dim) are not whole 32-element blocks stays float, as in llama.cpp.
 */
export function quantizedType(role: WeightRole, shape: number[], asked: QuantizedDType): QuantizedDType | undefined {
  const K = shape[shape.length - 1];
  if (shape.length !== 2 || K % QUANT_BLOCK !== 0) return undefined;
  if (role === 'linear') return asked;
  if (role === 'lmHead' || role === 'tiedEmbedding') return 'q8_0';
  return undefined;
}

/** Builds the request list for a model, failing with ERR_GPUFORMER_BAD_WEIGHTS naming any missing tensor. */
export function planWeights(spec: ModelSpec, tensors: Map<string, TensorSource>, precision: WeightPrecision): WeightPlan {
  const names = familyNames(spec, tensors);
  const requests = new Map<string, WeightRequest>();
  for (const { name, role, transpose } of names.list) {
    const src = tensors.get(name)!;
    const quantized = QUANTIZED.has(src.dtype);
    if (transpose && quantized) throw badWeights(`${name}: a quantized Conv1D weight cannot be transposed`);
    if (precision.quantize && quantized) {
      throw unsupported(`${name} is already ${src.dtype}: dtype '${precision.quantize}' quantizes float weights while ` +
        "loading; 'auto' keeps the file's blocks, 'float32' dequantizes them");
    }
    const layout = transpose ? [src.shape[1], src.shape[0]] : src.shape;
    const target = precision.quantize ? quantizedType(role, layout, precision.quantize) : undefined;
    let dtype: DType | 'keep';
    if (target) dtype = target;
    else if (quantized ? precision.keepQuantized && role !== 'other' : precision.float === 'keep') dtype = 'keep';
    else if (precision.float === 'keep') dtype = 'f32'; // a quantized tensor some op cannot read: dequantize to f32
    else dtype = precision.float;
    // read only by linear (and, tied to the head, by the embedding lookup, which reads a packed table's rows)
    const packable = role === 'linear' || role === 'lmHead' || role === 'tiedEmbedding';
    requests.set(name, { dtype, ...(transpose ? { transpose: true } : {}), ...(packable ? { packable: true } : {}) });
  }
  return { requests, prefix: names.prefix };
}

interface Need {
  name: string;
  role: WeightRole;
  transpose?: boolean;
}

function findPrefix(tensors: Map<string, TensorSource>, candidates: string[], probe: string): string {
  for (const p of candidates) if (tensors.has(p + probe)) return p;
  throw badWeights(`the checkpoint has no '${probe}' (looked for ${candidates.map((p) => `'${p}${probe}'`).join(', ')})`);
}

function familyNames(spec: ModelSpec, tensors: Map<string, TensorSource>): { prefix: string; list: Need[] } {
  const list: Need[] = [];
  const need = (name: string, role: WeightRole = 'other', transpose = false) => {
    if (!tensors.has(name)) throw badWeights(`the checkpoint has no tensor '${name}', which a ${spec.architecture} needs`);
    list.push({ name, role, transpose });
  };
  const optional = (name: string) => {
    if (tensors.has(name)) list.push({ name, role: 'other' });
  };
  const L = spec.numLayers;

  if (spec.family === 'llama') {
    const p = findPrefix(tensors, ['model.', ''], 'embed_tokens.weight');
    const tied = llamaTied(spec, tensors);
    need(`${p}embed_tokens.weight`, tied ? 'tiedEmbedding' : 'tokenEmbedding');
    for (let i = 0; i < L; i++) {
      const l = `${p}layers.${i}.`;
      need(`${l}input_layernorm.weight`);
      for (const proj of ['q_proj', 'k_proj', 'v_proj', 'o_proj']) {
        need(`${l}self_attn.${proj}.weight`, 'linear');
        optional(`${l}self_attn.${proj}.bias`);
      }
      if (spec.attentionBias) for (const proj of ['q_proj', 'k_proj', 'v_proj']) need(`${l}self_attn.${proj}.bias`);
      need(`${l}post_attention_layernorm.weight`);
      for (const proj of ['gate_proj', 'up_proj', 'down_proj']) {
        need(`${l}mlp.${proj}.weight`, 'linear');
        optional(`${l}mlp.${proj}.bias`);
      }
    }
    need(`${p}norm.weight`);
    if (!tied) need('lm_head.weight', 'lmHead');
    return { prefix: p, list };
  }

  if (spec.family === 'gpt2') {
    const p = findPrefix(tensors, ['transformer.', ''], 'wte.weight');
    const untied = !spec.tieWordEmbeddings && tensors.has('lm_head.weight');
    need(`${p}wte.weight`, untied ? 'tokenEmbedding' : 'tiedEmbedding');
    need(`${p}wpe.weight`);
    for (let i = 0; i < L; i++) {
      const l = `${p}h.${i}.`;
      for (const ln of ['ln_1', 'ln_2']) {
        need(`${l}${ln}.weight`);
        need(`${l}${ln}.bias`);
      }
      // Conv1D stores [in, out]: ask for the transpose so linear sees [out, in]
      for (const conv of ['attn.c_attn', 'attn.c_proj', 'mlp.c_fc', 'mlp.c_proj']) {
        need(`${l}${conv}.weight`, 'linear', true);
        need(`${l}${conv}.bias`);
      }
    }
    need(`${p}ln_f.weight`);
    need(`${p}ln_f.bias`);
    if (untied) need('lm_head.weight', 'lmHead');
    return { prefix: p, list };
  }

  // bert
  const p = findPrefix(tensors, ['', 'bert.'], 'embeddings.word_embeddings.weight');
  need(`${p}embeddings.word_embeddings.weight`, 'tokenEmbedding');
  need(`${p}embeddings.position_embeddings.weight`);
  if ((spec.typeVocabSize ?? 0) > 0) need(`${p}embeddings.token_type_embeddings.weight`);
  need(`${p}embeddings.LayerNorm.weight`);
  need(`${p}embeddings.LayerNorm.bias`);
  for (let i = 0; i < L; i++) {
    const l = `${p}encoder.layer.${i}.`;
    for (const lin of ['attention.self.query', 'attention.self.key', 'attention.self.value', 'attention.output.dense',
      'intermediate.dense', 'output.dense']) {
      need(`${l}${lin}.weight`, 'linear');
      need(`${l}${lin}.bias`);
    }
    for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      need(`${l}${ln}.weight`);
      need(`${l}${ln}.bias`);
    }
  }
  if (spec.numLabels !== undefined) {
    // the classifier is the model's output, quantized at load as an LM head is
    for (const [lin, role] of [[`${p}pooler.dense`, 'linear'], ['classifier', 'lmHead']] as const) {
      need(`${lin}.weight`, role);
      need(`${lin}.bias`);
    }
  }
  return { prefix: p, list };
}

/** Llama-family heads are tied when the config says so, or when the checkpoint simply has no lm_head. */
function llamaTied(spec: ModelSpec, tensors: Map<string, TensorSource>): boolean {
  return spec.tieWordEmbeddings || !tensors.has('lm_head.weight');
}

// ----------------------------------------------------------------------------------- typed views

function getter(loaded: Map<string, Tensor>) {
  const get = (name: string): Tensor => {
    const t = loaded.get(name);
    if (!t) throw badWeights(`weight '${name}' was not loaded`);
    return t;
  };
  const opt = (name: string): Tensor | undefined => loaded.get(name);
  const linear = (name: string): Linear => ({ w: get(`${name}.weight`), bias: opt(`${name}.bias`) });
  const norm = (name: string): Norm => ({ weight: get(`${name}.weight`), bias: opt(`${name}.bias`) });
  return { get, opt, linear, norm };
}

export function llamaWeights(spec: ModelSpec, plan: WeightPlan, loaded: Map<string, Tensor>): LlamaWeights {
  const { get, linear, norm } = getter(loaded);
  const p = plan.prefix;
  const embed = get(`${p}embed_tokens.weight`);
  const layers: LlamaLayer[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const l = `${p}layers.${i}.`;
    layers.push({
      attnNorm: norm(`${l}input_layernorm`),
      q: linear(`${l}self_attn.q_proj`),
      k: linear(`${l}self_attn.k_proj`),
      v: linear(`${l}self_attn.v_proj`),
      o: linear(`${l}self_attn.o_proj`),
      mlpNorm: norm(`${l}post_attention_layernorm`),
      gate: linear(`${l}mlp.gate_proj`),
      up: linear(`${l}mlp.up_proj`),
      down: linear(`${l}mlp.down_proj`),
    });
  }
  const lmHead = plan.requests.has('lm_head.weight') ? linear('lm_head') : { w: embed };
  return { embed, layers, finalNorm: norm(`${p}norm`), lmHead };
}

/**
 * GPT-2's fused c_attn holds q, k and v side by side; transposed to [3C, C] they are three row ranges, so
 * q, k and v become views of it (no copy) and of its bias. The views are collected in `views` so the runner
 * can dispose them with the weights.
 */
export function gpt2Weights(spec: ModelSpec, plan: WeightPlan, loaded: Map<string, Tensor>, views: Tensor[]): Gpt2Weights {
  const { get, linear, norm } = getter(loaded);
  const p = plan.prefix;
  const C = spec.hiddenSize;
  const layers: Gpt2Layer[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const l = `${p}h.${i}.`;
    const cAttn = linear(`${l}attn.c_attn`);
    if (cAttn.w.shape[0] !== 3 * C || cAttn.w.shape[1] !== C) {
      throw badWeights(`${l}attn.c_attn.weight is [${cAttn.w.shape}] after transposing, expected [${3 * C}, ${C}]`);
    }
    const part = (j: number): Linear => {
      const w = cAttn.w.view(j * C * C, [C, C]);
      const bias = cAttn.bias!.view(j * C, [C]);
      views.push(w, bias);
      return { w, bias };
    };
    layers.push({
      ln1: norm(`${l}ln_1`),
      q: part(0),
      k: part(1),
      v: part(2),
      attnProj: linear(`${l}attn.c_proj`),
      ln2: norm(`${l}ln_2`),
      fc: linear(`${l}mlp.c_fc`),
      mlpProj: linear(`${l}mlp.c_proj`),
    });
  }
  const wte = get(`${p}wte.weight`);
  const lmHead = plan.requests.has('lm_head.weight') ? linear('lm_head') : { w: wte };
  return { wte, wpe: get(`${p}wpe.weight`), layers, finalNorm: norm(`${p}ln_f`), lmHead };
}

export function bertWeights(spec: ModelSpec, plan: WeightPlan, loaded: Map<string, Tensor>): BertWeights {
  const { get, opt, linear, norm } = getter(loaded);
  const p = plan.prefix;
  const layers: BertLayer[] = [];
  for (let i = 0; i < spec.numLayers; i++) {
    const l = `${p}encoder.layer.${i}.`;
    layers.push({
      q: linear(`${l}attention.self.query`),
      k: linear(`${l}attention.self.key`),
      v: linear(`${l}attention.self.value`),
      attnOut: linear(`${l}attention.output.dense`),
      attnNorm: norm(`${l}attention.output.LayerNorm`),
      inter: linear(`${l}intermediate.dense`),
      out: linear(`${l}output.dense`),
      outNorm: norm(`${l}output.LayerNorm`),
    });
  }
  return {
    word: get(`${p}embeddings.word_embeddings.weight`),
    position: get(`${p}embeddings.position_embeddings.weight`),
    tokenType: opt(`${p}embeddings.token_type_embeddings.weight`),
    embedNorm: norm(`${p}embeddings.LayerNorm`),
    layers,
    ...(spec.numLabels !== undefined ? { head: { pooler: linear(`${p}pooler.dense`), classifier: linear('classifier') } } : {}),
  };
}
