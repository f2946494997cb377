/**
 * Context-free grammars over bytes, and their compilation into a pushdown automaton (the machinery of
 * structured output: lib/structured/json-schema.ts writes a grammar, lib/structured/token-masks.ts walks
 * tokens through the automaton).
 *
 * A grammar is a set of named rules, each a regular expression over bytes that may call other rules (a
 * call is a nonterminal: it pushes, the called rule runs to one of its ends, and the caller resumes after
 * the call). Each rule's expression is compiled once into a deterministic automaton (Thompson's
 * construction, then the subset construction) whose edges read a byte or call a rule; what stays
 * nondeterministic — two calls that may both start here, a call next to a byte edge, a rule that may end
 * or go on — is what the stack sets of lib/structured/automaton.ts follow. Rules are the unit of sharing:
 * every place that calls `string` reaches the same automaton states, so what is learned about those states
 * (their token masks) is learned once.
 */
import { inputError } from '../errors';

/** 256 bits: which bytes an edge reads. */
export type ByteSet = Uint32Array;

export type Expr =
  | { readonly t: 'bytes'; readonly set: ByteSet }
  | { readonly t: 'seq'; readonly items: readonly Expr[] }
  | { readonly t: 'alt'; readonly items: readonly Expr[] }
  /** the item between min and max times (max may be Infinity) */
  | { readonly t: 'rep'; readonly item: Expr; readonly min: number; readonly max: number }
  /** a call of the named rule */
  | { readonly t: 'ref'; readonly rule: string };

const byteSet = (): ByteSet => new Uint32Array(8);

/** The expression builders grammars are written with. */
export const G = {
  /** one byte of the inclusive ranges [lo, hi] (a single number is a one-byte range) */
  bytes(...ranges: Array<number | readonly [number, number]>): Expr {
    const set = byteSet();
    for (const r of ranges) {
      const [lo, hi] = typeof r === 'number' ? [r, r] : r;
      for (let b = lo; b <= hi; b++) set[b >> 5] |= 1 << (b & 31);
    }
    return { t: 'bytes', set };
  },
  /** one byte that is none of the given ranges */
  notBytes(...ranges: Array<number | readonly [number, number]>): Expr {
    const e = G.bytes(...ranges) as { set: ByteSet };
    const set = byteSet();
    for (let i = 0; i < 8; i++) set[i] = ~e.set[i];
    return { t: 'bytes', set };
  },
  /** the UTF-8 bytes of a string */
  lit(text: string): Expr {
    return G.seq(...Array.from(Buffer.from(text, 'utf8'), (b) => G.bytes(b)));
  },
  seq(...items: Expr[]): Expr {
    return items.length === 1 ? items[0] : { t: 'seq', items };
  },
  alt(...items: Expr[]): Expr {
    if (items.length === 0) throw new Error('grammar: an alternation needs at least one branch');
    return items.length === 1 ? items[0] : { t: 'alt', items };
  },
  rep(item: Expr, min: number, max: number): Expr {
    if (!(Number.isInteger(min) && min >= 0 && (max === Infinity || (Number.isInteger(max) && max >= min)))) {
      throw new Error(`grammar: bad repetition bounds {${min},${max}}`);
    }
    return { t: 'rep', item, min, max };
  },
  opt: (item: Expr): Expr => G.rep(item, 0, 1),
  star: (item: Expr): Expr => G.rep(item, 0, Infinity),
  ref: (rule: string): Expr => ({ t: 'ref', rule }),
  /** the empty string */
  empty: (): Expr => ({ t: 'seq', items: [] }),
};

/** Rules by name and the one a document is (its root). */
export class Grammar {
  readonly rules = new Map<string, Expr>();
  constructor(readonly root: string) {}

  define(name: string, expr: Expr): string {
    if (this.rules.has(name)) throw new Error(`grammar: rule '${name}' is defined twice`);
    this.rules.set(name, expr);
    return name;
  }

  has(name: string): boolean {
    return this.rules.has(name);
  }
}

/**
 * Bounds on what one grammar may compile to: a schema past them is refused rather than left to take memory
 * and time (compiling is linear in them: about a second at the bounds on one core).
 */
