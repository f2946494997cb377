/**
 * A model's vocabulary as structured output sees it: the bytes each token adds to the text, and a trie of
 * those byte strings so that a walk can test every token that starts with the same bytes at once
 * (lib/structured/token-masks.ts).
 *
 * The bytes come from tokenizer.json through lib/tokenizer/token-bytes.ts (what each token adds to a text
 * after other tokens: a generated token always follows the prompt); special tokens add none.
 */
import { GpuformerError, unsupported } from '../errors';
import { vocabularyBytes } from '../tokenizer/token-bytes';

/** The trie of a vocabulary's byte strings (TokenVocabulary's fields of the same names). */
export interface Trie {
  childStart: Int32Array;
  childByte: Uint8Array;
  childNode: Int32Array;
  tokenStart: Int32Array;
  tokenIds: Int32Array;
}

/** A TokenVocabulary as plain arrays (to cross to another thread): each id's bytes packed, and the trie. */
export interface VocabularyParts {
  size: number;
  /** id's bytes are packed [offsets[id], offsets[id + 1]); null ones are marked in isNull */
  packed: Uint8Array;
  offsets: Int32Array;
  isNull: Uint8Array;
  trie: Trie;
}

function buildTrie(size: number, bytes: ReadonlyArray<Uint8Array | null>): Trie {
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
  const childStart = new Int32Array(n + 1);
  for (let i = 1; i < n; i++) childStart[parentOf[i] + 1]++;
  for (let i = 0; i < n; i++) childStart[i + 1] += childStart[i];
  const childByte = new Uint8Array(n - 1);
  const childNode = new Int32Array(n - 1);
  const fill = childStart.slice(0, n);
  for (let i = 1; i < n; i++) {
    const at = fill[parentOf[i]]++;
    childByte[at] = byteOf[i];
    childNode[at] = i;
  }
  // tokens by node, in the same way
  const tokenStart = new Int32Array(n + 1);
  for (const node of tokenNode) tokenStart[node + 1]++;
  for (let i = 0; i < n; i++) tokenStart[i + 1] += tokenStart[i];
  const tokenIds = new Int32Array(ids.length);
  const put = tokenStart.slice(0, n);
  ids.forEach((id, k) => {
    tokenIds[put[tokenNode[k]]++] = id;
  });
  return { childStart, childByte, childNode, tokenStart, tokenIds };
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
   * @param trie the trie of `bytes`, when it was built already (fromParts)
   */
  constructor(readonly size: number, readonly bytes: ReadonlyArray<Uint8Array | null>, trie: Trie = buildTrie(size, bytes)) {
    this.words = Math.ceil(size / 32);
    this.childStart = trie.childStart;
    this.childByte = trie.childByte;
    this.childNode = trie.childNode;
    this.tokenStart = trie.tokenStart;
    this.tokenIds = trie.tokenIds;
  }

  /** The vocabulary as plain arrays, the bytes packed (what another thread hands over: fromParts). */
  toParts(): VocabularyParts {
    const offsets = new Int32Array(this.size + 1);
    const isNull = new Uint8Array(this.size);
    this.bytes.forEach((b, id) => {
      offsets[id + 1] = offsets[id] + (b ? b.length : 0);
      isNull[id] = b ? 0 : 1;
    });
    const packed = new Uint8Array(offsets[this.size]);
    this.bytes.forEach((b, id) => b && packed.set(b, offsets[id]));
    const { childStart, childByte, childNode, tokenStart, tokenIds } = this;
    return { size: this.size, packed, offsets, isNull, trie: { childStart, childByte, childNode, tokenStart, tokenIds } };
  }

  static fromParts(p: VocabularyParts): TokenVocabulary {
    const bytes = Array.from({ length: p.size }, (_, id) => (p.isNull[id] ? null : p.packed.subarray(p.offsets[id], p.offsets[id + 1])));
    return new TokenVocabulary(p.size, bytes, p.trie);
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
    let bytes: Array<Uint8Array | null>;
    try {
      bytes = vocabularyBytes(json, size);
    } catch (e) {
      if (e instanceof GpuformerError && e.code === 'ERR_GPUFORMER_UNSUPPORTED') throw unsupported(`response_format: ${e.message}`);
      throw e;
    }
    return new TokenVocabulary(size, bytes);
  }
}
