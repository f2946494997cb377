/**
 * A model's vocabulary as structured output sees it: the bytes each token adds to the text, and a trie of
 * those byte strings so that a walk can test every token that starts with the same bytes at once
 * (lib/structured/token-masks.ts).
 *
 * The bytes come from tokenizer.json: its vocabulary and the decoder that turns tokens into text. Byte-level
 * BPE (GPT-2, Llama 3, SmolLM: the ByteLevel decoder) writes each byte as one printable character;
 * SentencePiece vocabularies (Llama 2, Mistral: Metaspace, or Replace ▁ → space with ByteFallback) write
 * spaces as ▁ and bytes outside the vocabulary as <0xXX>. Special tokens (BOS, EOS, end-of-turn) add no
 * text. Decoders that only trim the start of the whole text (Strip, a Metaspace prefix) do not touch a
 * generated token: the text is decoded after the prompt.
 */
import { unsupported } from '../errors';
import { BYTE_OF_CHAR } from '../tokenizer/tokenizer';

/** GPT-2's byte-level alphabet (tokenizer/tokenizer.ts) as a table by character code: read 49152 times. */
function byteLevelAlphabet(): Int16Array {
  const table = new Int16Array(0x200).fill(-1);
  for (const [ch, b] of BYTE_OF_CHAR) table[ch.charCodeAt(0)] = b;
  return table;
}

type TokenDecoder = (token: string) => Uint8Array | null;

const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const BYTE_TOKEN = /^<0x([0-9A-Fa-f]{2})>$/;