export const GRAMMAR_LIMITS = { nfaStates: 200_000, dfaStates: 20_000 };

/**
 * The compiled automaton: every rule's deterministic states, numbered globally. State s reads byte b into
 * trans[s·256 + b] (-1: it does not read b), may call rules (calls[s]: the called rule's start state and
 * the state the caller resumes in), and may end its rule (accepting[s]).
 */
export class CompiledGrammar {
  constructor(
    readonly numStates: number,
    readonly trans: Int32Array,
    readonly accepting: Uint8Array,
    readonly calls: ReadonlyArray<ReadonlyArray<readonly [start: number, ret: number]>>,
    /** the bytes each state reads, ascending */
    readonly bytesOf: ReadonlyArray<Uint8Array>,
    readonly ruleOf: Int32Array,
    readonly ruleNames: readonly string[],
    /** the root rule's start state */
    readonly start: number,
  ) {}
}

// ------------------------------------------------------------------------------------- Thompson NFA

interface Nfa {
  /** per state: byte edges [set, to] */
  bytes: Array<Array<[ByteSet, number]>>;
  eps: number[][];
  /** per state: calls [rule, to] */
  calls: Array<Array<[string, number]>>;
}

function newState(n: Nfa): number {
  n.bytes.push([]);
  n.eps.push([]);
  n.calls.push([]);
  if (n.bytes.length > GRAMMAR_LIMITS.nfaStates) {
    throw inputError(`structured output: the schema's grammar exceeds ${GRAMMAR_LIMITS.nfaStates} automaton states; simplify it`);
  }
  return n.bytes.length - 1;
}

/** Adds the expression between fresh states; returns [entry, exit]. */
function build(n: Nfa, e: Expr): [number, number] {
  switch (e.t) {
    case 'bytes': {
      const s = newState(n);
      const f = newState(n);
      n.bytes[s].push([e.set, f]);
      return [s, f];
    }
    case 'ref': {
      const s = newState(n);
      const f = newState(n);
      n.calls[s].push([e.rule, f]);
      return [s, f];
    }
    case 'seq': {
      const s = newState(n);
      let at = s;
      for (const item of e.items) {
        const [a, b] = build(n, item);
        n.eps[at].push(a);
        at = b;
      }
      return [s, at];
    }
    case 'alt': {
      const s = newState(n);
      const f = newState(n);
      for (const item of e.items) {
        const [a, b] = build(n, item);
        n.eps[s].push(a);
        n.eps[b].push(f);
      }
      return [s, f];
    }
    case 'rep': {
      const s = newState(n);
      let at = s;
      for (let i = 0; i < e.min; i++) {
        const [a, b] = build(n, e.item);
        n.eps[at].push(a);
        at = b;
      }
      const f = newState(n);
      if (e.max === Infinity) {
        const [a, b] = build(n, e.item);
        n.eps[at].push(a, f);
        n.eps[b].push(at);
      } else {
        // optional copies, each one's exit free to stop: at most max - min more
        for (let i = e.min; i < e.max; i++) {
          const [a, b] = build(n, e.item);
          n.eps[at].push(a, f);
          at = b;
        }
      }
      n.eps[at].push(f);
      return [s, f];
    }
  }
}

// ------------------------------------------------------------------------------------- subset construction

/** One rule's deterministic automaton before global numbering. */
interface RuleDfa {
  trans: Int32Array[];
  accepting: boolean[];
  calls: Array<Array<[string, number]>>;
}

function closure(n: Nfa, seeds: Iterable<number>): number[] {
  const seen = new Set<number>();
  const stack = [...seeds];
  while (stack.length) {
    const s = stack.pop()!;
    if (seen.has(s)) continue;
    seen.add(s);
    for (const t of n.eps[s]) stack.push(t);
  }
  return [...seen].sort((a, b) => a - b);
}

