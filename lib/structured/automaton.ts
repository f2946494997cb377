/**
 * Running a compiled grammar (lib/structured/grammar.ts) over bytes: the pushdown automaton's
 * configurations, as sets of stacks.
 *
 * A stack is the chain of automaton states from the state reading now (its top) down to the root rule's;
 * each state below the top is where its rule resumes once the rule above it ends. Stacks are immutable and
 * share their tails, so a step that pushes or pops allocates one link. Where the grammar is
 * nondeterministic (two alternatives that begin alike), several stacks are alive at once; a set holds only
 * "reading" stacks — their tops read a byte — because every call and every end of a rule is followed as
 * soon as it is reached (the closure in expand()). A set whose root rule can end here is `accept`.
 */
import type { CompiledGrammar } from './grammar';

export class Stack {
  private keyCache: string | undefined;
  constructor(readonly state: number, readonly parent: Stack | null) {}

  /** the states from the bottom up: equal keys, equal stacks */
  get key(): string {
    if (this.keyCache === undefined) this.keyCache = this.parent ? `${this.parent.key},${this.state}` : String(this.state);
    return this.keyCache;
  }
}

/**
 * The bottom a walk below which it does not look (lib/structured/token-masks.ts walks one state's own
 * rule without knowing what called it): reaching it is an `escape`, the rule ending into an unknown caller.
 */
export const UNKNOWN_CALLER = new Stack(-1, null);

/** The configurations after some bytes: the reading stacks, and whether the document may end here. */
export interface StackSet {
  readonly stacks: readonly Stack[];
  /** the root rule has ended: the bytes so far are a whole document */
  readonly accept: boolean;
  /** a stack ended its rule into UNKNOWN_CALLER */
  readonly escaped: boolean;
}

/** Deepest a stack may grow (a runaway recursion is a grammar bug, never a document's depth). */
const MAX_DEPTH = 10_000;

class Collector {
  readonly stacks: Stack[] = [];
  private keys: Set<string> | null = null;
  accept = false;
  escaped = false;

  add(s: Stack): void {
    // most sets hold one stack: compare keys only once there are several
    if (this.stacks.length === 0) {
      this.stacks.push(s);
      return;
    }
    if (!this.keys) this.keys = new Set(this.stacks.map((x) => x.key));
    if (this.keys.has(s.key)) return;
    this.keys.add(s.key);
    this.stacks.push(s);
  }

  result(): StackSet {
    return { stacks: this.stacks, accept: this.accept, escaped: this.escaped };
  }
}

/**
 * Follows every call and every end of a rule from `stack` until each path reaches a state that reads a
 * byte (added to `out`), the end of the document (`accept`) or UNKNOWN_CALLER (`escaped`).
 */
function expand(g: CompiledGrammar, stack: Stack, out: Collector, depth: number): void {
  if (depth > MAX_DEPTH) throw new Error('structured output: the grammar recursed past 10000 levels without reading a byte');
  const s = stack.state;
  if (g.bytesOf[s].length > 0) out.add(stack);
  for (const [start, ret] of g.calls[s]) expand(g, new Stack(start, new Stack(ret, stack.parent)), out, depth + 1);
  if (g.accepting[s]) {
    const p = stack.parent;
    if (p === null) out.accept = true;
    else if (p === UNKNOWN_CALLER) out.escaped = true;
    else expand(g, p, out, depth + 1);
  }
}

/** The set a stack stands for once its calls and ends are followed. */
export function closeStack(g: CompiledGrammar, stack: Stack): StackSet {
  const out = new Collector();
  expand(g, stack, out, 0);
  return out.result();
}

/** The configurations before the first byte of a document. */
export function initialSet(g: CompiledGrammar): StackSet {
  return closeStack(g, new Stack(g.start, null));
}

/** The configurations after reading byte `b` (empty stacks and no accept: `b` cannot come here). */
export function advance(g: CompiledGrammar, set: StackSet, b: number): StackSet {
  const out = new Collector();
  for (const stack of set.stacks) {
    const t = g.trans[stack.state * 256 + b];
    if (t >= 0) expand(g, new Stack(t, stack.parent), out, 0);
  }
  return out.result();
}

/** The configurations after reading `bytes`, or null where one of them cannot come. */
export function advanceBytes(g: CompiledGrammar, set: StackSet, bytes: Uint8Array): StackSet | null {
  let at = set;
  for (const b of bytes) {
    at = advance(g, at, b);
    if (at.stacks.length === 0 && !at.accept && !at.escaped) return null;
  }
  return at;
}

/** Whether the set is a live configuration: some stack still reads, or the document may end. */
export const isLive = (s: StackSet): boolean => s.stacks.length > 0 || s.accept;

/** The whole of `bytes` is one document of the grammar. */
export function matches(g: CompiledGrammar, bytes: Uint8Array): boolean {
  const end = advanceBytes(g, initialSet(g), bytes);
  return end !== null && end.accept;
}

/** A key naming the set's configurations (the same stacks, in any order, give the same key). */
export function setKey(s: StackSet): string {
  return s.stacks.map((x) => x.key).sort().join('|');
}