/** How a decoder of tokenizer.json turns one token into bytes (mid-text), or why it cannot be followed. */
function tokenDecoder(decoder: Record<string, unknown> | null | undefined): TokenDecoder {
  if (decoder?.type === 'ByteLevel') {
    const alphabet = byteLevelAlphabet();
    return (token) => {
      const out = new Uint8Array(token.length);
      for (let i = 0; i < token.length; i++) {
        const c = token.charCodeAt(i);
        const b = c < alphabet.length ? alphabet[c] : -1;
        if (b < 0) return utf8(token); // not byte-level text (an added token): its own characters
        out[i] = b;
      }
      return out;
    };
  }
  // a sequence of per-token rewrites: Replace, ByteFallback, Metaspace; Fuse and Strip act on the whole text
  const steps = decoder?.type === 'Sequence' ? (decoder.decoders as Array<Record<string, unknown>>) : decoder ? [decoder] : [];
  let byteFallback = false;
  const replaces: Array<[string, string]> = [];
  for (const d of steps) {
    switch (d.type) {
      case 'Replace': {
        const pattern = d.pattern as { String?: string } | undefined;
        if (typeof pattern?.String !== 'string' || typeof d.content !== 'string') {
          throw unsupported('response_format: the tokenizer\'s Replace decoder has a regex pattern, which structured output cannot follow');
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
        throw unsupported(`response_format: structured output cannot follow the tokenizer's ${String(d.type)} decoder ` +
          '(byte-level BPE and SentencePiece vocabularies are supported)');
    }
  }
  if (steps.length === 0) throw unsupported('response_format: the tokenizer has no decoder, so the text of its tokens is unknown');
  return (token) => {
    const byte = byteFallback ? BYTE_TOKEN.exec(token) : null;
    if (byte) return Uint8Array.of(parseInt(byte[1], 16));
    let text = token;
    for (const [from, to] of replaces) text = text.split(from).join(to);
    return utf8(text);
  };
}

export class TokenVocabulary {
  /** ceil(size / 32): the 32-bit words of a token mask */
  readonly words: number;
  /** per node: its children are childByte / childNode [childStart[n], childStart[n + 1]), by byte */
  readonly childStart: Int32Array;
  readonly childByte: Uint8Array;
  readonly childNode: Int32Array;
  /** per node: the tokens whose bytes end there are tokenIds [tokenStart[n], tokenStart[n + 1]) */
  readonly tokenStart: Int32Array;
  readonly tokenIds: Int32Array;

  /**
   * @param size the model's vocabulary (the logits' width; ids past the tokenizer's have no text)
   * @param bytes per id, the bytes it adds to the text; null for tokens that add none (special tokens)
   */
  constructor(readonly size: number, readonly bytes: ReadonlyArray<Uint8Array | null>) {
    this.words = Math.ceil(size / 32);
    // the trie, built from the byte strings in sorted order: each string shares the path of its longest
    // common prefix with the one before it, so nodes come out in pre-order with children by byte
    const ids: number[] = [];
    bytes.forEach((b, id) => {
      if (b && b.length > 0 && id < size) ids.push(id);
    });
    // byte strings as latin1 strings: JS compares those code unit by code unit, i.e. byte by byte
    const keyed = ids.map((id) => ({ id, key: String.fromCharCode(...bytes[id]!) }));
    keyed.sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : x.id - y.id));
    keyed.forEach((x, i) => { ids[i] = x.id; });
    const parentOf: number[] = [-1];
    const byteOf: number[] = [0];
    const tokenNode: number[] = [];
    const path: number[] = [0]; // path[d]: the node at depth d of the previous string
    let prev: Uint8Array = new Uint8Array(0);
    for (const id of ids) {
      const b = bytes[id]!;
      let common = 0;
      while (common < prev.length && common < b.length && prev[common] === b[common]) common++;
      path.length = common + 1;
      for (let d = common; d < b.length; d++) {
        parentOf.push(path[d]);
        byteOf.push(b[d]);
        path.push(parentOf.length - 1);
      }
      tokenNode.push(path[b.length]);
      prev = b;
    }
    const n = parentOf.length;
    // children laid out by parent (counting sort keeps each parent's children in byte order)
    this.childStart = new Int32Array(n + 1);
    for (let i = 1; i < n; i++) this.childStart[parentOf[i] + 1]++;
    for (let i = 0; i < n; i++) this.childStart[i + 1] += this.childStart[i];
    this.childByte = new Uint8Array(n - 1);
    this.childNode = new Int32Array(n - 1);
    const fill = this.childStart.slice(0, n);
    for (let i = 1; i < n; i++) {
      const at = fill[parentOf[i]]++;
      this.childByte[at] = byteOf[i];
      this.childNode[at] = i;
    }
    // tokens by node, in the same way
    this.tokenStart = new Int32Array(n + 1);
    for (const node of tokenNode) this.tokenStart[node + 1]++;
    for (let i = 0; i < n; i++) this.tokenStart[i + 1] += this.tokenStart[i];
    this.tokenIds = new Int32Array(ids.length);
    const put = this.tokenStart.slice(0, n);
    ids.forEach((id, k) => {
      this.tokenIds[put[tokenNode[k]]++] = id;
    });
  }

  get numNodes(): number {
    return this.childStart.length - 1;
  }

  /** The child of `node` through byte `b`, or -1. */
  child(node: number, b: number): number {
    let lo = this.childStart[node];
    let hi = this.childStart[node + 1] - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const x = this.childByte[mid];
      if (x === b) return this.childNode[mid];
      if (x < b) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  /**
   * The vocabulary of a tokenizer.json: ids from its model's vocab and its added tokens, bytes by its
   * decoder. ERR_GPUFORMER_UNSUPPORTED where the decoder is not one structured output can follow.
   */
  static fromTokenizerJson(json: Record<string, unknown>, size: number): TokenVocabulary {
    const decode = tokenDecoder(json.decoder as Record<string, unknown> | null);
    const bytes: Array<Uint8Array | null> = new Array(size).fill(null);
    const model = json.model as { vocab?: unknown } | undefined;
    const vocab = model?.vocab;
    const set = (id: number, b: Uint8Array | null) => {
      if (Number.isInteger(id) && id >= 0 && id < size) bytes[id] = b;
    };
    if (Array.isArray(vocab)) vocab.forEach((entry, id) => set(id, decode(String((entry as unknown[])[0])))); // Unigram: [piece, score]
    else if (vocab && typeof vocab === 'object') for (const [token, id] of Object.entries(vocab)) set(id as number, decode(token));
    else throw unsupported('response_format: tokenizer.json has no model vocabulary');
    for (const t of (json.added_tokens ?? []) as Array<{ id: number; content: string; special?: boolean }>) {
      set(t.id, t.special ? null : utf8(t.content));
    }
    return new TokenVocabulary(size, bytes);
  }
}
