/**
 * From a compiled grammar to token masks: which tokens of the vocabulary may come next, step by step (the
 * approach of xgrammar's adaptive token mask cache, written for this automaton).
 *
 * A token may come next when all of its bytes can be read from the current configurations. Walking the
 * vocabulary's trie tests every token sharing a prefix at once, and most of a walk depends only on the
 * automaton state on top of a stack: while a token's bytes stay inside that state's rule (or rules it calls),
 * what lies below does not matter. So each state gets, once, the tokens it takes without its rule ending
 * (`accepted`) and the trie nodes where its rule ended with bytes still to come (`pops`). A step's mask is
 * then the union, over the configuration's stacks, of their top states' accepted tokens, plus a walk below
 * each pop node with the stack's caller — a handful of short walks. Masks of whole configurations are
 * cached too (an LRU per grammar), so a configuration seen before, as inside a long string, costs a lookup.
 *
 * Stop tokens (EOS, end-of-turn) are allowed exactly when the text so far is a whole document; the
 * generation ends by itself once nothing can follow (GrammarConstraint.isComplete).
 */
import { GpuformerError, unsupported } from '../errors';
import { StackSet, UNKNOWN_CALLER, Stack, advance, advanceBytes, closeStack, initialSet, setKey } from './automaton';
import type { CompiledGrammar } from './grammar';
import type { TokenVocabulary } from './vocabulary';

/** What a state's own walk learned: the tokens it takes and where its rule ended early. */
interface StateEntry {
  /** a mask when many tokens are taken, else the ids */
  accepted: Uint32Array | Int32Array;
  /** trie nodes (with children) after which the state's rule had ended */
  pops: Int32Array;
}

/** Configurations' masks kept per grammar and vocabulary. */
const MASK_CACHE_ENTRIES = 1024;

/** Counters for tests and measurement. */
export interface MaskStats {
  /** states whose entry has been computed */
  stateEntries: number;
  /** configuration masks computed / taken from the cache */
  masksComputed: number;
  masksCached: number;
}

/**
 * The token masks of one grammar over one vocabulary: per-state entries (computed when a state is first
 * met) and configuration masks (LRU). Shared by every request with the same schema on the same model.
 */
export class GrammarMasks {
  private readonly entries = new Map<number, StateEntry>();
  private readonly masks = new Map<string, Uint32Array>();
  readonly stats: MaskStats = { stateEntries: 0, masksComputed: 0, masksCached: 0 };

  /** per state: it only reads bytes (no call, no end of its rule), so one stack stays one stack */
  private readonly plain: Uint8Array;

  constructor(readonly grammar: CompiledGrammar, readonly vocab: TokenVocabulary) {
    this.plain = new Uint8Array(grammar.numStates);
    for (let s = 0; s < grammar.numStates; s++) this.plain[s] = grammar.calls[s].length === 0 && !grammar.accepting[s] ? 1 : 0;
  }

  /** The mask (without stop tokens) of a configuration; shared, never to be written. */
  maskFor(set: StackSet): Uint32Array {
    const key = setKey(set);
    const hit = this.masks.get(key);
    if (hit) {
      // refresh its place in the LRU order
      this.masks.delete(key);
      this.masks.set(key, hit);
      this.stats.masksCached++;
      return hit;
    }
    const mask = new Uint32Array(this.vocab.words);
    for (const stack of set.stacks) {
      const e = this.entry(stack.state);
      if (e.accepted instanceof Uint32Array) for (let i = 0; i < mask.length; i++) mask[i] |= e.accepted[i];
      else for (const t of e.accepted) mask[t >> 5] |= 1 << (t & 31);
      // where the state's rule ends mid-token, the rest of the token is read by its caller
      if (e.pops.length > 0 && stack.parent !== null) {
        const caller = closeStack(this.grammar, stack.parent);
        if (caller.stacks.length > 0) for (const node of e.pops) this.walk(node, caller, mask, null);
      }
    }
    if (set.stacks.length > 0 && mask.every((w) => w === 0)) {
      throw unsupported('structured output: no token of the vocabulary can continue the text here (the grammar needs bytes ' +
        'that no token holds)');
    }
    this.masks.set(key, mask);
    if (this.masks.size > MASK_CACHE_ENTRIES) this.masks.delete(this.masks.keys().next().value!);
    this.stats.masksComputed++;
    return mask;
  }

  private entry(state: number): StateEntry {
    let e = this.entries.get(state);
    if (!e) {
      const set: StackSet = { stacks: [new Stack(state, UNKNOWN_CALLER)], accept: false, escaped: false };
      const mask = new Uint32Array(this.vocab.words);
      const pops: number[] = [];
      this.walk(0, set, mask, pops);
      // a short list of ids where few tokens are taken (most states), the mask otherwise
      const ids: number[] = [];
      for (let w = 0; w < mask.length && ids.length <= mask.length; w++) {
        for (let x = mask[w]; x !== 0; x &= x - 1) ids.push(w * 32 + (31 - Math.clz32(x & -x)));
      }
      const accepted = ids.length > mask.length ? mask : Int32Array.from(ids);
      e = { accepted, pops: Int32Array.from(pops) };
      this.entries.set(state, e);
      this.stats.stateEntries++;
    }
    return e;
  }

