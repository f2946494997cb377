/**
 * A tiny random-weight cross-encoder made on the spot (no network, no Python): a BertForSequenceClassification
 * directory as transformers and sentence-transformers save one (config.json, model.safetensors with the
 * 'bert.' prefix, the pooler and the classifier, tokenizer.json with a WordPiece vocabulary and BERT's pair
 * template, tokenizer_config.json), its weights drawn from a seeded generator; and a float64 reference of its
 * forward pass and score, written plainly from transformers' BertForSequenceClassification (embeddings,
 * post-LN layers with exact GELU, pooler tanh(W·h[CLS] + b), classifier W·p + b).
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ref from '../helpers/reference';
import { normal } from '../helpers/random';
import { writeSafetensors } from '../loader/helpers';

export const SHAPE = { hidden: 32, heads: 4, layers: 2, intermediate: 64, positions: 48, types: 2 };

/** WordPiece vocabulary: the specials first, then words and suffix pieces. */
export const VOCAB = [
  '[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', '.', ',', '?', '\'', 'the', 'a', 'is', 'of', 'what', 'who', 'wrote', 'book',
  'capital', 'city', 'france', 'paris', 'berlin', 'germany', 'river', 'cat', 'dog', 'sat', 'on', 'mat', 'how', 'many',
  'people', 'live', 'in', 'write', 'read', 'novel', 'harper', 'lee', 'mocking', '##bird', 'to', 'kill', 'and', 'it', 'was',
  'by', '1960', 'big', 'small', 'water', 'flow', '##s', '##ed', '##ing', 'through', 'moby', 'dick', 'melville', 'herman',
];

export interface CrossEncoderFixture {
  dir: string;
  /** every weight by name, as stored (f32 values, read as float64 by the reference) */
  weights: Map<string, Float32Array>;
  numLabels: number;
}

export interface CrossEncoderOptions {
  numLabels?: number;
  /** config.json's sbert_ce_default_activation_function (absent: the CrossEncoder default) */
  activation?: string;
  /** write a sentence-transformers pipeline (modules.json + mean pooling) around it: then it embeds */
  sentenceTransformers?: boolean;
  seed?: number;
}

function tokenizerJson(): object {
  const special = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'];
  const tok = (id: string, type: number) => ({ SpecialToken: { id, type_id: type } });
  const seq = (id: string, type: number) => ({ Sequence: { id, type_id: type } });
  return {
    version: '1.0', truncation: null, padding: null,
    added_tokens: special.map((content) => ({
      id: VOCAB.indexOf(content), content, single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: { type: 'BertNormalizer', clean_text: true, handle_chinese_chars: true, strip_accents: null, lowercase: true },
    pre_tokenizer: { type: 'BertPreTokenizer' },
    post_processor: {
      type: 'TemplateProcessing',
      single: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0)],
      pair: [tok('[CLS]', 0), seq('A', 0), tok('[SEP]', 0), seq('B', 1), tok('[SEP]', 1)],
      special_tokens: Object.fromEntries(['[CLS]', '[SEP]'].map((t) => [t, { id: t, ids: [VOCAB.indexOf(t)], tokens: [t] }])),
    },
    decoder: { type: 'WordPiece', prefix: '##', cleanup: true },
    model: {
      type: 'WordPiece', unk_token: '[UNK]', continuing_subword_prefix: '##', max_input_chars_per_word: 100,
      vocab: Object.fromEntries(VOCAB.map((t, i) => [t, i])),
    },
  };
}

/** Writes the cross-encoder into `dir` (created if needed) and returns its weights. */
export function makeCrossEncoder(dir: string, o: CrossEncoderOptions = {}): CrossEncoderFixture {
  const numLabels = o.numLabels ?? 1;
  const { hidden: C, layers, intermediate: F, positions: P, types } = SHAPE;
  const V = VOCAB.length;
  let seed = o.seed ?? 2024;
  const weights = new Map<string, Float32Array>();
  const add = (name: string, shape: number[], scale: number, offset = 0) => {
    const n = shape.reduce((a, b) => a * b, 1);
    weights.set(name, normal(n, seed++, scale).map((x) => x + offset));
    return shape;
  };
  const shapes = new Map<string, number[]>();
  const put = (name: string, shape: number[], scale: number, offset = 0) => shapes.set(name, add(name, shape, scale, offset));
  put('bert.embeddings.word_embeddings.weight', [V, C], 0.5);
  put('bert.embeddings.position_embeddings.weight', [P, C], 0.3);
  put('bert.embeddings.token_type_embeddings.weight', [types, C], 0.5);
  put('bert.embeddings.LayerNorm.weight', [C], 0.1, 1);
  put('bert.embeddings.LayerNorm.bias', [C], 0.1);
  for (let l = 0; l < layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    for (const [name, out, inp] of [['attention.self.query', C, C], ['attention.self.key', C, C], ['attention.self.value', C, C],
      ['attention.output.dense', C, C], ['intermediate.dense', F, C], ['output.dense', C, F]] as const) {
      put(`${p}${name}.weight`, [out, inp], 1 / Math.sqrt(inp));
      put(`${p}${name}.bias`, [out], 0.1);
    }
    for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      put(`${p}${ln}.weight`, [C], 0.1, 1);
      put(`${p}${ln}.bias`, [C], 0.1);
    }
  }
  put('bert.pooler.dense.weight', [C, C], 1 / Math.sqrt(C));
  put('bert.pooler.dense.bias', [C], 0.1);
  put('classifier.weight', [numLabels, C], 1);
  put('classifier.bias', [numLabels], 0.1);

  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, 'model.safetensors'), [...weights].map(([name, w]) => ({
    name, dtype: 'F32', shape: shapes.get(name)!, data: new Uint8Array(w.buffer),
  })));
  const labels = Array.from({ length: numLabels }, (_, i) => i);
  const config: Record<string, unknown> = {
    architectures: ['BertForSequenceClassification'], model_type: 'bert', vocab_size: V, hidden_size: C, num_hidden_layers: layers,
    num_attention_heads: SHAPE.heads, intermediate_size: F, max_position_embeddings: P, type_vocab_size: types, hidden_act: 'gelu',
    layer_norm_eps: 1e-12, pad_token_id: 0, position_embedding_type: 'absolute', torch_dtype: 'float32',
    id2label: Object.fromEntries(labels.map((i) => [String(i), `LABEL_${i}`])), label2id: Object.fromEntries(labels.map((i) => [`LABEL_${i}`, i])),
  };
  if (o.activation !== undefined) config.sbert_ce_default_activation_function = o.activation;
  fs.writeFileSync(path.join(dir, 'config.json'), JSON.stringify(config, null, 2));
  fs.writeFileSync(path.join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson()));
  fs.writeFileSync(path.join(dir, 'tokenizer_config.json'), JSON.stringify({
    do_lower_case: true, unk_token: '[UNK]', sep_token: '[SEP]', pad_token: '[PAD]', cls_token: '[CLS]', mask_token: '[MASK]',
    tokenizer_class: 'BertTokenizer', model_max_length: P,
  }));
  if (o.sentenceTransformers) {
    fs.writeFileSync(path.join(dir, 'modules.json'), JSON.stringify([
      { idx: 0, name: '0', path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, name: '1', path: '1_Pooling', type: 'sentence_transformers.models.Pooling' },
    ]));
    fs.mkdirSync(path.join(dir, '1_Pooling'), { recursive: true });
    fs.writeFileSync(path.join(dir, '1_Pooling', 'config.json'), JSON.stringify({ word_embedding_dimension: C, pooling_mode_mean_tokens: true }));
  }
  return { dir, weights, numLabels };
}

