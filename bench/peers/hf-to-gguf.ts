/**
 * Converts a Hugging Face model directory (llama, gpt2 or bert; safetensors, one file or shards) into a
 * GGUF file llama.cpp loads, so node-llama-cpp runs the same weights gpuformer runs. What llama.cpp expects,
 * per architecture: its tensor names, `<arch>.*` hyper-parameters, F32 for 1-D tensors (norms, biases),
 * llama q/k rows permuted to its interleaved RoPE layout, GPT-2's Conv1D matrices transposed to [out, in],
 * and a tokenizer in the metadata (the directory's tokenizer.json, or a synthetic byte-level BPE vocabulary
 * when it has none: the benchmarks feed token ids). Qwen2 (q/k/v biases) is written as a llama model with
 * biases, which llama.cpp's llama and gpuformer's GGUF loader both read.
 *
 * In a quantized file (--type q8_0|q4_0|q4_1) each tensor takes the type gpuformer's own quantize-at-load gives
 * it (lib/models/weights.ts quantizedType: the layers' matrices in that type, the LM head and a tied embedding
 * in Q8_0, the rest float, and so are rows that are not whole 32-element blocks, such as llama2.c 260K's
 * 172-wide down projection), quantized by the same native code (lib/ops/quantize.ts), so loading the file and
 * loading the directory with that dtype give the same blocks.
 *
 *   node bench/.cache/build/bench/peers/hf-to-gguf.js MODEL_DIR OUT.gguf [--type f32|f16|q8_0|q4_0|q4_1]
 */
import { existsSync, readFileSync } from 'fs';
import { basename, join } from 'path';
import type { QuantizedDType } from '../../lib/core/dtype';
import type { TensorSource, WeightRequest } from '../../lib/core/source';
import { openModelDirectory } from '../../lib/loader/directory';
import { planWeights } from '../../lib/models/weights';
import { quantizer } from '../e2e/addon';
import { convertFloatBytes, ELEMENT_BYTES, FLOAT_DTYPE, readModelTensors, readTensorBytes } from '../models/safetensors';
import { syntheticVocab } from '../models/synthetic-vocab';
import { GgufTensorType, GgufWriter } from './gguf-writer';

/** llama.cpp's token types */
const TOKEN_TYPE = { normal: 1, control: 3, userDefined: 4, unused: 5 } as const;
/** llama.cpp's pooling types */
const POOLING = { mean: 1, cls: 2, last: 3 } as const;

export type Layout = { kind: 'copy' } | { kind: 'transpose' } | { kind: 'ropePermute'; heads: number };

type FloatType = Extract<GgufTensorType, 'F32' | 'F16'>;
const QUANT_TYPE: Partial<Record<string, GgufTensorType>> = { q8_0: 'Q8_0', q4_0: 'Q4_0', q4_1: 'Q4_1' };

export interface TensorMapping {
  gguf: string;
  src: string;
  layout: Layout;
  /** stays F32 in an F16 file (llama.cpp adds it to f32 activations directly) */
  f32?: boolean;
}

export type Config = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

export interface ConvertResult {
  architecture: string;
  tensors: number;
  outType: GgufTensorType;
}

/** ggml's general.file_type ("mostly" this type) */
const FILE_TYPE: Record<GgufTensorType, number> = { F32: 0, F16: 1, Q4_0: 2, Q4_1: 3, Q8_0: 7 };

/**
 * Writes a model's metadata into w — architecture, hyper-parameters, the tokenizer (dir's tokenizer.json, or a
 * synthetic vocabulary when dir has none), llama 3 rope factors — and answers where each GGUF tensor comes from
 * (Hugging Face names without the transformer / bert / model prefix, except for llama). Shared by the
 * converter below and bench/models/random-gguf.ts, which writes random quantized weights under the same names.
 */
export function describeForGguf(config: Config, dir: string, name: string, fileType: GgufTensorType, w: GgufWriter): { arch: 'llama' | 'gpt2' | 'bert'; mappings: TensorMapping[] } {
  const arch = ggufArchitecture(config);
  w.string('general.architecture', arch);
  w.string('general.name', name);
  w.u32('general.file_type', FILE_TYPE[fileType]);
  const mappings = arch === 'llama' ? llama(config, w) : arch === 'gpt2' ? gpt2(config, w) : bert(config, dir, w);
  if (arch === 'llama') addRopeFreqs(config, w);
  addTokenizer(config, dir, arch, w);
  return { arch, mappings };
}

