/**
 * The bytes one token adds to a text, read from tokenizer.json's decoder: the one place that knows how a
 * vocabulary piece becomes text. TextTokenizer.tokenBytes (log-probabilities' `bytes`) and structured
 * output's vocabulary (lib/structured/vocabulary.ts) both read it.
 *
 * A token's bytes are what it adds after other tokens (mid-text), exact even when it is only part of a UTF-8
 * character:
 * - byte-level BPE (GPT-2, Llama 3, SmolLM: the ByteLevel decoder) spells each byte as one printable
 *   character (BYTE_OF_CHAR);
 * - SentencePiece vocabularies (Llama 2, Mistral: Metaspace, or Replace ▁ → space with ByteFallback) spell a
 *   space as ▁ and a byte outside the vocabulary as <0xXX>;
 * - WordPiece (BERT) joins a ##-continuation to the word before it and puts a space before any other piece
 *   (then its per-token cleanup: no space before . , ? ! and the like).
 * Decoders that only trim the start of the whole text (Strip, a Metaspace prefix) do not touch a token after
 * others: decoding one token alone does ("▁the" alone decodes to "the"), which is why the bytes are not read
 * from decode([id]).
 */
import { unsupported } from '../errors';

/** GPT-2's byte-level alphabet reversed: the character that stands for each byte → the byte. */
export const BYTE_OF_CHAR: ReadonlyMap<string, number> = (() => {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const m = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) m.set(String.fromCodePoint(printable(b) ? b : 256 + extra++), b);
  return m;
})();

/** The same alphabet as a table by character code (read once per character of a 49k-piece vocabulary). */
const BYTE_OF_CODE: Int16Array = (() => {
  const table = new Int16Array(0x200).fill(-1);
  for (const [ch, b] of BYTE_OF_CHAR) table[ch.charCodeAt(0)] = b;
  return table;
})();

/** The bytes a vocabulary piece (a model token, not an added one) adds to a text after other tokens. */
export type PieceBytes = (piece: string) => Uint8Array;

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** Hugging Face's clean_up_tokenization, which the WordPiece decoder applies to each token when `cleanup` is set. */
const cleanUp = (t: string) => t.replace(/ \./g, '.').replace(/ \?/g, '?').replace(/ !/g, '!').replace(/ ,/g, ',')
  .replace(/ ' /g, "'").replace(/ n't/g, "n't").replace(/ 'm/g, "'m").replace(/ 's/g, "'s").replace(/ 've/g, "'ve").replace(/ 're/g, "'re");

function byteLevelPiece(piece: string): Uint8Array {
  const out = new Uint8Array(piece.length);
  for (let i = 0; i < piece.length; i++) {
    const c = piece.charCodeAt(i);
    const b = c < BYTE_OF_CODE.length ? BYTE_OF_CODE[c] : -1;
    if (b < 0) return utf8(piece); // not byte-level text: its own characters
    out[i] = b;
  }
  return out;
}

/**
 * How tokenizer.json's `decoder` turns one piece into bytes. ERR_GPUFORMER_UNSUPPORTED naming the decoder
 * where it is one whose per-token text this does not know (a regex Replace, CTC, BPEDecoder's suffixes…).
 */
export function pieceBytes(decoder: Record<string, unknown> | null | undefined): PieceBytes {
  if (!decoder) throw unsupported('the tokenizer has no decoder, so the text of its tokens is unknown');
  if (decoder.type === 'ByteLevel') return byteLevelPiece;
  if (decoder.type === 'WordPiece') {
    const prefix = typeof decoder.prefix === 'string' ? decoder.prefix : '##';
    const cleanup = decoder.cleanup !== false;
    return (piece) => {
      const t = prefix && piece.startsWith(prefix) ? piece.slice(prefix.length) : ` ${piece}`;
      return utf8(cleanup ? cleanUp(t) : t);
    };
  }
  // a sequence of per-token rewrites: Replace, ByteFallback, Metaspace; Fuse and Strip act on the whole text
  const steps = decoder.type === 'Sequence' ? (decoder.decoders as Array<Record<string, unknown>>) : [decoder];
  let byteFallback = false;
  const replaces: Array<[string, string]> = [];
  for (const d of steps) {
    switch (d.type) {
      case 'Replace': {
        const pattern = d.pattern as { String?: string } | undefined;
        if (typeof pattern?.String !== 'string' || typeof d.content !== 'string') {
          throw unsupported('the tokenizer\'s Replace decoder has a regex pattern, so the text of its tokens is unknown');
        }
        replaces.push([pattern.String, d.content]);
        break;
      }
      case 'Metaspace':
        replaces.push([typeof d.replacement === 'string' ? d.replacement : '\u2581', ' ']);
        break;
      case 'ByteFallback':
        byteFallback = true;
        break;
      case 'Fuse':
      case 'Strip':
        break;
      default:
        throw unsupported(`the tokenizer's ${String(d.type)} decoder is not one whose token text is known ` +
          '(byte-level BPE, SentencePiece and WordPiece vocabularies are)');
    }
  }
  return (piece) => {
    const byte = byteFallback ? BYTE_TOKEN.exec(piece) : null;
    if (byte) return Uint8Array.of(parseInt(byte[1], 16));
    let text = piece;
    for (const [from, to] of replaces) text = text.split(from).join(to);
    return utf8(text);
  };
}

/**
 * Every id's bytes from a tokenizer.json: its model's pieces through pieceBytes, its added tokens as their
 * own text, special tokens (BOS, EOS, end-of-turn) null: they add no text. Ids from `size` on are left out.
 */
export function vocabularyBytes(json: Record<string, unknown>, size: number): Array<Uint8Array | null> {
  const decode = pieceBytes(json.decoder as Record<string, unknown> | null);
  const bytes: Array<Uint8Array | null> = new Array(size).fill(null);
  const vocab = (json.model as { vocab?: unknown } | undefined)?.vocab;
  const set = (id: number, b: Uint8Array | null) => {
    if (Number.isInteger(id) && id >= 0 && id < size) bytes[id] = b;
  };
  if (Array.isArray(vocab)) vocab.forEach((entry, id) => set(id, decode(String((entry as unknown[])[0])))); // Unigram: [piece, score]
  else if (vocab && typeof vocab === 'object') for (const [piece, id] of Object.entries(vocab)) set(id as number, decode(piece));
  else throw unsupported('tokenizer.json has no model vocabulary');
  for (const t of (json.added_tokens ?? []) as Array<{ id: number; content: string; special?: boolean }>) {
    set(t.id, t.special ? null : utf8(t.content));
  }
  return bytes;
}
