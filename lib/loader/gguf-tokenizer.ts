/**
 * A tokenizer.json (and tokenizer_config.json) built in memory from a GGUF file's `tokenizer.ggml.*` metadata,
 * for @huggingface/tokenizers to run — gpuformer has no BPE of its own. Supported: byte-level BPE
 * (`tokenizer.ggml.model` = 'gpt2') with the pre-tokenizer llama.cpp uses for the file's `tokenizer.ggml.pre`,
 * and SentencePiece BPE ('llama'). Other models (WordPiece, Unigram, RWKV…) are ERR_GPUFORMER_UNSUPPORTED.
 */
import { badWeights, unsupported } from '../errors';
import type { GgufMeta } from './gguf-metadata';
import { ggufPreTokenizer } from './gguf-pre-tokenizers';

/** llama.cpp's token types (tokenizer.ggml.token_type). */
enum TokenType {
  NORMAL = 1,
  UNKNOWN = 2,
  CONTROL = 3,
  USER_DEFINED = 4,
  UNUSED = 5,
  BYTE = 6,
}

interface SpecialToken {
  id: number;
  token: string;
}

export interface TokenizerFiles {
  /** tokenizer.json content */
  json: Record<string, unknown>;
  /** tokenizer_config.json content: add_bos_token / add_eos_token, special token strings, … */
  config: Record<string, unknown>;
}