export async function convertHfToGguf(dir: string, outPath: string, outType: GgufTensorType = 'F32'): Promise<ConvertResult> {
  const config: Config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  const tensors = await readModelTensors(dir);
  const w = new GgufWriter();
  const { arch, mappings } = describeForGguf(config, dir, basename(dir), outType, w);
  const strip = (name: string) => name.replace(/^(transformer|bert|model)\./, '');
  const byShortName = new Map([...tensors].map(([k, v]) => [arch === 'llama' ? k : strip(k), v]));
  const quantized = await quantizedRequests(dir, outType);
  for (const m of mappings) {
    const src = byShortName.get(m.src);
    if (!src) throw new Error(`hf-to-gguf: ${dir} has no tensor ${m.src} (needed for ${m.gguf})`);
    addTensor(w, m, src, outType, quantized?.get(src.name));
  }
  await w.write(outPath);
  return { architecture: arch, tensors: mappings.length, outType };
}

function ggufArchitecture(config: Config): 'llama' | 'gpt2' | 'bert' {
  const t = config.model_type;
  if (t === 'llama' || t === 'gpt2' || t === 'bert') return t;
  if (t === 'qwen2') return 'llama';
  throw new Error(`hf-to-gguf: model_type ${String(t)} is not converted (llama, qwen2, gpt2 and bert are)`);
}

/**
 * For a quantized file: what gpuformer's quantize-at-load asks of each tensor of the directory (by its Hugging
 * Face name), so the file holds each tensor in the type loading the directory with that dtype gives it.
 */
async function quantizedRequests(dir: string, outType: GgufTensorType): Promise<Map<string, WeightRequest> | undefined> {
  const q = Object.keys(QUANT_TYPE).find((k) => QUANT_TYPE[k] === outType) as QuantizedDType | undefined;
  if (!q) return undefined;
  const source = await openModelDirectory(dir);
  return planWeights(source.spec, source.tensors, { float: 'keep', keepQuantized: true, quantize: q }).requests;
}

function addTensor(w: GgufWriter, m: TensorMapping, src: TensorSource, outType: GgufTensorType, req?: WeightRequest): void {
  const from = FLOAT_DTYPE[src.dtype as keyof typeof FLOAT_DTYPE];
  if (!from) throw new Error(`hf-to-gguf: ${src.name} is ${src.dtype}; float tensors (f32, f16, bf16) are converted`);
  const blocks = req && QUANT_TYPE[req.dtype];
  // float tensors of a quantized file stay F32, as 1-D ones do in an F16 file
  const floatType: FloatType = src.shape.length === 1 || m.f32 || outType !== 'F16' ? 'F32' : 'F16';
  const type: GgufTensorType = blocks ?? floatType;
  const shape = m.layout.kind === 'transpose' ? [src.shape[1], src.shape[0]] : src.shape;
  w.addTensor({
    name: m.gguf, shape, type,
    chunks: function* () {
      let bytes = readTensorBytes(src);
      const elem = ELEMENT_BYTES[from];
      if (m.layout.kind === 'transpose') bytes = transposeBytes(bytes, src.shape[0], src.shape[1], elem);
      if (m.layout.kind === 'ropePermute') bytes = ropePermuteRows(bytes, m.layout.heads, src.shape[0], (src.shape[1] ?? 1) * elem);
      if (!blocks) {
        yield convertFloatBytes(bytes, from, floatType);
        return;
      }
      // the row-major values as they are stored, quantized by the native reference quantizer
      const aligned = new Uint8Array(bytes); // a copy at offset 0, so the typed view lines up
      const values = from === 'F32' ? new Float32Array(aligned.buffer) : new Uint16Array(aligned.buffer);
      yield quantizer()(req!.dtype as QuantizedDType, values, src.dtype);
    },
  });
}

/** [rows, cols] row-major → [cols, rows] row-major, for elements of elemBytes bytes. */
export function transposeBytes(src: Uint8Array, rows: number, cols: number, elemBytes: number): Uint8Array {
  const out = new Uint8Array(src.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const from = (r * cols + c) * elemBytes;
      out.set(src.subarray(from, from + elemBytes), (c * rows + r) * elemBytes);
    }
  }
  return out;
}