function determinize(n: Nfa, entry: number, exit: number, budget: { left: number }): RuleDfa {
  const dfa: RuleDfa = { trans: [], accepting: [], calls: [] };
  const ids = new Map<string, number>();
  const sets: number[][] = [];
  const intern = (set: number[]): number => {
    const key = set.join(',');
    let id = ids.get(key);
    if (id === undefined) {
      if (--budget.left < 0) {
        throw inputError(`structured output: the schema's grammar exceeds ${GRAMMAR_LIMITS.dfaStates} automaton states; simplify it`);
      }
      id = sets.length;
      ids.set(key, id);
      sets.push(set);
    }
    return id;
  };
  intern(closure(n, [entry]));
  // per byte, the NFA states it leads to from the current set (cleared after each set)
  const targets: number[][] = Array.from({ length: 256 }, () => []);
  for (let d = 0; d < sets.length; d++) {
    const set = sets[d];
    const calls = new Map<string, number[]>();
    let accepting = false;
    for (const s of set) {
      if (s === exit) accepting = true;
      for (const [bs, to] of n.bytes[s]) {
        for (let w = 0; w < 8; w++) {
          for (let x = bs[w]; x !== 0; x &= x - 1) targets[w * 32 + 31 - Math.clz32(x & -x)].push(to);
        }
      }
      for (const [rule, to] of n.calls[s]) {
        const list = calls.get(rule) ?? [];
        list.push(to);
        calls.set(rule, list);
      }
    }
    const row = new Int32Array(256).fill(-1);
    // bytes with the same targets share one closure
    const byTargets = new Map<string, number>();
    for (let b = 0; b < 256; b++) {
      if (targets[b].length === 0) continue;
      const key = targets[b].sort((x, y) => x - y).join(',');
      let id = byTargets.get(key);
      if (id === undefined) {
        id = intern(closure(n, targets[b]));
        byTargets.set(key, id);
      }
      row[b] = id;
      targets[b].length = 0;
    }
    dfa.trans[d] = row;
    dfa.accepting[d] = accepting;
    dfa.calls[d] = [...calls].map(([rule, tos]) => [rule, intern(closure(n, tos))]);
  }
  return dfa;
}

/** Largest automaton minimize() works on. */
const MINIMIZE_LIMIT = 400;

/**
 * Merges the states of a rule's automaton that have the same future (Moore's partition refinement): after
 * an opening quote and after any character of a string, say, are one state, so what is learned about that
 * state — its token mask — is learned once. State 0 stays the start.
 */
function minimize(dfa: RuleDfa): RuleDfa {
  const n = dfa.trans.length;
  // each round costs every state's signature and a chain of k states takes k rounds: past this size (long
  // counted repetitions, whose states are all different anyway) the automaton stays as it is
  if (n > MINIMIZE_LIMIT) return dfa;
  let block: number[] = dfa.accepting.map((a) => (a ? 1 : 0));
  let count = new Set(block).size;
  for (;;) {
    const ids = new Map<string, number>();
    const next = new Array<number>(n);
    for (let s = 0; s < n; s++) {
      // the block, then the transitions as runs of bytes going to one block, then the calls
      let sig = `${block[s]}`;
      const row = dfa.trans[s];
      let prev = -2;
      for (let b = 0; b < 256; b++) {
        const to = row[b] < 0 ? -1 : block[row[b]];
        if (to !== prev) sig += ` ${b}:${to}`;
        prev = to;
      }
      for (const [rule, ret] of [...dfa.calls[s]].sort((x, y) => (x[0] < y[0] ? -1 : 1))) sig += ` ${rule}>${block[ret]}`;
      let id = ids.get(sig);
      if (id === undefined) ids.set(sig, (id = ids.size));
      next[s] = id;
    }
    block = next;
    if (ids.size === count) break;
    count = ids.size;
  }
  // renumber so that the start's block is 0, then one representative per block
  const order = new Map<number, number>([[block[0], 0]]);
  const rep: number[] = [0];
  for (let s = 0; s < n; s++) {
    if (!order.has(block[s])) {
      order.set(block[s], rep.length);
      rep.push(s);
    }
  }
  const to = (s: number) => order.get(block[s])!;
  return {
    trans: rep.map((s) => dfa.trans[s].map((t) => (t < 0 ? -1 : to(t)))),
    accepting: rep.map((s) => dfa.accepting[s]),
    calls: rep.map((s) => dfa.calls[s].map(([rule, ret]) => [rule, to(ret)] as [string, number])),
  };
}

