/**
 * The engine's tokenizer: an adapter over @huggingface/tokenizers (a maintained implementation of
 * tokenizer.json: BPE, WordPiece, Unigram, normalizers, pre-tokenizers, post-processors, added and special
 * tokens). Hugging Face directories hand it their tokenizer.json and tokenizer_config.json; GGUF files hand
 * it the tokenizer.json built from their metadata (lib/loader/gguf-tokenizer.ts).
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { GpuformerError, inputError } from '../errors';
import { PieceBytes, pieceBytes } from './token-bytes';

/** What a TextTokenizer is built from: tokenizer.json and tokenizer_config.json, parsed. */
export interface TokenizerFiles {
  json: Record<string, unknown>;
  config?: Record<string, unknown>;
}

export interface EncodeOptions {
  /** add the model's special tokens ([CLS]/[SEP], BOS…) as its post-processor says; default true */
  addSpecialTokens?: boolean;
}

/** What encodeBatch does with each text: special tokens, truncation, a length past which only the count matters. */
export interface BatchEncodeOptions extends EncodeOptions {
  /** cut each text's tokens to this many as encodeTruncated does (sentence-transformers' truncation) */
  truncateTo?: number;
  /** a text with more tokens than this is answered with its count instead of its ids (the caller refuses it) */
  limit?: number;
}

/** A text encodeBatch found longer than `limit`: its token count, not its ids. */
export interface TooLong {
  tooLong: number;
}

/** Two texts a model reads as one input (a query and a passage, two sentences): [CLS] a [SEP] b [SEP] for BERT. */
export type TextPair = readonly [string, string];

/** A pair's ids and token types (the post-processor's: 0 for the first text and its specials, 1 for the second's, for BERT). */
export interface PairIds {
  ids: number[];
  typeIds: number[];
}

/** Where the post-processor puts a pair's two texts among its special tokens, with the token type of each part. */
interface PairLayout {
  prefix: number[];
  middle: number[];
  suffix: number[];
  /** token types of prefix, a, middle, b, suffix */
  types: { prefix: number[]; a: number; middle: number[]; b: number; suffix: number[] };
}

export interface DecodeOptions {
  /** leave special tokens (EOS, end-of-turn, [SEP]…) out of the text; default true */
  skipSpecialTokens?: boolean;
}

export class TextTokenizer {
  private readonly tok: HfTokenizer;
  /** ids of the special added tokens (control tokens: BOS, EOS, end-of-turn, [CLS]…) */
  readonly specialIds: ReadonlySet<number>;
  /** ids of every added token (their text is literal, not in the model's byte alphabet) */
  private readonly addedIds: ReadonlySet<number>;
  /** how a vocabulary piece becomes bytes (token-bytes.ts); null where the decoder is not one it knows */
  private readonly pieceBytes: PieceBytes | null;

  /** specialLayout once worked out (undefined: not yet) */
  private layout: { prefix: number[]; suffix: number[] } | null | undefined;
  /** pairLayout once worked out (undefined: not yet) */
  private pairLayoutCache: PairLayout | null | undefined;
  /** maxBytesPerToken once worked out (null: not yet) */
  private byteBound: number | undefined | null = null;

