/**
 * The engine's tokenizer: an adapter over @huggingface/tokenizers (a maintained implementation of
 * tokenizer.json: BPE, WordPiece, Unigram, normalizers, pre-tokenizers, post-processors, added and special
 * tokens). Hugging Face directories hand it their tokenizer.json and tokenizer_config.json; GGUF files hand
 * it the tokenizer.json built from their metadata (lib/loader/gguf-tokenizer.ts).
 */
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { inputError } from '../errors';

export interface EncodeOptions {
  /** add the model's special tokens ([CLS]/[SEP], BOS…) as its post-processor says; default true */
  addSpecialTokens?: boolean;
}

export interface DecodeOptions {
  /** leave special tokens (EOS, end-of-turn, [SEP]…) out of the text; default true */
  skipSpecialTokens?: boolean;
}

export class TextTokenizer {
  private readonly tok: HfTokenizer;
  /** ids of the special added tokens (control tokens: BOS, EOS, end-of-turn, [CLS]…) */
  readonly specialIds: ReadonlySet<number>;

  constructor(json: Record<string, unknown>, config: Record<string, unknown> = {}) {
    try {
      this.tok = new HfTokenizer(json, config);
    } catch (e) {
      throw inputError(`tokenizer.json could not be read: ${(e as Error).message}`);
    }
    const special = new Set<number>();
    for (const [id, t] of this.tok.get_added_tokens_decoder()) if (t.special) special.add(id);
    this.specialIds = special;
  }

  encode(text: string, opts: EncodeOptions = {}): number[] {
    if (typeof text !== 'string') throw inputError(`tokenizer: expected a string, got ${typeof text}`);
    return this.tok.encode(text, { add_special_tokens: opts.addSpecialTokens ?? true }).ids;
  }

  /**
   * Encodes with special tokens and truncates to maxLength the way transformers' tokenizers do with
   * truncation=True (what sentence-transformers asks for): the text's own tokens are cut, the special
   * tokens the post-processor adds around them stay. For BERT and max 256: [CLS], the first 254 text
   * tokens, [SEP] — i.e. the first 255 ids and the final [SEP].
   */
  encodeTruncated(text: string, maxLength: number): number[] {
    const full = this.encode(text, { addSpecialTokens: true });
    if (full.length <= maxLength) return full;
    const body = this.encode(text, { addSpecialTokens: false });
    // the specials sit before and after the text's tokens: find where the body starts inside `full`
    let start = 0;
    while (start + body.length <= full.length && !body.every((id, i) => full[start + i] === id)) start++;
    if (start + body.length > full.length) return full.slice(0, maxLength); // no clean split: plain cut
    const suffix = full.slice(start + body.length);
    const keep = Math.max(maxLength - start - suffix.length, 0);
    return [...full.slice(0, start), ...body.slice(0, keep), ...suffix].slice(0, maxLength);
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
}