/**
 * Hugging Face stores each head's q/k rows in the rotate-half order (the first half of the head dims pairs
 * with the second half); llama.cpp's llama rotates adjacent pairs. Output row h·d + 2i + j takes input row
 * h·d + j·d/2 + i (d = head dim, i < d/2, j ∈ {0, 1}): convert_hf_to_gguf's permute.
 */
export function ropePermuteRows(src: Uint8Array, heads: number, rows: number, rowBytes: number): Uint8Array {
  const d = rows / heads;
  if (!Number.isInteger(d) || d % 2 !== 0) throw new Error(`ropePermuteRows: ${rows} rows do not split into ${heads} heads of even size`);
  const out = new Uint8Array(src.length);
  for (let h = 0; h < heads; h++) {
    for (let i = 0; i < d / 2; i++) {
      for (let j = 0; j < 2; j++) {
        const from = (h * d + j * (d / 2) + i) * rowBytes;
        out.set(src.subarray(from, from + rowBytes), (h * d + 2 * i + j) * rowBytes);
      }
    }
  }
  return out;
}

function ropeTheta(config: Config): number {
  return config.rope_theta ?? config.rope_parameters?.rope_theta ?? 10000;
}

function ropeScaling(config: Config): Config | null {
  const s = config.rope_scaling ?? config.rope_parameters;
  const type = s?.rope_type ?? s?.type;
  return type && type !== 'default' ? { ...s, type } : null;
}

function llama(c: Config, w: GgufWriter): TensorMapping[] {
  const heads = c.num_attention_heads;
  const kvHeads = c.num_key_value_heads ?? heads;
  const headDim = c.head_dim ?? c.hidden_size / heads;
  w.u32('llama.context_length', c.max_position_embeddings);
  w.u32('llama.embedding_length', c.hidden_size);
  w.u32('llama.block_count', c.num_hidden_layers);
  w.u32('llama.feed_forward_length', c.intermediate_size);
  w.u32('llama.attention.head_count', heads);
  w.u32('llama.attention.head_count_kv', kvHeads);
  w.u32('llama.rope.dimension_count', headDim);
  if (headDim !== c.hidden_size / heads) {
    w.u32('llama.attention.key_length', headDim);
    w.u32('llama.attention.value_length', headDim);
  }
  w.f32('llama.rope.freq_base', ropeTheta(c));
  w.f32('llama.attention.layer_norm_rms_epsilon', c.rms_norm_eps ?? 1e-6);
  w.u32('llama.vocab_size', c.vocab_size);
  const s = ropeScaling(c);
  if (s?.type === 'linear') {
    w.string('llama.rope.scaling.type', 'linear');
    w.f32('llama.rope.scaling.factor', s.factor);
  } else if (s && s.type !== 'llama3') {
    throw new Error(`hf-to-gguf: rope scaling ${s.type} is not converted (linear and llama3 are)`);
  }
  const qkvBias = c.model_type === 'qwen2'; // Qwen2: q/k/v biases (permuted like their rows), written as llama's
  const m: TensorMapping[] = [{ gguf: 'token_embd.weight', src: 'model.embed_tokens.weight', layout: { kind: 'copy' } }];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `model.layers.${i}`;
    m.push(
      { gguf: `blk.${i}.attn_norm.weight`, src: `${p}.input_layernorm.weight`, layout: { kind: 'copy' } },
      { gguf: `blk.${i}.attn_q.weight`, src: `${p}.self_attn.q_proj.weight`, layout: { kind: 'ropePermute', heads } },
      { gguf: `blk.${i}.attn_k.weight`, src: `${p}.self_attn.k_proj.weight`, layout: { kind: 'ropePermute', heads: kvHeads } },
      { gguf: `blk.${i}.attn_v.weight`, src: `${p}.self_attn.v_proj.weight`, layout: { kind: 'copy' } },
      ...(qkvBias ? [
        { gguf: `blk.${i}.attn_q.bias`, src: `${p}.self_attn.q_proj.bias`, layout: { kind: 'ropePermute', heads } },
        { gguf: `blk.${i}.attn_k.bias`, src: `${p}.self_attn.k_proj.bias`, layout: { kind: 'ropePermute', heads: kvHeads } },
        { gguf: `blk.${i}.attn_v.bias`, src: `${p}.self_attn.v_proj.bias`, layout: { kind: 'copy' } },
      ] as TensorMapping[] : []),
      { gguf: `blk.${i}.attn_output.weight`, src: `${p}.self_attn.o_proj.weight`, layout: { kind: 'copy' } },
      { gguf: `blk.${i}.ffn_norm.weight`, src: `${p}.post_attention_layernorm.weight`, layout: { kind: 'copy' } },
      { gguf: `blk.${i}.ffn_gate.weight`, src: `${p}.mlp.gate_proj.weight`, layout: { kind: 'copy' } },
      { gguf: `blk.${i}.ffn_up.weight`, src: `${p}.mlp.up_proj.weight`, layout: { kind: 'copy' } },
      { gguf: `blk.${i}.ffn_down.weight`, src: `${p}.mlp.down_proj.weight`, layout: { kind: 'copy' } },
    );
  }
  m.push({ gguf: 'output_norm.weight', src: 'model.norm.weight', layout: { kind: 'copy' } });
  // a tied head has no lm_head.weight: llama.cpp then reuses token_embd
  if (!c.tie_word_embeddings) m.push({ gguf: 'output.weight', src: 'lm_head.weight', layout: { kind: 'copy' } });
  return m;
}

