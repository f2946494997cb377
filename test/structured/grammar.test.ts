/**
 * Grammars over bytes and their pushdown automaton (lib/structured/grammar.ts, automaton.ts): strings
 * accepted and rejected, calls and recursion, nondeterministic alternatives, states merged by
 * minimization, dead branches pruned, and the grammars refused (left recursion, no finite document, too
 * large).
 */
import { advance, initialSet, isLive, matches } from '../../lib/structured/automaton';
import { G, GRAMMAR_LIMITS, Grammar, compileGrammar } from '../../lib/structured/grammar';
import { utf8 } from './helpers';

function grammar(rules: Record<string, ReturnType<typeof G.lit>>, root = 'root') {
  const g = new Grammar(root);
  for (const [name, e] of Object.entries(rules)) g.define(name, e);
  return compileGrammar(g);
}
const accepts = (c: ReturnType<typeof compileGrammar>, s: string) => matches(c, utf8(s));

describe('grammar → automaton', () => {
  it('literals, byte ranges, alternatives and bounded repetition', () => {
    const c = grammar({ root: G.seq(G.lit('a'), G.alt(G.lit('bc'), G.bytes([0x30, 0x39])), G.rep(G.lit('x'), 1, 3)) });
    for (const s of ['abcx', 'a5xxx', 'a0xx']) expect(accepts(c, s)).toBe(true);
    for (const s of ['', 'a', 'abc', 'abcxxxx', 'a5', 'abx', 'Abcx', 'abcx ']) expect(accepts(c, s)).toBe(false);
  });

  it('notBytes and UTF-8 literals', () => {
    const c = grammar({ root: G.seq(G.lit('é'), G.star(G.notBytes(0x22))) });
    expect(accepts(c, 'é')).toBe(true);
    expect(accepts(c, 'éabc\u00ff')).toBe(true);
    expect(accepts(c, 'é"')).toBe(false);
    expect(accepts(c, 'e')).toBe(false);
  });

  it('calls and recursion: balanced parentheses (not a regular language)', () => {
    const c = grammar({ root: G.star(G.seq(G.lit('('), G.ref('root'), G.lit(')'))) });
    for (const s of ['', '()', '(())()', '((()())())']) expect(accepts(c, s)).toBe(true);
    for (const s of ['(', ')', '(()', '())(', '((())']) expect(accepts(c, s)).toBe(false);
    // deep nesting: the stack grows with the text
    const deep = '('.repeat(500) + ')'.repeat(500);
    expect(accepts(c, deep)).toBe(true);
    expect(accepts(c, deep.slice(0, -1))).toBe(false);
  });

  it('follows alternatives that begin alike until they part (several stacks at once)', () => {
    const c = grammar({
      root: G.alt(G.ref('a'), G.ref('b')),
      a: G.seq(G.lit('{"x":'), G.lit('1}')),
      b: G.seq(G.lit('{"x":'), G.lit('"s"}')),
    });
    let set = initialSet(c);
    for (const b of utf8('{"x":')) set = advance(c, set, b);
    expect(set.stacks.length).toBe(2);
    expect(accepts(c, '{"x":1}')).toBe(true);
    expect(accepts(c, '{"x":"s"}')).toBe(true);
    expect(accepts(c, '{"x":"s"')).toBe(false);
  });

  it('a nullable call: the caller goes on without it', () => {
    const c = grammar({ root: G.seq(G.lit('['), G.ref('ws'), G.lit(']')), ws: G.rep(G.lit(' '), 0, 2) });
    for (const s of ['[]', '[ ]', '[  ]']) expect(accepts(c, s)).toBe(true);
    expect(accepts(c, '[   ]')).toBe(false);
  });

  it('minimization merges states with the same future (a string body is one state)', () => {
    const body = G.star(G.alt(G.bytes([0x61, 0x7a]), G.seq(G.lit('\\'), G.lit('n'))));
    const c = grammar({ root: G.seq(G.lit('"'), body, G.lit('"')) });
    // start, inside (after the quote or any character), after a backslash, after the closing quote
    expect(c.numStates).toBe(4);
  });

  it('prunes branches that can never end, and refuses a grammar whose root cannot end', () => {
    const c = grammar({ root: G.alt(G.ref('loop'), G.lit('y')), loop: G.seq(G.lit('('), G.ref('loop'), G.lit(')')) });
    expect(accepts(c, 'y')).toBe(true);
    expect(isLive(advance(c, initialSet(c), 0x28))).toBe(false);
    expect(() => grammar({ root: G.seq(G.lit('('), G.ref('root'), G.lit(')')) })).toThrow(
      expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/no finite document/) }));
  });

  it('refuses left recursion', () => {
    expect(() => grammar({ root: G.alt(G.seq(G.ref('root'), G.lit('x')), G.lit('y')) })).toThrow(
      expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/refers back to itself/) }));
    // through a nullable rule too
    expect(() => grammar({ root: G.alt(G.seq(G.ref('e'), G.ref('root'), G.lit('x')), G.lit('y')), e: G.opt(G.lit('z')) })).toThrow(
      expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' }));
  });

  it('refuses a grammar past the state limits instead of exhausting memory and time', () => {
    const tooLarge = expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/automaton states/) });
    // copies of a byte: past the NFA's bound
    expect(() => grammar({ root: G.rep(G.bytes(0x61), 0, GRAMMAR_LIMITS.nfaStates) })).toThrow(tooLarge);
    // copies of a larger item are calls of one rule, a state each: past the DFA's bound
    const item = G.alt(...Array.from({ length: 20 }, (_, i) => G.lit(`k${i}`)));
    expect(() => grammar({ root: G.rep(item, 0, GRAMMAR_LIMITS.dfaStates) })).toThrow(tooLarge);
    // just under it, the same grammar compiles, its item a rule of its own
    const c = grammar({ root: G.rep(item, 0, 1000) });
    expect(c.numStates).toBeLessThan(1100);
    expect(accepts(c, 'k19k0k7')).toBe(true);
  });

  it('refuses a call of an undefined rule as a grammar bug', () => {
    expect(() => grammar({ root: G.ref('nowhere') })).toThrow(/not defined/);
  });
});