/** Builds tokenizer.json + config from GGUF metadata; undefined when the file carries no tokenizer. */
export function ggufTokenizer(meta: GgufMeta): TokenizerFiles | undefined {
  const model = meta.string('tokenizer.ggml.model');
  if (model === undefined || model === 'none' || model === 'no_vocab') return undefined;
  if (model !== 'gpt2' && model !== 'llama') {
    throw unsupported(`${meta.path}: GGUF tokenizer model '${model}' is not supported ` +
      '(supported: gpt2 byte-level BPE, llama SentencePiece BPE)');
  }
  const tokens = meta.strings('tokenizer.ggml.tokens');
  if (!tokens || tokens.length === 0) throw badWeights(`${meta.path}: tokenizer.ggml.tokens is missing or empty`);
  const types = meta.integers('tokenizer.ggml.token_type');
  if (types && types.length !== tokens.length) {
    throw badWeights(`${meta.path}: tokenizer.ggml.token_type has ${types.length} entries for ${tokens.length} tokens`);
  }
  const typeOf = (id: number) => types?.[id] ?? TokenType.NORMAL;

  const ids = new Map<string, number>();
  const added: Array<Record<string, unknown>> = [];
  tokens.forEach((token, id) => {
    // llama.cpp refuses such files too: a spelling with two ids cannot be encoded
    const twin = ids.get(token);
    if (twin !== undefined) throw badWeights(`${meta.path}: token ${JSON.stringify(token)} appears twice (ids ${twin} and ${id})`);
    ids.set(token, id);
    const type = typeOf(id);
    // llama.cpp finds control, unknown and user-defined tokens in the text whole, before BPE runs; the ones
    // that are not user-defined are special (left out when decoding for display)
    if (type === TokenType.CONTROL || type === TokenType.UNKNOWN || type === TokenType.USER_DEFINED) {
      added.push({
        id, content: token, single_word: false, lstrip: false, rstrip: false, normalized: false,
        special: type !== TokenType.USER_DEFINED,
      });
    }
  });

  const tokenAt = (key: string): SpecialToken | undefined => {
    const id = meta.uint(key);
    if (id === undefined) return undefined;
    if (id >= tokens.length) throw badWeights(`${meta.path}: ${key} ${id} is outside the vocabulary (${tokens.length} tokens)`);
    return { id, token: tokens[id] };
  };
  const bos = tokenAt('tokenizer.ggml.bos_token_id');
  const eos = tokenAt('tokenizer.ggml.eos_token_id');
  const unk = tokenAt('tokenizer.ggml.unknown_token_id');
  const pad = tokenAt('tokenizer.ggml.padding_token_id');
  for (const key of ['tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) tokenAt(key);
  const { addBosByDefault, ...pipeline } = model === 'gpt2' ? byteLevelBpe(meta, ids) :
    sentencePieceBpe(meta, tokens, typeOf, ids, unk);
  // llama.cpp's defaults: SentencePiece vocabularies and some BPE pre-tokenizer groups add BOS
  const addBos = meta.bool('tokenizer.ggml.add_bos_token') ?? (addBosByDefault && bos !== undefined);
  const addEos = meta.bool('tokenizer.ggml.add_eos_token') ?? false;
  if (addBos && bos === undefined) throw badWeights(`${meta.path}: tokenizer.ggml.add_bos_token is set but there is no bos_token_id`);
  if (addEos && eos === undefined) throw badWeights(`${meta.path}: tokenizer.ggml.add_eos_token is set but there is no eos_token_id`);

  const json = {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: added,
    ...pipeline,
    post_processor: postProcessor(addBos ? bos : undefined, addEos ? eos : undefined),
  };
  const config: Record<string, unknown> = {
    add_bos_token: addBos,
    add_eos_token: addEos,
    // decoding is exact: no "tidying" of spaces before punctuation
    clean_up_tokenization_spaces: false,
    model_max_length: meta.uint('llama.context_length'),
    ...(bos ? { bos_token: bos.token, bos_token_id: bos.id } : {}),
    ...(eos ? { eos_token: eos.token, eos_token_id: eos.id } : {}),
    ...(unk ? { unk_token: unk.token } : {}),
    ...(pad ? { pad_token: pad.token } : {}),
  };
  const template = meta.string('tokenizer.chat_template');
  if (template !== undefined) config.chat_template = template;
  return { json, config };
}

interface Pipeline {
  normalizer: unknown;
  pre_tokenizer: unknown;
  decoder: unknown;
  model: unknown;
  addBosByDefault: boolean;
}

/** GPT-2 style: the file's merges over byte-level symbols, split first as llama.cpp does for its `pre` (gguf-pre-tokenizers.ts). */
function byteLevelBpe(meta: GgufMeta, ids: Map<string, number>): Pipeline {
  const merges = meta.strings('tokenizer.ggml.merges');
  if (!merges) throw badWeights(`${meta.path}: a gpt2 tokenizer needs tokenizer.ggml.merges`);
  merges.forEach((merge, i) => {
    const space = merge.indexOf(' ');
    if (space <= 0 || merge.indexOf(' ', space + 1) >= 0 ||
        !ids.has(merge.slice(0, space)) || !ids.has(merge.slice(space + 1))) {
      throw badWeights(`${meta.path}: tokenizer.ggml.merges[${i}] ${JSON.stringify(merge)} is not two vocabulary tokens`);
    }
  });
  const pre = ggufPreTokenizer(meta.string('tokenizer.ggml.pre'), meta.path);
  return {
    normalizer: null,
    pre_tokenizer: pre.preTokenizer,
    decoder: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: pre.ignoreMerges, vocab: Object.fromEntries(ids), merges,
    },
    addBosByDefault: pre.addBos,
  };
}

/**
 * SentencePiece BPE (llama.cpp's 'llama' vocabularies): spaces become U+2581, each text section gets one
 * prepended (add_space_prefix: llama.cpp prefixes the text at the start and after every special token —
 * the normalizer runs once per section between added tokens, so it does the same), then pieces merge by
 * score. llama.cpp merges the adjacent pair whose concatenation is the highest-scoring piece; a BPE whose
 * merges are every split (a, b) of every piece, ranked by the piece's score, merges the same way (how
 * transformers converts SentencePiece models). Characters outside the vocabulary fall back to <0xXX> byte
 * tokens.
 */
function sentencePieceBpe(meta: GgufMeta, tokens: string[], typeOf: (id: number) => number,
  ids: Map<string, number>, unk: SpecialToken | undefined): Pipeline {
  const scores = meta.floats('tokenizer.ggml.scores');
  if (!scores || scores.length !== tokens.length) {
    throw badWeights(`${meta.path}: a llama tokenizer needs tokenizer.ggml.scores, one per token ` +
      `(found ${scores?.length ?? 0} for ${tokens.length} tokens)`);
  }
  const mergeable = (id: number) => typeOf(id) === TokenType.NORMAL || typeOf(id) === TokenType.USER_DEFINED;
  const candidates: Array<{ left: string; right: string; score: number; leftId: number; rightId: number }> = [];
  tokens.forEach((piece, id) => {
    if (!mergeable(id)) return;
    const local: typeof candidates = [];
    // split points between code points, not UTF-16 units
    for (let at = 0, cp = piece.codePointAt(0)!; ; cp = piece.codePointAt(at)!) {
      at += cp > 0xffff ? 2 : 1;
      if (at >= piece.length) break;
      const left = piece.slice(0, at);
      const right = piece.slice(at);
      const leftId = ids.get(left);
      const rightId = ids.get(right);
      if (leftId !== undefined && rightId !== undefined && mergeable(leftId) && mergeable(rightId)) {
        local.push({ left, right, score: scores[id], leftId, rightId });
      }
    }
    local.sort((a, b) => a.leftId - b.leftId || a.rightId - b.rightId);
    candidates.push(...local);
  });
  candidates.sort((a, b) => b.score - a.score); // stable: ties keep vocabulary order
  const addSpacePrefix = meta.bool('tokenizer.ggml.add_space_prefix') ?? true;
  const normalizers: Array<Record<string, unknown>> = [
    ...(addSpacePrefix ? [{ type: 'Prepend', prepend: '\u2581' }] : []),
    { type: 'Replace', pattern: { String: ' ' }, content: '\u2581' },
  ];
  return {
    normalizer: { type: 'Sequence', normalizers },
    pre_tokenizer: null,
    decoder: {
      type: 'Sequence',
      decoders: [
        { type: 'Replace', pattern: { String: '\u2581' }, content: ' ' },
        { type: 'ByteFallback' },
        { type: 'Fuse' },
        ...(addSpacePrefix ? [{ type: 'Strip', content: ' ', start: 1, stop: 0 }] : []),
      ],
    },
    model: {
      type: 'BPE', dropout: null, unk_token: unk?.token ?? null, continuing_subword_prefix: null,
      end_of_word_suffix: null, fuse_unk: true, byte_fallback: true, ignore_merges: false,
      vocab: Object.fromEntries(ids), merges: candidates.map((m) => [m.left, m.right]),
    },
    addBosByDefault: true,
  };
}

/** BOS / EOS around the text, when the metadata asks for them. */
function postProcessor(bos: SpecialToken | undefined, eos: SpecialToken | undefined): Record<string, unknown> | null {
  if (bos === undefined && eos === undefined) return null;
  const around = (sequence: 'A' | 'B') => [
    ...(bos ? [{ SpecialToken: { id: bos.token, type_id: 0 } }] : []),
    { Sequence: { id: sequence, type_id: 0 } },
    ...(eos ? [{ SpecialToken: { id: eos.token, type_id: 0 } }] : []),
  ];
  const specialTokens: Record<string, unknown> = {};
  for (const t of [bos, eos]) if (t) specialTokens[t.token] = { id: t.token, ids: [t.id], tokens: [t.token] };
  return { type: 'TemplateProcessing', single: around('A'), pair: [...around('A'), ...around('B')], special_tokens: specialTokens };
}