// ------------------------------------------------------------------------------------- compile

/** Copies of one item a repetition may write out before the item becomes a rule of its own. */
const INLINE_COPIES = 4;

/**
 * The grammar's rules with the item of every long counted repetition (a string of at most 200 characters,
 * an array of 50 to 100 items) moved into a rule of its own: the repetition's copies are then one call each
 * instead of the item's whole automaton each, so compiling stays linear in the count. Single bytes stay.
 */
function hoistRepeatedItems(g: Grammar): Map<string, Expr> {
  const rules = new Map(g.rules);
  const hoisted = new Map<Expr, string>();
  const visit = (e: Expr): Expr => {
    switch (e.t) {
      case 'seq':
      case 'alt':
        return { t: e.t, items: e.items.map(visit) };
      case 'rep': {
        const item = visit(e.item);
        const copies = e.max === Infinity ? e.min + 1 : e.max;
        if (copies <= INLINE_COPIES || item.t === 'bytes' || item.t === 'ref') return { ...e, item };
        let name = hoisted.get(e.item);
        if (name === undefined) {
          name = `${hoisted.size}#repeated`;
          hoisted.set(e.item, name);
          rules.set(name, item);
        }
        return { ...e, item: G.ref(name) };
      }
      default:
        return e;
    }
  };
  for (const [name, e] of g.rules) rules.set(name, visit(e));
  return rules;
}

/**
 * Compiles every rule reachable from the root. Refuses (ERR_GPUFORMER_INPUT) a call of an undefined rule
 * and left recursion — a rule that can call itself again before reading a byte, which no pushdown walk
 * can follow (a schema whose $ref leads straight back to itself).
 */
export function compileGrammar(g: Grammar): CompiledGrammar {
  const rules = hoistRepeatedItems(g);
  const order: string[] = [];
  const dfas = new Map<string, RuleDfa>();
  const budget = { left: GRAMMAR_LIMITS.dfaStates };
  const pending = [g.root];
  while (pending.length) {
    const name = pending.pop()!;
    if (dfas.has(name)) continue;
    const expr = rules.get(name);
    if (!expr) throw new Error(`grammar: rule '${name}' is called but not defined`);
    const nfa: Nfa = { bytes: [], eps: [], calls: [] };
    const [entry, exit] = build(nfa, expr);
    const dfa = minimize(determinize(nfa, entry, exit, budget));
    dfas.set(name, dfa);
    order.push(name);
    for (const cs of dfa.calls) for (const [rule] of cs) if (!dfas.has(rule)) pending.push(rule);
  }

  const base = new Map<string, number>();
  let numStates = 0;
  for (const name of order) {
    base.set(name, numStates);
    numStates += dfas.get(name)!.trans.length;
  }
  const trans = new Int32Array(numStates * 256);
  const accepting = new Uint8Array(numStates);
  const calls: Array<Array<[number, number]>> = [];
  const bytesOf: Uint8Array[] = [];
  const ruleOf = new Int32Array(numStates);
  order.forEach((name, r) => {
    const dfa = dfas.get(name)!;
    const b0 = base.get(name)!;
    dfa.trans.forEach((row, d) => {
      const s = b0 + d;
      const read: number[] = [];
      for (let b = 0; b < 256; b++) {
        trans[s * 256 + b] = row[b] < 0 ? -1 : b0 + row[b];
        if (row[b] >= 0) read.push(b);
      }
      bytesOf[s] = Uint8Array.from(read);
      accepting[s] = dfa.accepting[d] ? 1 : 0;
      calls[s] = dfa.calls[d].map(([rule, ret]) => [base.get(rule)!, b0 + ret]);
      ruleOf[s] = r;
    });
  });
  const start = base.get(g.root)!;
  pruneDeadStates(numStates, trans, accepting, calls, bytesOf, start);
  const compiled = new CompiledGrammar(numStates, trans, accepting, calls, bytesOf, ruleOf, order, start);
  refuseLeftRecursion(compiled);
  return compiled;
}