/**
 * Llama 3 rope scaling is a per-frequency divisor table in llama.cpp (the rope_freqs tensor), computed as
 * transformers' _compute_llama3_parameters does.
 */
export function llama3RopeFactors(headDim: number, theta: number, s: Config): Float32Array {
  const lowWavelen = s.original_max_position_embeddings / s.low_freq_factor;
  const highWavelen = s.original_max_position_embeddings / s.high_freq_factor;
  const out = new Float32Array(headDim / 2);
  for (let i = 0; i < headDim / 2; i++) {
    const freq = 1 / theta ** ((2 * i) / headDim);
    const wavelen = (2 * Math.PI) / freq;
    if (wavelen < highWavelen) out[i] = 1;
    else if (wavelen > lowWavelen) out[i] = s.factor;
    else {
      const smooth = (s.original_max_position_embeddings / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
      out[i] = 1 / ((1 - smooth) / s.factor + smooth);
    }
  }
  return out;
}

function addRopeFreqs(c: Config, w: GgufWriter): void {
  const s = ropeScaling(c);
  if (s?.type !== 'llama3') return;
  const headDim = c.head_dim ?? c.hidden_size / c.num_attention_heads;
  const factors = llama3RopeFactors(headDim, ropeTheta(c), s);
  w.addTensor({ name: 'rope_freqs.weight', shape: [factors.length], type: 'F32', chunks: () => [new Uint8Array(factors.buffer)] });
}

function gpt2(c: Config, w: GgufWriter): TensorMapping[] {
  w.u32('gpt2.context_length', c.n_positions);
  w.u32('gpt2.embedding_length', c.n_embd);
  w.u32('gpt2.feed_forward_length', c.n_inner ?? 4 * c.n_embd);
  w.u32('gpt2.block_count', c.n_layer);
  w.u32('gpt2.attention.head_count', c.n_head);
  w.f32('gpt2.attention.layer_norm_epsilon', c.layer_norm_epsilon ?? 1e-5);
  const copy: Layout = { kind: 'copy' };
  const t: Layout = { kind: 'transpose' }; // Conv1D stores [in, out]
  const m: TensorMapping[] = [
    { gguf: 'token_embd.weight', src: 'wte.weight', layout: copy },
    { gguf: 'position_embd.weight', src: 'wpe.weight', layout: copy },
  ];
  for (let i = 0; i < c.n_layer; i++) {
    const p = `h.${i}`;
    m.push(
      { gguf: `blk.${i}.attn_norm.weight`, src: `${p}.ln_1.weight`, layout: copy },
      { gguf: `blk.${i}.attn_norm.bias`, src: `${p}.ln_1.bias`, layout: copy },
      { gguf: `blk.${i}.attn_qkv.weight`, src: `${p}.attn.c_attn.weight`, layout: t },
      { gguf: `blk.${i}.attn_qkv.bias`, src: `${p}.attn.c_attn.bias`, layout: copy },
      { gguf: `blk.${i}.attn_output.weight`, src: `${p}.attn.c_proj.weight`, layout: t },
      { gguf: `blk.${i}.attn_output.bias`, src: `${p}.attn.c_proj.bias`, layout: copy },
      { gguf: `blk.${i}.ffn_norm.weight`, src: `${p}.ln_2.weight`, layout: copy },
      { gguf: `blk.${i}.ffn_norm.bias`, src: `${p}.ln_2.bias`, layout: copy },
      { gguf: `blk.${i}.ffn_up.weight`, src: `${p}.mlp.c_fc.weight`, layout: t },
      { gguf: `blk.${i}.ffn_up.bias`, src: `${p}.mlp.c_fc.bias`, layout: copy },
      { gguf: `blk.${i}.ffn_down.weight`, src: `${p}.mlp.c_proj.weight`, layout: t },
      { gguf: `blk.${i}.ffn_down.bias`, src: `${p}.mlp.c_proj.bias`, layout: copy },
    );
  }
  m.push(
    { gguf: 'output_norm.weight', src: 'ln_f.weight', layout: copy },
    { gguf: 'output_norm.bias', src: 'ln_f.bias', layout: copy },
  );
  return m;
}

function bert(c: Config, dir: string, w: GgufWriter): TensorMapping[] {
  w.u32('bert.context_length', c.max_position_embeddings);
  w.u32('bert.embedding_length', c.hidden_size);
  w.u32('bert.feed_forward_length', c.intermediate_size);
  w.u32('bert.block_count', c.num_hidden_layers);
  w.u32('bert.attention.head_count', c.num_attention_heads);
  w.f32('bert.attention.layer_norm_epsilon', c.layer_norm_eps ?? 1e-12);
  w.bool('bert.attention.causal', false);
  w.u32('bert.pooling_type', POOLING[sentencePooling(dir)]);
  w.u32('tokenizer.ggml.token_type_count', c.type_vocab_size ?? 2);
  const copy: Layout = { kind: 'copy' };
  const m: TensorMapping[] = [
    { gguf: 'token_embd.weight', src: 'embeddings.word_embeddings.weight', layout: copy },
    { gguf: 'token_types.weight', src: 'embeddings.token_type_embeddings.weight', layout: copy, f32: true },
    { gguf: 'position_embd.weight', src: 'embeddings.position_embeddings.weight', layout: copy },
    { gguf: 'token_embd_norm.weight', src: 'embeddings.LayerNorm.weight', layout: copy },
    { gguf: 'token_embd_norm.bias', src: 'embeddings.LayerNorm.bias', layout: copy },
  ];
  const pairs: Array<[string, string]> = [
    ['attn_q', 'attention.self.query'], ['attn_k', 'attention.self.key'], ['attn_v', 'attention.self.value'],
    ['attn_output', 'attention.output.dense'], ['attn_output_norm', 'attention.output.LayerNorm'],
    ['ffn_up', 'intermediate.dense'], ['ffn_down', 'output.dense'], ['layer_output_norm', 'output.LayerNorm'],
  ];
  for (let i = 0; i < c.num_hidden_layers; i++) {
    for (const [g, h] of pairs) {
      for (const part of ['weight', 'bias']) {
        m.push({ gguf: `blk.${i}.${g}.${part}`, src: `encoder.layer.${i}.${h}.${part}`, layout: copy });
      }
    }
  }
  return m;
}

/** sentence-transformers pooling from modules.json → 1_Pooling/config.json; mean when absent. */
function sentencePooling(dir: string): 'mean' | 'cls' | 'last' {
  const p = join(dir, '1_Pooling', 'config.json');
  if (!existsSync(p)) return 'mean';
  const cfg = JSON.parse(readFileSync(p, 'utf8'));
  if (cfg.pooling_mode_cls_token) return 'cls';
  if (cfg.pooling_mode_lasttoken) return 'last';
  return 'mean';
}

function addTokenizer(c: Config, dir: string, arch: string, w: GgufWriter): void {
  const path = join(dir, 'tokenizer.json');
  const vocabSize: number = c.vocab_size;
  if (!existsSync(path)) {
    const bos = c.bos_token_id ?? vocabSize - 1;
    const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id ?? bos;
    const v = syntheticVocab(vocabSize, bos, eos);
    writeBpe(w, v.tokens, v.merges, v.special, new Set(), v.bosId, v.eosId);
    return;
  }
  const tj = JSON.parse(readFileSync(path, 'utf8'));
  const tokens = new Array<string>(vocabSize);
  for (const [t, id] of Object.entries(tj.model.vocab as Record<string, number>)) if (id < vocabSize) tokens[id] = t;
  const special = new Set<number>();
  const userDefined = new Set<number>();
  for (const a of tj.added_tokens ?? []) {
    if (a.id >= vocabSize) continue;
    tokens[a.id] = a.content;
    (a.special ? special : userDefined).add(a.id);
  }
  // rows past the tokenizer (embedding tables padded to a round size) get placeholder tokens
  for (let i = 0; i < vocabSize; i++) if (tokens[i] === undefined) { tokens[i] = `[PAD${i}]`; userDefined.add(i); }
  if (tj.model.type === 'WordPiece') {
    if (arch !== 'bert') throw new Error(`hf-to-gguf: a WordPiece tokenizer on a ${arch} model is not converted`);
    writeWordPiece(w, tokens, special, tj.model.vocab);
  } else if (tj.model.type === 'BPE') {
    const merges = (tj.model.merges as Array<string | [string, string]>).map((m) => (Array.isArray(m) ? m.join(' ') : m));
    const eos = Array.isArray(c.eos_token_id) ? c.eos_token_id[0] : c.eos_token_id;
    writeBpe(w, tokens, merges, special, userDefined, c.bos_token_id, eos);
  } else {
    throw new Error(`hf-to-gguf: tokenizer model ${tj.model.type} is not converted (BPE and WordPiece are)`);
  }
}

function tokenTypes(n: number, special: Set<number>, userDefined: Set<number>): number[] {
  return Array.from({ length: n }, (_, i) => special.has(i) ? TOKEN_TYPE.control : userDefined.has(i) ? TOKEN_TYPE.userDefined : TOKEN_TYPE.normal);
}

function writeBpe(w: GgufWriter, tokens: string[], merges: string[], special: Set<number>, userDefined: Set<number>,
  bos: number | undefined, eos: number | undefined): void {
  w.string('tokenizer.ggml.model', 'gpt2');
  w.string('tokenizer.ggml.pre', 'default');
  w.array('tokenizer.ggml.tokens', 'string', tokens);
  w.array('tokenizer.ggml.token_type', 'i32', tokenTypes(tokens.length, special, userDefined));
  w.array('tokenizer.ggml.merges', 'string', merges);
  if (bos !== undefined && bos !== null) w.u32('tokenizer.ggml.bos_token_id', bos);
  if (eos !== undefined && eos !== null) w.u32('tokenizer.ggml.eos_token_id', eos);
  w.bool('tokenizer.ggml.add_bos_token', false);
}

/** WordPiece as llama.cpp's "bert" tokenizer wants it: word starts carry "▁", continuations lose "##". */
function writeWordPiece(w: GgufWriter, tokens: string[], special: Set<number>, vocab: Record<string, number>): void {
  const phantom = (t: string, id: number) => special.has(id) || (t.startsWith('[') && t.endsWith(']')) ? t
    : t.startsWith('##') ? t.slice(2) : `\u2581${t}`;
  w.string('tokenizer.ggml.model', 'bert');
  w.array('tokenizer.ggml.tokens', 'string', tokens.map(phantom));
  w.array('tokenizer.ggml.token_type', 'i32', tokenTypes(tokens.length, special, new Set()));
  const id = (t: string) => vocab[t];
  const ids: Array<[string, string]> = [
    ['bos_token_id', '[CLS]'], ['cls_token_id', '[CLS]'], ['eos_token_id', '[SEP]'], ['seperator_token_id', '[SEP]'],
    ['unknown_token_id', '[UNK]'], ['padding_token_id', '[PAD]'], ['mask_token_id', '[MASK]'],
  ];
  for (const [key, tok] of ids) if (id(tok) !== undefined) w.u32(`tokenizer.ggml.${key}`, id(tok));
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const typeAt = args.indexOf('--type');
  const type = typeAt >= 0 ? args.splice(typeAt, 2)[1].toUpperCase() : 'F32';
  if (args.length !== 2 || !['F32', 'F16', ...Object.values(QUANT_TYPE)].includes(type)) {
    console.error('usage: hf-to-gguf MODEL_DIR OUT.gguf [--type f32|f16|q8_0|q4_0|q4_1]');
    process.exit(2);
  }
  const r = await convertHfToGguf(args[0], args[1], type as GgufTensorType);
  console.log(`${args[1]}: ${r.architecture}, ${r.tensors} tensors, ${r.outType}`);
}

if (require.main === module) main().catch((e) => { console.error(e); process.exit(1); });