  constructor(private readonly json: Record<string, unknown>, config: Record<string, unknown> = {}) {
    try {
      this.tok = new HfTokenizer(json, config);
    } catch (e) {
      throw inputError(`tokenizer.json could not be read: ${(e as Error).message}`);
    }
    const special = new Set<number>();
    const added = new Set<number>();
    for (const [id, t] of this.tok.get_added_tokens_decoder()) {
      added.add(id);
      if (t.special) special.add(id);
    }
    this.specialIds = special;
    this.addedIds = added;
    try {
      this.pieceBytes = pieceBytes(json.decoder as Record<string, unknown> | null);
    } catch (e) {
      if (!(e instanceof GpuformerError)) throw e;
      this.pieceBytes = null;
    }
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw inputError(`tokenizer: expected a string, got ${typeof text}`);
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /**
   * Encodes with special tokens and truncates to maxLength the way transformers' tokenizers do with
   * truncation=True (what sentence-transformers asks for): the text's own tokens are cut, the special
   * tokens the post-processor adds around them stay. For BERT and max 256: [CLS], the first 254 text
   * tokens, [SEP] — i.e. the first 255 ids and the final [SEP]. The text is encoded once (a 7 MiB input
   * costs one pass, not two), its special tokens placed as the post-processor places them (specialLayout).
   */
  encodeTruncated(text: string, maxLength: number): number[] {
    const layout = this.specialLayout();
    if (!layout) return this.truncateFromFull(text, maxLength);
    const body = this.encode(text, { addSpecialTokens: false });
    const keep = Math.max(maxLength - layout.prefix.length - layout.suffix.length, 0);
    return [...layout.prefix, ...body.slice(0, keep), ...layout.suffix].slice(0, maxLength);
  }

  /**
   * A text pair as the model reads it: both texts with the special tokens the post-processor puts around and
   * between them, and its token types ([CLS] a [SEP] b [SEP], types 0 … 0 1 … 1 for BERT). With maxLength,
   * the texts' own tokens are cut 'longest first' as transformers' fast tokenizers do with truncation=True
   * (what sentence-transformers' CrossEncoder asks for): when both must shrink, each keeps half the room.
   */
  encodePair(pair: TextPair, maxLength?: number): PairIds {
    const [a, b] = pair;
    if (typeof a !== 'string' || typeof b !== 'string') throw inputError('tokenizer: a text pair must be two strings');
    const layout = this.pairLayout();
    if (!layout) {
      const e = this.tok.encode(a, { text_pair: b, add_special_tokens: true, return_token_type_ids: true });
      if (maxLength !== undefined && e.ids.length > maxLength) {
        throw inputError(`this tokenizer's pair template cannot be truncated; the pair has ${e.ids.length} tokens, more than ${maxLength}`);
      }
      return { ids: e.ids, typeIds: e.token_type_ids ?? new Array(e.ids.length).fill(0) };
    }
    let bodyA = this.encode(a, { addSpecialTokens: false });
    let bodyB = this.encode(b, { addSpecialTokens: false });
    if (maxLength !== undefined) {
      const room = Math.max(0, maxLength - layout.prefix.length - layout.middle.length - layout.suffix.length);
      const [na, nb] = longestFirst(bodyA.length, bodyB.length, room);
      bodyA = bodyA.slice(0, na);
      bodyB = bodyB.slice(0, nb);
    }
    const t = layout.types;
    return {
      ids: [...layout.prefix, ...bodyA, ...layout.middle, ...bodyB, ...layout.suffix],
      typeIds: [...t.prefix, ...bodyA.map(() => t.a), ...t.middle, ...bodyB.map(() => t.b), ...t.suffix],
    };
  }

  /**
   * Several texts or text pairs, each encoded (or truncated) alone: the one routine the tokenizer's worker
   * threads and the inline path both run (lib/tokenizer/pool.ts), so a text's ids never depend on where it
   * was tokenized. A pair answers with its ids and token types.
   */
  encodeBatch(items: ReadonlyArray<string | TextPair>, opts: BatchEncodeOptions = {}): Array<number[] | PairIds | TooLong> {
    return items.map((item) => {
      const encoded = typeof item !== 'string' ? this.encodePair(item, opts.truncateTo)
        : opts.truncateTo !== undefined ? this.encodeTruncated(item, opts.truncateTo) : this.encode(item, opts);
      const n = Array.isArray(encoded) ? encoded.length : encoded.ids.length;
      return opts.limit !== undefined && n > opts.limit ? { tooLong: n } : encoded;
    });
  }

  /**
   * The most bytes of input text one token can stand for, where the tokenizer's kind proves a bound, so a
   * text's byte length alone shows it has at least bytes / maxBytesPerToken tokens and an over-long prompt is
   * refused before it is tokenized. Proven for byte-level BPE (GPT-2, Llama 3, SmolLM2, Qwen without a
   * normalizer): nothing normalizes the text, the pre-tokenizers only split it (none removes what it
   * matches), every input byte becomes one character of exactly one token, so no token covers more bytes
   * than its longest vocabulary entry or added token has, and no added token swallows whitespace around it
   * (lstrip / rstrip). Undefined for every other tokenizer (WordPiece drops whitespace, normalizers shrink
   * text, Metaspace rewrites it): those are only counted by tokenizing.
   */
  get maxBytesPerToken(): number | undefined {
    if (this.byteBound === null) this.byteBound = byteLevelBound(this.json);
    return this.byteBound;
  }

  /**
   * The special tokens the post-processor puts before and after a text's own tokens ([CLS] … [SEP] for
   * BERT, nothing for GPT-2), read off two probe texts; null when the two disagree or the text's tokens are
   * not found whole inside the encoding, and encodeTruncated then splits each text's own encodings.
   */
  private specialLayout(): { prefix: number[]; suffix: number[] } | null {
    if (this.layout !== undefined) return this.layout;
    const probe = (text: string) => splitSpecials(this.encode(text, { addSpecialTokens: true }), this.encode(text, { addSpecialTokens: false }));
    const a = probe('a');
    const b = probe('Hello, world: 42 times!');
    const same = a && b && JSON.stringify(a) === JSON.stringify(b);
    this.layout = same ? a : null;
    return this.layout;
  }

  /**
   * Where the post-processor puts a pair's texts among its special tokens, read off two probe pairs; null when
   * the two disagree or a text's tokens are not found whole (encodePair then cannot truncate).
   */
  private pairLayout(): PairLayout | null {
    if (this.pairLayoutCache !== undefined) return this.pairLayoutCache;
    const probe = (a: string, b: string): PairLayout | null => {
      const e = this.tok.encode(a, { text_pair: b, add_special_tokens: true, return_token_type_ids: true });
      const types = e.token_type_ids ?? new Array(e.ids.length).fill(0);
      const first = splitSpecials(e.ids, this.encode(a, { addSpecialTokens: false }));
      const bodyB = this.encode(b, { addSpecialTokens: false });
      if (!first) return null;
      const startA = first.prefix.length;
      const startRest = e.ids.length - first.suffix.length;
      const second = splitSpecials(first.suffix, bodyB);
      if (!second || bodyB.length === 0) return null;
      const startB = startRest + second.prefix.length;
      return {
        prefix: first.prefix, middle: second.prefix, suffix: second.suffix,
        types: {
          prefix: types.slice(0, startA), a: types[startA], middle: types.slice(startRest, startB), b: types[startB],
          suffix: types.slice(startB + bodyB.length),
        },
      };
    };
    const x = probe('a', 'b');
    const y = probe('Hello, world: 42 times!', 'And a second text, 7 words long.');
    this.pairLayoutCache = x && y && JSON.stringify(x) === JSON.stringify(y) ? x : null;
    return this.pairLayoutCache;
  }

  /** encodeTruncated by encoding the text twice, with and without special tokens, and splitting the two. */
  private truncateFromFull(text: string, maxLength: number): number[] {
    const full = this.encode(text, { addSpecialTokens: true });
    if (full.length <= maxLength) return full;
    const body = this.encode(text, { addSpecialTokens: false });
    const split = splitSpecials(full, body);
    if (!split) return full.slice(0, maxLength); // no clean split: plain cut
    const keep = Math.max(maxLength - split.prefix.length - split.suffix.length, 0);
    return [...split.prefix, ...body.slice(0, keep), ...split.suffix].slice(0, maxLength);
  }

  decode(ids: number[], opts: DecodeOptions = {}): string {
    if (ids.length === 0) return ''; // the library refuses an empty list
    return this.tok.decode(ids, { skip_special_tokens: opts.skipSpecialTokens ?? true });
  }

  /** The id of a token string (special tokens included), or undefined. */
  tokenToId(token: string): number | undefined {
    return this.tok.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tok.id_to_token(id);
  }

  /**
   * One token's text on its own, special tokens included (what log-probabilities name a token by); a token
   * that is only part of a character shows U+FFFD, as it does in vLLM.
   */
  tokenText(id: number): string {
    return this.decode([id], { skipSpecialTokens: false });
  }

  /**
   * One token's bytes as it adds them to a text after other tokens (token-bytes.ts): exact for byte-level BPE
   * (GPT-2, Llama 3, SmolLM), SentencePiece (▁ a space, <0xE2> one byte, even inside a UTF-8 character) and
   * WordPiece; an added token's own text. Under a decoder token-bytes.ts does not know, the UTF-8 of tokenText.
   */
  tokenBytes(id: number): number[] {
    const piece = this.tok.id_to_token(id);
    if (piece !== undefined && !this.addedIds.has(id) && this.pieceBytes) return [...this.pieceBytes(piece)];
    return [...Buffer.from(this.tokenText(id), 'utf8')];
  }
}

/** The ids before and after `body` (a text's own tokens) inside `full` (the same text with special tokens); null if `body` is not in it. */
function splitSpecials(full: number[], body: number[]): { prefix: number[]; suffix: number[] } | null {
  let start = 0;
  while (start + body.length <= full.length && !body.every((id, i) => full[start + i] === id)) start++;
  if (body.length === 0 || start + body.length > full.length) return null;
  return { prefix: full.slice(0, start), suffix: full.slice(start + body.length) };
}

/**
 * How many of two texts' tokens a pair keeps in `room` tokens, as Hugging Face tokenizers' 'longest_first'
 * truncation decides: when only the longer text must shrink it gives up what is needed; when both must,
 * each keeps half the room (the longer one the odd token).
 */
export function longestFirst(na: number, nb: number, room: number): [number, number] {
  if (na + nb <= room) return [na, nb];
  const swap = na > nb;
  let short = swap ? nb : na;
  let long = short > room ? short : Math.max(short, room - short);
  if (short + long > room) {
    short = Math.floor(room / 2);
    long = short + (room % 2);
  }
  const [ka, kb] = swap ? [long, short] : [short, long];
  return [Math.min(na, ka), Math.min(nb, kb)];
}

/** Pre-tokenizers that only split the text (or map each byte to a character) and keep every byte of it. */
const KEEPING_PRE_TOKENIZERS = new Set(['ByteLevel', 'Split', 'Digits', 'Punctuation']);

/** maxBytesPerToken's bound for a tokenizer.json, or undefined where the kind of tokenizer proves none. */
function byteLevelBound(json: Record<string, unknown>): number | undefined {
  const model = json.model as { type?: string; vocab?: Record<string, number>; fuse_unk?: boolean } | undefined;
  if (model?.type !== 'BPE' || model.fuse_unk || !model.vocab || json.normalizer) return undefined;
  const pre = json.pre_tokenizer as { type?: string; pretokenizers?: unknown[] } | null | undefined;
  const steps = (pre?.type === 'Sequence' ? pre.pretokenizers ?? [] : pre ? [pre] : []) as Array<{ type?: string; behavior?: string }>;
  if (!steps.some((p) => p.type === 'ByteLevel')) return undefined;
  if (!steps.every((p) => KEEPING_PRE_TOKENIZERS.has(p.type ?? '') && p.behavior !== 'Removed')) return undefined;
  let max = 0;
  // byte-level vocabulary entries spell one byte per character
  for (const token of Object.keys(model.vocab)) max = Math.max(max, token.length);
  for (const t of (json.added_tokens ?? []) as Array<{ content: string; lstrip?: boolean; rstrip?: boolean }>) {
    if (t.lstrip || t.rstrip) return undefined;
    max = Math.max(max, Buffer.byteLength(t.content));
  }
  return max > 0 ? max : undefined;
}
