/**
 * What the structured-output tests share: random documents drawn from a grammar's own automaton (to check
 * that everything it can produce parses and validates), the token mask computed the slow way (every token
 * tried byte by byte), and the real SmolLM2 vocabulary.
 */
import * as path from 'path';
import { Stack, StackSet, advance, advanceBytes, initialSet } from '../../lib/structured/automaton';
import type { CompiledGrammar } from '../../lib/structured/grammar';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { openModel } from '../../lib/loader/open';
import { MODELS } from '../models/golden';
import { rng } from '../helpers/random';

export const SMOLLM2_GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');

interface SmolTokenizer { vocab: TokenVocabulary; json: Record<string, unknown>; config: Record<string, unknown> }
let smol: Promise<SmolTokenizer> | null = null;
/** SmolLM2's tokenizer.json (from the GGUF's metadata) and its vocabulary, read once per test file. */
export function smolTokenizer(): Promise<SmolTokenizer> {
  smol ??= openModel(SMOLLM2_GGUF).then((src) => ({
    vocab: TokenVocabulary.fromTokenizerJson(src.tokenizer!.json, src.spec.vocabSize),
    json: src.tokenizer!.json, config: src.tokenizer!.config ?? {},
  }));
  return smol;
}

/**
 * Fewest bytes that end each state's rule (Infinity: none; pruned grammars have none such), by relaxing
 * byte edges (1 + the target's) and calls (the called rule's shortest + the return state's) to a fixpoint.
 */
export function shortestCompletions(g: CompiledGrammar): Float64Array {
  const d = new Float64Array(g.numStates).fill(Infinity);
  for (let s = 0; s < g.numStates; s++) if (g.accepting[s]) d[s] = 0;
  for (let changed = true; changed;) {
    changed = false;
    for (let s = 0; s < g.numStates; s++) {
      let best = d[s];
      for (const b of g.bytesOf[s]) best = Math.min(best, 1 + d[g.trans[s * 256 + b]]);
      for (const [start, ret] of g.calls[s]) best = Math.min(best, d[start] + d[ret]);
      if (best < d[s]) {
        d[s] = best;
        changed = true;
      }
    }
  }
  return d;
}

/** Bytes still needed to end the document from a configuration (0 when it may end now). */
export function distanceToEnd(set: StackSet, d: Float64Array): number {
  if (set.accept) return 0;
  let best = Infinity;
  for (const top of set.stacks) {
    let sum = 0;
    for (let s: Stack | null = top; s; s = s.parent) sum += d[s.state];
    best = Math.min(best, sum);
  }
  return best;
}

/**
 * A random document of the grammar: random readable bytes for about `budget` bytes, then the bytes that
 * end it soonest. Random choices favour printable ASCII so that strings and keys look like text.
 */
export function randomDocument(g: CompiledGrammar, seed: number, budget = 60): Uint8Array {
  const r = rng(seed);
  const d = shortestCompletions(g);
  const out: number[] = [];
  let set = initialSet(g);
  for (;;) {
    if (set.accept && (set.stacks.length === 0 || out.length >= budget || r() < 0.05)) return Uint8Array.from(out);
    const readable = new Set<number>();
    for (const s of set.stacks) for (const b of g.bytesOf[s.state]) readable.add(b);
    const bytes = [...readable];
    let b: number;
    if (out.length < budget) {
      const ascii = bytes.filter((x) => x < 0x80);
      const pool = ascii.length > 0 && r() < 0.9 ? ascii : bytes;
      b = pool[Math.floor(r() * pool.length)];
    } else {
      b = bytes.reduce((best, x) => (distanceToEnd(advance(g, set, x), d) < distanceToEnd(advance(g, set, best), d) ? x : best));
    }
    set = advance(g, set, b);
    out.push(b);
    if (out.length > budget + 4000) throw new Error('randomDocument: the document does not end');
  }
}

/** The mask the slow way: every token's bytes read from the configuration. */
export function bruteForceMask(g: CompiledGrammar, vocab: TokenVocabulary, set: StackSet): Uint32Array {
  const mask = new Uint32Array(vocab.words);
  vocab.bytes.forEach((b, t) => {
    if (!b || b.length === 0 || t >= vocab.size) return;
    const end = advanceBytes(g, set, b);
    if (end && (end.stacks.length > 0 || end.accept)) mask[t >> 5] |= 1 << (t & 31);
  });
  return mask;
}

export const allowed = (mask: Uint32Array, t: number) => ((mask[t >> 5] >>> (t & 31)) & 1) === 1;

/** The token ids set in a mask. */
export function maskIds(mask: Uint32Array): number[] {
  const ids: number[] = [];
  for (let w = 0; w < mask.length; w++) for (let b = 0; b < 32; b++) if ((mask[w] >>> b) & 1) ids.push(w * 32 + b);
  return ids;
}

export const utf8 = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