// ------------------------------------------------------------------------------------- float64 reference

/** y [R, out] = x [R, in] · Wᵀ + b */
function linear(x: ArrayLike<number>, R: number, w: ArrayLike<number>, b: ArrayLike<number>, nOut: number, nIn: number): Float64Array {
  const y = new Float64Array(R * nOut);
  for (let r = 0; r < R; r++) {
    for (let o = 0; o < nOut; o++) {
      let s = b[o];
      for (let i = 0; i < nIn; i++) s += x[r * nIn + i] * w[o * nIn + i];
      y[r * nOut + o] = s;
    }
  }
  return y;
}

const addInto = (a: Float64Array, b: ArrayLike<number>) => a.map((x, i) => x + b[i]);

/** The classifier's logits [numLabels] for one input (ids with their token types), in float64. */
export function referenceLogits(fx: CrossEncoderFixture, ids: number[], typeIds: number[]): number[] {
  const w = (name: string) => fx.weights.get(name)!;
  const { hidden: C, heads: H, intermediate: F } = SHAPE;
  const T = ids.length;
  const eps = 1e-12;
  let h = ref.norm('layer', ref.embedding(ids, w('bert.embeddings.word_embeddings.weight'), C, 1,
    { ids: ids.map((_, t) => t), table: w('bert.embeddings.position_embeddings.weight') },
    { ids: typeIds, table: w('bert.embeddings.token_type_embeddings.weight') }),
  T, C, w('bert.embeddings.LayerNorm.weight'), w('bert.embeddings.LayerNorm.bias'), eps);
  const attention: ref.AttentionRef = { Hq: H, Hkv: H, D: C / H, scale: 1 / Math.sqrt(C / H), causal: false, windowLeft: -1, slopes: null };
  for (let l = 0; l < SHAPE.layers; l++) {
    const p = `bert.encoder.layer.${l}.`;
    const lin = (name: string, x: ArrayLike<number>, nOut: number, nIn: number) => linear(x, T, w(`${p}${name}.weight`), w(`${p}${name}.bias`), nOut, nIn);
    const a = ref.attentionPacked(attention, lin('attention.self.query', h, C, C), lin('attention.self.key', h, C, C),
      lin('attention.self.value', h, C, C), [0, T]);
    h = ref.norm('layer', addInto(lin('attention.output.dense', a, C, C), h), T, C,
      w(`${p}attention.output.LayerNorm.weight`), w(`${p}attention.output.LayerNorm.bias`), eps);
    const inter = lin('intermediate.dense', h, F, C).map(ref.geluErf);
    h = ref.norm('layer', addInto(lin('output.dense', inter, C, F), h), T, C, w(`${p}output.LayerNorm.weight`), w(`${p}output.LayerNorm.bias`), eps);
  }
  const pooled = linear(h.subarray(0, C), 1, w('bert.pooler.dense.weight'), w('bert.pooler.dense.bias'), C, C).map(Math.tanh);
  return Array.from(linear(pooled, 1, w('classifier.weight'), w('classifier.bias'), fx.numLabels, C));
}
