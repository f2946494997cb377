/**
 * JSON Schema patterns as grammars over JSON string text (lib/structured/regex.ts), against JavaScript's
 * own RegExp with the u flag as the reference: a JSON string (as JSON.stringify writes it) is accepted
 * exactly when the pattern matches its value, everything the grammar produces matches, and what cannot be
 * enforced is refused.
 */
import { matches } from '../../lib/structured/automaton';
import { G, Grammar, compileGrammar } from '../../lib/structured/grammar';
import { charSetExpr, patternExpr } from '../../lib/structured/regex';
import { rng } from '../helpers/random';
import { randomDocument, utf8 } from './helpers';

function stringGrammar(pattern: string) {
  const g = new Grammar('root');
  g.define('root', G.seq(G.lit('"'), patternExpr(pattern), G.lit('"')));
  return compileGrammar(g);
}

const PATTERNS: Array<[string, string[]]> = [
  ['^[a-z]+$', ['abc', '', 'aBc', 'a1', 'zz']],
  ['^\\d{3}-\\d{4}$', ['555-1234', '5551234', '555-12345', '55-1234', '١٢٣-4567']],
  ['ab', ['ab', 'xaby', 'a b', '', 'ba', 'a\nab\n']],
  ['^(foo|bar)+baz$', ['foobaz', 'barfoobaz', 'baz', 'foobarbaz!', 'fobaz']],
  ['^a.c$', ['abc', 'a\nc', 'a😀c', 'ac', 'a\u2028c', 'a"c', 'a\\c']],
  ['^[^"\\\\]*$', ['plain', 'with"quote', 'back\\slash', 'é ü', '']],
  ['^\\w+@\\w+\\.(com|org)$', ['a@b.com', 'a_1@x.org', 'a@b.net', '@b.com', 'a@b.comm']],
  ['^\\s*\\S+\\s*$', ['  x ', 'x', ' ', 'a b', '\tx\n', '\u00a0x']],
  ['^[\\u00e0-\\u00ff\\u{1F600}-\\u{1F64F}]{2,3}$', ['éè', 'é😀', 'ééé', 'éééé', 'e', '😀😀😀']],
  ['^x?y*z{2,}$', ['zz', 'xyyzzz', 'yz', 'xzzz', 'xxzz']],
  ['^(?:a|b)(?<n>c)[-.]?$', ['ac', 'bc-', 'bc.', 'cc', 'ac--']],
  ['^\\x41\\u0042\\n\\t\\cJ\\0$', ['AB\n\t\n\0', 'AB\n\t\n', 'ab\n\t\n\0']],
  ['^[\\b]$', ['\b', 'b']],
  ['^$|^a$', ['', 'a', 'aa']],
  ['^\\$\\.\\*\\/\\[\\]\\{\\}\\(\\)\\|\\?\\+\\^$', ['$.*/[]{}()|?+^', '$.*/[]{}()|?+']],
  ['[\\x00-\\x1f]', ['a\u0001b', 'abc', '\u001f', '\n']],
];

describe('pattern → grammar, against RegExp with the u flag', () => {
  for (const [pattern, candidates] of PATTERNS) {
    it(pattern, () => {
      const g = stringGrammar(pattern);
      const re = new RegExp(pattern, 'u');
      for (const s of candidates) {
        const doc = JSON.stringify(s);
        expect({ s, accepted: matches(g, utf8(doc)) }).toEqual({ s, accepted: re.test(s) });
      }
      for (let seed = 1; seed <= 25; seed++) {
        const doc = Buffer.from(randomDocument(g, seed * 613, 20)).toString('utf8');
        const value = JSON.parse(doc) as string;
        expect({ doc, matches: re.test(value) }).toEqual({ doc, matches: true });
      }
    });
  }

  it('character sets become the JSON text of exactly their characters (random sets, every code point class)', () => {
    const r = rng(77);
    // code points around every UTF-8 and JSON boundary
    const probes = [0, 8, 9, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x5b, 0x5c, 0x5d, 0x7e, 0x7f, 0x80, 0xff, 0x7ff, 0x800, 0xd7ff, 0xe000,
      0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff];
    for (let k = 0; k < 30; k++) {
      const ranges: Array<[number, number]> = [];
      for (let j = 0; j < 3; j++) {
        const a = probes[Math.floor(r() * probes.length)];
        const b = probes[Math.floor(r() * probes.length)];
        ranges.push([Math.min(a, b), Math.max(a, b)]);
      }
      const g = new Grammar('root');
      g.define('root', G.seq(G.lit('"'), charSetExpr(ranges), G.lit('"')));
      const c = compileGrammar(g);
      for (const cp of probes) {
        if (cp >= 0xd800 && cp <= 0xdfff) continue;
        const inSet = ranges.some(([lo, hi]) => cp >= lo && cp <= hi);
        const doc = JSON.stringify(String.fromCodePoint(cp));
        expect({ ranges, cp, accepted: matches(c, utf8(doc)) }).toEqual({ ranges, cp, accepted: inSet });
      }
    }
  });

  it('refuses what a grammar cannot express, and what the u flag makes an error', () => {
    const refused: Array<[string, RegExp]> = [
      ['(a)\\1', /backreferences/], ['(?<x>a)\\k<x>', /backreferences/], ['a(?=b)', /lookaround/], ['(?<!a)b', /lookaround/],
      ['\\bword', /word boundaries/], ['\\p{L}', /property escapes/], ['a{2,1}', /out of order/], ['(a', /not closed/],
      ['[a', /not closed/], ['a)', /unexpected/], ['*a', /needs a backslash/], ['a**', /after a quantifier/], ['\\q', /not valid/],
      ['a^b', /\^ and \$/], ['[z-a]', /out of order/], ['[\\d-z]', /between sets/], ['\\', /ends with a backslash/], ['a{', /needs a backslash/],
    ];
    for (const [pattern, message] of refused) {
      let error: unknown;
      try {
        patternExpr(pattern);
      } catch (e) {
        error = e;
      }
      expect({ pattern, error }).toEqual({ pattern, error: expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(message) }) });
    }
  });
});
