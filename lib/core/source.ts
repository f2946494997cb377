/**
 * An opened model, whatever the format (a Hugging Face directory with safetensors or shards, a GGUF file):
 * ModelSource is what lib/loader produces and everything above it reads; TensorSource says where each
 * weight lives on disk, WeightRequest how a forward pass wants it. The weight loader materializes requests
 * into device tensors, converting dtypes while streaming.
 */
import type { DType } from '../native';
import type { ModelSpec } from './spec';

export interface TensorSource {
  /** name as the forward passes use it: Hugging Face names (GGUF names are mapped to them) */
  name: string;
  /** absolute path of the file holding the bytes */
  file: string;
  /** absolute byte offset of the first element in the file */
  offset: number;
  /** stored dtype (quantized GGUF types included) */
  dtype: DType;
  /** logical shape, outermost first (GGUF's reversed dims are already turned into this order) */
  shape: number[];
  nbytes: number;
}

/** How a forward pass wants a weight: in what dtype, and optionally a slice / transpose of the stored one. */
export interface WeightRequest {
  /** target dtype; quantized sources keep their dtype when this is 'keep' */
  dtype: DType | 'keep';
  /** take columns [start, end) of a 2-D source before anything else (GPT-2's fused c_attn) */
  cols?: [number, number];
  /** take rows [start, end) of a 2-D source */
  rows?: [number, number];
  /** transpose a 2-D source (GPT-2's Conv1D stores [in, out]; linear wants [out, in]) */
  transpose?: boolean;
  /**
   * only linear and the embedding lookup read this tensor (both read the rows of a packed one): on the CPU the
   * loader may pack it (Tensor.packForLinear) once it is loaded, where the kernel tier reads a packed layout faster
   */
  packable?: boolean;
}

/** Everything an opened model offers before any weight is read (from a HF directory or a GGUF file). */
export interface ModelSource {
  format: 'safetensors' | 'gguf';
  /** the directory or file it came from */
  path: string;
  spec: ModelSpec;
  /** every stored tensor by (Hugging Face) name */
  tensors: Map<string, TensorSource>;
  /** tokenizer.json content (parsed) and tokenizer_config.json when present; absent: the engine speaks ids only */
  tokenizer?: { json: Record<string, unknown>; config?: Record<string, unknown> };
  /** a Jinja chat template (tokenizer_config.json's chat_template, or GGUF tokenizer.chat_template) */
  chatTemplate?: string;
  /** generation_config.json (or GGUF-derived defaults) */
  generationConfig?: Record<string, unknown>;
  /** sentence-transformers pooling (modules.json + 1_Pooling/config.json) */
  pooling?: { mode: 'mean' | 'cls' | 'last'; normalize: boolean };
  /** sentence-transformers max_seq_length: embed() truncates to this */
  maxSeqLength?: number;
  /**
   * set when the tensors are not in weight files here, for planning alone (gpuformer inspect before a
   * download): 'config' — computed from config.json's shapes; 'hub' — read from the hub's safetensors
   * headers (or GGUF header) with range requests, the weights never fetched. Such a source cannot be loaded.
   */
  planOnly?: 'config' | 'hub';
  /**
   * a cross-encoder's score from its logit (a model with spec.numLabels), as sentence-transformers' CrossEncoder
   * applies it: config.json's sentence_transformers.activation_fn or sbert_ce_default_activation_function, else
   * sigmoid for one label
   */
  scoreActivation?: ScoreActivation;
}

export type ScoreActivation = 'sigmoid' | 'identity' | 'tanh';
