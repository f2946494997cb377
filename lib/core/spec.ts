/**
 * ModelSpec: one normalized description of a model, whatever it was loaded from (config.json of a Hugging
 * Face directory, or GGUF metadata). The planner, the weight loader and the forward passes all read this,
 * never the raw config.
 */
import type { DType } from '../native';
import { elementBytes } from './dtype';

export type Family = 'bert' | 'gpt2' | 'llama';

export interface RopeScaling {
  type: 'linear' | 'llama3' | 'dynamic' | 'yarn' | 'default';
  factor: number;
  lowFreqFactor?: number; // llama3
  highFreqFactor?: number; // llama3
  originalMaxPositionEmbeddings?: number; // llama3, yarn
}

export interface RopeSpec {
  theta: number;
  /** rotary dims per head (= headDim unless partial rotary) */
  rotaryDim: number;
  /** true: pairs (2i, 2i+1) as GGUF stores q/k rows; false: rotate-half (Hugging Face) */
  interleaved: boolean;
  scaling?: RopeScaling;
}

export interface ModelSpec {
  family: Family;
  /** config.architectures[0] or the GGUF architecture, e.g. 'LlamaForCausalLM', 'BertModel' */
  architecture: string;
  modelType: string;
  vocabSize: number;
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  maxPositionEmbeddings: number;
  norm: { kind: 'layernorm' | 'rmsnorm'; eps: number };
  /** MLP activation: BERT 'gelu', GPT-2 'gelu_tanh', Llama family 'silu' (gated: SwiGLU) */
  activation: 'gelu' | 'gelu_tanh' | 'silu';
  gatedMlp: boolean;
  positional: 'learned' | 'rope';
  rope?: RopeSpec;
  /** BERT token types */
  typeVocabSize?: number;
  tieWordEmbeddings: boolean;
  /** q/k/v projections carry a bias (Qwen2, GPT-2, BERT) */
  attentionBias: boolean;
  /** the output projection of attention and the MLP carry biases (GPT-2, BERT) */
  mlpBias: boolean;
  /** decoders attend causally and have an LM head; encoders are bidirectional and pool */
  causal: boolean;
  /**
   * a sequence-classification head (BERT's pooler, then a classifier of this many outputs) that scores an
   * input: a cross-encoder (BertForSequenceClassification). Absent: the model embeds (or generates).
   */
  numLabels?: number;
  slidingWindow?: number;
  bosTokenId?: number;
  /**
   * the ids that end a generation: the config's or metadata's EOS, and once the model is opened also
   * generation_config.json's EOS and the chat template's end-of-turn token (lib/loader/end-of-generation.ts)
   */
  eosTokenIds: number[];
  padTokenId?: number;
  /** the checkpoint's own float dtype ('float32' | 'float16' | 'bfloat16'), when it says */
  checkpointDtype?: string;
}

/** Bytes of keys and values for one token, all layers: 2 × layers × kvHeads × headDim × dtype bytes. */
export function kvBytesPerToken(spec: ModelSpec, kvDtype: DType): number {
  return 2 * spec.numLayers * spec.numKvHeads * spec.headDim * elementBytes(kvDtype);
}