/**
 * Removes every edge into a state from which its rule can never end (a $ref that recurses with no way out,
 * an alternative calling such a rule): a walk then never enters a configuration that no text completes, so
 * every allowed token leaves a document that can still be finished. Refuses a grammar whose root cannot end.
 */
function pruneDeadStates(numStates: number, trans: Int32Array, accepting: Uint8Array, calls: Array<Array<[number, number]>>,
  bytesOf: Uint8Array[], start: number): void {
  // live: the state's rule can end from it; a call helps once the called rule's start and the return state
  // are both live. Spread backwards from the accepting states along the edges into each newly live state.
  const bytePreds: number[][] = Array.from({ length: numStates }, () => []);
  const callsByRet: Array<Array<[number, number]>> = Array.from({ length: numStates }, () => []);
  const callsByCallee: Array<Array<[number, number]>> = Array.from({ length: numStates }, () => []);
  for (let s = 0; s < numStates; s++) {
    for (const b of bytesOf[s]) bytePreds[trans[s * 256 + b]].push(s);
    for (const [callee, ret] of calls[s]) {
      callsByRet[ret].push([s, callee]);
      callsByCallee[callee].push([s, ret]);
    }
  }
  const live = new Uint8Array(numStates);
  const work: number[] = [];
  const mark = (s: number) => {
    if (!live[s]) {
      live[s] = 1;
      work.push(s);
    }
  };
  for (let s = 0; s < numStates; s++) if (accepting[s]) mark(s);
  while (work.length) {
    const t = work.pop()!;
    for (const s of bytePreds[t]) mark(s);
    for (const [s, callee] of callsByRet[t]) if (live[callee]) mark(s);
    for (const [s, ret] of callsByCallee[t]) if (live[ret]) mark(s);
  }
  if (!live[start]) throw inputError('structured output: the schema allows no finite document (every value recurses forever)');
  for (let s = 0; s < numStates; s++) {
    const read: number[] = [];
    for (const b of bytesOf[s]) {
      if (live[trans[s * 256 + b]]) read.push(b);
      else trans[s * 256 + b] = -1;
    }
    bytesOf[s] = Uint8Array.from(read);
    calls[s] = calls[s].filter(([callee, ret]) => live[callee] && live[ret]);
  }
}

/**
 * Which rules can end without reading a byte, then whether any rule reaches a call of itself from its start
 * through calls of such rules only.
 */
function refuseLeftRecursion(c: CompiledGrammar): void {
  const starts = c.ruleNames.map((_, r) => c.ruleOf.indexOf(r));
  const nullable = new Set<number>();
  // states of a rule reachable from its start without reading: through calls of nullable rules
  const silentlyReachable = (start: number, onCall?: (calledStart: number) => void): number[] => {
    const seen = new Set([start]);
    const stack = [start];
    while (stack.length) {
      const s = stack.pop()!;
      for (const [callee, ret] of c.calls[s]) {
        onCall?.(callee);
        if (nullable.has(callee) && !seen.has(ret)) {
          seen.add(ret);
          stack.push(ret);
        }
      }
    }
    return [...seen];
  };
  for (let changed = true; changed;) {
    changed = false;
    for (const start of starts) {
      if (!nullable.has(start) && silentlyReachable(start).some((s) => c.accepting[s])) {
        nullable.add(start);
        changed = true;
      }
    }
  }
  const leftCalls = new Map<number, Set<number>>();
  for (const start of starts) {
    const out = new Set<number>();
    silentlyReachable(start, (callee) => out.add(callee));
    leftCalls.set(start, out);
  }
  for (const start of starts) {
    const seen = new Set<number>();
    const stack = [...leftCalls.get(start)!];
    while (stack.length) {
      const s = stack.pop()!;
      if (s === start) {
        throw inputError(`structured output: rule '${c.ruleNames[c.ruleOf[start]]}' refers back to itself before any text ` +
          '(a left-recursive $ref), which cannot be generated');
      }
      if (seen.has(s)) continue;
      seen.add(s);
      stack.push(...leftCalls.get(s)!);
    }
  }
}
