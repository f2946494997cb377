/**
 * Incremental detokenization for streaming: turns generated ids into text pieces as they arrive, never
 * emitting half a character. Byte-level BPE tokens can end inside a multi-byte UTF-8 sequence (an emoji is
 * often 2–4 tokens); decoding such a prefix yields U+FFFD, so text is held back until the character completes.
 * Decoders also depend on neighbours (Metaspace drops the leading space of the first token; WordPiece
 * joins '##' pieces), so each new piece is the difference between decoding a short window with and without
 * the new tokens (the approach of Hugging Face TGI and vLLM).
 */
import type { DecodeOptions, TextTokenizer } from './tokenizer';

const REPLACEMENT = '\uFFFD';
/** prompt tokens kept as left context so the first generated token decodes as it would mid-text */
const CONTEXT_TOKENS = 5;

export class IncrementalDetokenizer {
  private ids: number[];
  /** start of the decode window */
  private prefixOffset = 0;
  /** ids before this offset have been emitted as text */
  private readOffset: number;

  /** @param opts how the text is decoded (skipSpecialTokens, default true) */
  constructor(private readonly tokenizer: TextTokenizer, promptIds: number[] = [], private readonly opts: DecodeOptions = {}) {
    this.ids = promptIds.slice(-CONTEXT_TOKENS);
    this.readOffset = this.ids.length;
  }

  /** Adds one generated id; returns the text it completes ('' while a character is still incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.opts);
    const newText = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.opts);
    // nothing printable yet (a skipped special token), or an incomplete character at the end: wait
    if (newText.length <= prefixText.length || newText.endsWith(REPLACEMENT)) return '';
    return this.advance(newText.slice(prefixText.length));
  }

  /**
   * The text still held back when generation ends. An incomplete trailing character (the token budget ran
   * out in the middle of one) is dropped rather than emitted broken.
   */
  flush(): string {
    const prefixText = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset), this.opts);
    let text = this.tokenizer.decode(this.ids.slice(this.prefixOffset), this.opts);
    while (text.endsWith(REPLACEMENT)) text = text.slice(0, -1);
    const piece = text.length > prefixText.length ? text.slice(prefixText.length) : '';
    this.prefixOffset = this.readOffset = this.ids.length;
    return piece;
  }

  private advance(piece: string): string {
    this.prefixOffset = this.readOffset;
    this.readOffset = this.ids.length;
    // the window only needs its last few ids; drop the rest so decoding stays O(window) per token
    if (this.prefixOffset > 64) {
      this.ids = this.ids.slice(this.prefixOffset);
      this.readOffset -= this.prefixOffset;
      this.prefixOffset = 0;
    }
    return piece;
  }
}