  /**
   * Walks the trie below `node` from configuration `set`: each token whose bytes can be read is recorded
   * in `out`, and, when `pops` is given, each node after which a rule ended into
   * UNKNOWN_CALLER with children still below it.
   */
  private walk(node: number, set: StackSet, out: Uint32Array, pops: number[] | null): void {
    if (set.stacks.length === 1) {
      this.walkOne(node, set.stacks[0].state, set.stacks[0].parent, out, pops);
      return;
    }
    const v = this.vocab;
    const g = this.grammar;
    const first = v.childStart[node];
    const end = v.childStart[node + 1];
    const readable = this.readableBytes(set);
    if (readable.length < end - first) {
      // few bytes can come: look those children up
      for (const b of readable) {
        const child = v.child(node, b);
        if (child >= 0) this.visit(child, advance(g, set, b), out, pops);
      }
    } else {
      for (let c = first; c < end; c++) {
        const b = v.childByte[c];
        if (set.stacks.some((s) => g.trans[s.state * 256 + b] >= 0)) this.visit(v.childNode[c], advance(g, set, b), out, pops);
      }
    }
  }

  /**
   * walk() from one stack (`state` over `parent`), the common case, without building configurations while
   * the states met only read bytes (inside a string, a number, a key).
   */
  private walkOne(node: number, state: number, parent: Stack | null, out: Uint32Array, pops: number[] | null): void {
    const v = this.vocab;
    const g = this.grammar;
    const base = state * 256;
    const first = v.childStart[node];
    const end = v.childStart[node + 1];
    const readable = g.bytesOf[state];
    const lookUp = readable.length < end - first;
    for (let i = lookUp ? 0 : first; i < (lookUp ? readable.length : end); i++) {
      // few bytes can come: look those children up; else go through the children
      const b = lookUp ? readable[i] : v.childByte[i];
      const child = lookUp ? v.child(node, b) : v.childNode[i];
      if (child < 0) continue;
      const t = g.trans[base + b];
      if (t < 0) continue;
      if (!this.plain[t]) {
        this.visit(child, closeStack(g, new Stack(t, parent)), out, pops);
        continue;
      }
      this.record(child, out);
      if (v.childStart[child] !== v.childStart[child + 1]) this.walkOne(child, t, parent, out, pops);
    }
  }

  /** The trie node `child` reached with configuration `next`: its tokens, its pop, the walk below it. */
  private visit(child: number, next: StackSet, out: Uint32Array, pops: number[] | null): void {
    const live = next.stacks.length > 0;
    if (!live && !next.accept && !next.escaped) return;
    this.record(child, out);
    const v = this.vocab;
    if (v.childStart[child] === v.childStart[child + 1]) return;
    if (next.escaped && pops) pops.push(child);
    if (live) this.walk(child, next, out, pops);
  }

  private record(node: number, out: Uint32Array): void {
    const v = this.vocab;
    for (let i = v.tokenStart[node]; i < v.tokenStart[node + 1]; i++) {
      const t = v.tokenIds[i];
      out[t >> 5] |= 1 << (t & 31);
    }
  }

  /** The bytes some stack of the set can read, ascending. */
  private readableBytes(set: StackSet): Uint8Array {
    const g = this.grammar;
    if (set.stacks.length === 1) return g.bytesOf[set.stacks[0].state];
    const seen = new Uint8Array(256);
    for (const s of set.stacks) for (const b of g.bytesOf[s.state]) seen[b] = 1;
    const out: number[] = [];
    for (let b = 0; b < 256; b++) if (seen[b]) out.push(b);
    return Uint8Array.from(out);
  }
}

/**
 * One generation held to a grammar: the tokens allowed next, and the configuration after each sampled
 * token. Created per request (lib/structured/response-format.ts); the masks behind it are shared.
 */
export class GrammarConstraint {
  private set: StackSet;
  private readonly stops: readonly number[];

  /** @param stopTokenIds the tokens that end the generation (allowed once the text is a whole document) */
  constructor(private readonly masks: GrammarMasks, stopTokenIds: readonly number[]) {
    this.set = initialSet(masks.grammar);
    this.stops = stopTokenIds.filter((t) => t >= 0 && t < masks.vocab.size);
  }

  /** The text so far is a whole document and nothing can follow it: the generation is over. */
  get isComplete(): boolean {
    return this.set.accept && this.set.stacks.length === 0;
  }

  /** The text so far is a whole document (a stop token may end it). */
  get canStop(): boolean {
    return this.set.accept;
  }

  /** The tokens allowed next: bit t % 32 of word t >> 5 (a shared array where no stop token is added: never write it). */
  allowedTokens(): Uint32Array {
    const base = this.masks.maskFor(this.set);
    if (!this.set.accept || this.stops.length === 0) return base;
    const mask = base.slice();
    for (const t of this.stops) mask[t >> 5] |= 1 << (t & 31);
    return mask;
  }

  /** Follows a sampled token (a stop token ends the document). */
  accept(tokenId: number): void {
    if (this.stops.includes(tokenId) && this.set.accept) {
      this.set = { stacks: [], accept: true, escaped: false };
      return;
    }
    const bytes = this.masks.vocab.bytes[tokenId];
    const next = bytes ? advanceBytes(this.masks.grammar, this.set, bytes) : null;
    if (!next || (next.stacks.length === 0 && !next.accept)) {
      throw new GpuformerError('ERR_GPUFORMER_INPUT', `structured output: token ${tokenId} was sampled where the grammar does not allow it`);
    }
    this.set = next;
  }
}
