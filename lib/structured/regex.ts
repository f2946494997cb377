/**
 * JSON Schema's `pattern` (an ECMAScript regular expression, read with the `u` flag as validators do) as
 * a grammar expression over the bytes of a JSON string's contents (lib/structured/grammar.ts).
 *
 * The regular expression speaks of the decoded string, the grammar of its JSON text, so each set of
 * characters becomes the bytes that write them: UTF-8 for most, JSON's escapes for '"', '\' and the
 * control characters (written as JSON.stringify writes them). A pattern matches anywhere in the string
 * (JSON Schema does not anchor it): an alternative without ^ or $ may have any characters before or after.
 *
 * Supported: characters and escapes (\t \n \v \f \r \0 \xHH \uHHHH \u{…} \cX, escaped syntax characters),
 * . \d \D \w \W \s \S, classes with ranges and negation, groups (capturing, named, (?:…)), alternation,
 * the quantifiers * + ? {n} {n,} {n,m} (greedy or lazy: the same strings match), and ^ / $ at the ends of a
 * top-level alternative. Refused, with ERR_GPUFORMER_INPUT: what no grammar can express (backreferences,
 * lookaround, \b) and what the `u` flag makes a syntax error.
 */
import { inputError } from '../errors';
import { Expr, G } from './grammar';

/** Code point ranges [lo, hi], sorted and disjoint. */
type CharSet = Array<[number, number]>;

type Node =
  | { k: 'set'; set: CharSet }
  | { k: 'seq'; items: Node[] }
  | { k: 'alt'; items: Node[] }
  | { k: 'rep'; item: Node; min: number; max: number }
  | { k: 'start' }
  | { k: 'end' };

const MAX_CODE_POINT = 0x10ffff;

function normalize(ranges: CharSet): CharSet {
  const sorted = ranges.filter(([lo, hi]) => lo <= hi).sort((a, b) => a[0] - b[0]);
  const out: CharSet = [];
  for (const [lo, hi] of sorted) {
    const last = out[out.length - 1];
    if (last && lo <= last[1] + 1) last[1] = Math.max(last[1], hi);
    else out.push([lo, hi]);
  }
  return out;
}

function complement(set: CharSet): CharSet {
  const out: CharSet = [];
  let next = 0;
  for (const [lo, hi] of normalize(set)) {
    if (lo > next) out.push([next, lo - 1]);
    next = hi + 1;
  }
  if (next <= MAX_CODE_POINT) out.push([next, MAX_CODE_POINT]);
  return out;
}

const DIGIT: CharSet = [[0x30, 0x39]];
const WORD: CharSet = [[0x30, 0x39], [0x41, 0x5a], [0x5f, 0x5f], [0x61, 0x7a]];
/** ECMAScript's WhiteSpace and LineTerminator */
const SPACE: CharSet = normalize([[0x09, 0x0d], [0x20, 0x20], [0xa0, 0xa0], [0x1680, 0x1680], [0x2000, 0x200a], [0x2028, 0x2029],
  [0x202f, 0x202f], [0x205f, 0x205f], [0x3000, 0x3000], [0xfeff, 0xfeff]]);
/** '.' without the s flag: anything but a line terminator */
const DOT: CharSet = complement([[0x0a, 0x0a], [0x0d, 0x0d], [0x2028, 0x2029]]);
const ANY: CharSet = [[0, MAX_CODE_POINT]];

class Parser {
  private i = 0;
  constructor(private readonly src: string) {}

  parse(): Node {
    const n = this.alternation();
    if (this.i < this.src.length) throw this.error(`unexpected '${this.src[this.i]}'`);
    return n;
  }

  error(why: string) {
    return inputError(`response_format: the pattern ${JSON.stringify(this.src.slice(0, 60))} cannot be enforced: ${why} (at ${this.i})`);
  }

  private peek(): string | undefined {
    return this.src[this.i];
  }

  private eat(s: string): boolean {
    if (this.src.startsWith(s, this.i)) {
      this.i += s.length;
      return true;
    }
    return false;
  }

  private alternation(): Node {
    const items = [this.sequence()];
    while (this.eat('|')) items.push(this.sequence());
    return items.length === 1 ? items[0] : { k: 'alt', items };
  }

  private sequence(): Node {
    const items: Node[] = [];
    while (this.i < this.src.length && this.peek() !== '|' && this.peek() !== ')') {
      let atom = this.atom();
      for (;;) {
        const q = this.quantifier();
        if (!q) break;
        if (atom.k === 'start' || atom.k === 'end') throw this.error('a quantifier on an anchor');
        atom = { k: 'rep', item: atom, min: q[0], max: q[1] };
        this.eat('?'); // lazy: the same strings match
        if (/^[*+?{]/.test(this.src.slice(this.i))) throw this.error('a quantifier after a quantifier');
      }
      items.push(atom);
    }
    return items.length === 1 ? items[0] : { k: 'seq', items };
  }

  private quantifier(): [number, number] | null {
    if (this.eat('*')) return [0, Infinity];
    if (this.eat('+')) return [1, Infinity];
    if (this.eat('?')) return [0, 1];
    const m = /^\{(\d+)(,(\d*))?\}/.exec(this.src.slice(this.i));
    if (!m) return null;
    this.i += m[0].length;
    const min = Number(m[1]);
    const max = m[2] === undefined ? min : m[3] === '' ? Infinity : Number(m[3]);
    if (max < min) throw this.error(`the quantifier {${min},${max}} is out of order`);
    return [min, max];
  }

  private atom(): Node {
    const c = this.peek()!;
    if (this.eat('(')) {
      if (/^\?(=|!|<=|<!)/.test(this.src.slice(this.i))) throw this.error('lookaround assertions are not supported');
      if (!this.eat('?:') && this.eat('?<')) {
        const m = /^[A-Za-z_$][\w$]*>/.exec(this.src.slice(this.i));
        if (!m) throw this.error('a malformed group name');
        this.i += m[0].length;
      } else if (this.peek() === '?') {
        throw this.error('an unknown group');
      }
      const inner = this.alternation();
      if (!this.eat(')')) throw this.error('a group is not closed');
      return inner;
    }
    if (this.eat('[')) return { k: 'set', set: this.charClass() };
    if (this.eat('.')) return { k: 'set', set: DOT };
    if (this.eat('^')) return { k: 'start' };
    if (this.eat('$')) return { k: 'end' };
    if (this.eat('\\')) return { k: 'set', set: this.escape(false) };
    if ('*+?{}])'.includes(c)) throw this.error(`'${c}' needs a backslash`);
    return { k: 'set', set: [[this.codePoint(), this.codePoint(true)]] };
  }

  /** the code point at the cursor (advancing past it when `take`) */
  private codePoint(take = false): number {
    const cp = this.src.codePointAt(this.i)!;
    if (take) this.i += cp > 0xffff ? 2 : 1;
    return cp;
  }

  /** after '[': the class's characters, up to and past ']' */
  private charClass(): CharSet {
    const negate = this.eat('^');
    const set: CharSet = [];
    while (!this.eat(']')) {
      if (this.i >= this.src.length) throw this.error('a class is not closed');
      const lo = this.classAtom();
      if (this.peek() === '-' && this.src[this.i + 1] !== ']' && this.i + 1 < this.src.length) {
        this.i++;
        const hi = this.classAtom();
        if (lo.length !== 1 || hi.length !== 1 || lo[0][0] !== lo[0][1] || hi[0][0] !== hi[0][1]) {
          throw this.error('a class range between sets (as \\d-x) is not allowed with the u flag');
        }
        if (hi[0][0] < lo[0][0]) throw this.error('a class range is out of order');
        set.push([lo[0][0], hi[0][0]]);
      } else {
        set.push(...lo);
      }
    }
    const n = normalize(set);
    return negate ? complement(n) : n;
  }

  private classAtom(): CharSet {
    if (this.eat('\\')) return this.escape(true);
    const cp = this.codePoint(true);
    return [[cp, cp]];
  }

  /** after '\': the set the escape stands for */
  private escape(inClass: boolean): CharSet {
    const c = this.peek();
    if (c === undefined) throw this.error('the pattern ends with a backslash');
    const one = (cp: number): CharSet => [[cp, cp]];
    const sets: Record<string, CharSet> = { d: DIGIT, D: complement(DIGIT), w: WORD, W: complement(WORD), s: SPACE, S: complement(SPACE) };
    if (c in sets) {
      this.i++;
      return sets[c];
    }
    const controls: Record<string, number> = { t: 9, n: 10, v: 11, f: 12, r: 13 };
    if (c in controls) {
      this.i++;
      return one(controls[c]);
    }
    if (c === 'b' && inClass) {
      this.i++;
      return one(8);
    }
    if (c === 'b' || c === 'B') throw this.error('word boundaries (\\b, \\B) are not supported');
    if (c === '0' && !/[0-9]/.test(this.src[this.i + 1] ?? '')) {
      this.i++;
      return one(0);
    }
    if (/[1-9]/.test(c) || c === 'k') throw this.error('backreferences are not supported');
    if (c === 'p' || c === 'P') throw this.error('Unicode property escapes (\\p{…}) are not supported');
    if (c === 'c' && /[A-Za-z]/.test(this.src[this.i + 1] ?? '')) {
      this.i += 2;
      return one(this.src.charCodeAt(this.i - 1) % 32);
    }
    const hex = (n: number) => {
      const m = new RegExp(`^[0-9A-Fa-f]{${n}}`).exec(this.src.slice(this.i));
      if (!m) throw this.error('a malformed hexadecimal escape');
      this.i += n;
      return parseInt(m[0], 16);
    };
    if (c === 'x') {
      this.i++;
      return one(hex(2));
    }
    if (c === 'u') {
      this.i++;
      if (this.eat('{')) {
        const m = /^[0-9A-Fa-f]{1,6}\}/.exec(this.src.slice(this.i));
        if (!m || parseInt(m[0], 16) > MAX_CODE_POINT) throw this.error('a malformed \\u{…} escape');
        this.i += m[0].length;
        return one(parseInt(m[0], 16));
      }
      const u = hex(4);
      // a surrogate pair written as two escapes is one code point
      if (u >= 0xd800 && u <= 0xdbff && this.src.startsWith('\\u', this.i) && /^[dD][c-fC-F]/.test(this.src.slice(this.i + 2))) {
        this.i += 2;
        const low = hex(4);
        return one(0x10000 + ((u - 0xd800) << 10) + (low - 0xdc00));
      }
      return one(u);
    }
    // an escaped syntax character ('-' only inside a class, as the u flag says)
    if ('^$\\.*+?()[]{}|/'.includes(c) || (inClass && c === '-')) {
      this.i++;
      return one(c.charCodeAt(0));
    }
    throw this.error(`the escape \\${c} is not valid with the u flag`);
  }
}

// ------------------------------------------------------------------------------------- characters → bytes

/** How JSON.stringify writes the characters that must be escaped. */
function escapeOf(cp: number): string {
  const short: Record<number, string> = { 0x08: '\\b', 0x09: '\\t', 0x0a: '\\n', 0x0c: '\\f', 0x0d: '\\r', 0x22: '\\"', 0x5c: '\\\\' };
  return short[cp] ?? `\\u${cp.toString(16).padStart(4, '0')}`;
}

/** The UTF-8 bytes of a code point. */
function utf8Of(cp: number): number[] {
  return [...Buffer.from(String.fromCodePoint(cp), 'utf8')];
}

/**
 * A range of code points of one UTF-8 length as sequences of byte ranges (Russ Cox's construction, as in
 * RE2 and Rust's regex-syntax): split until every continuation byte spans a whole 6-bit block or the range
 * has one prefix, then each byte position is one range.
 */
function utf8Sequences(lo: number, hi: number, out: Array<Array<[number, number]>>): void {
  for (const limit of [0x7f, 0x7ff, 0xffff]) {
    if (lo <= limit && hi > limit) {
      utf8Sequences(lo, limit, out);
      utf8Sequences(limit + 1, hi, out);
      return;
    }
  }
  if (hi < 0x80) {
    out.push([[lo, hi]]);
    return;
  }
  const n = utf8Of(lo).length;
  for (let i = 1; i < n; i++) {
    const m = (1 << (6 * i)) - 1;
    if ((lo & ~m) !== (hi & ~m)) {
      if ((lo & m) !== 0) {
        utf8Sequences(lo, lo | m, out);
        utf8Sequences((lo | m) + 1, hi, out);
        return;
      }
      if ((hi & m) !== m) {
        utf8Sequences(lo, (hi & ~m) - 1, out);
        utf8Sequences(hi & ~m, hi, out);
        return;
      }
    }
  }
  const a = utf8Of(lo);
  const b = utf8Of(hi);
  out.push(a.map((x, k) => [x, b[k]]));
}

/** The JSON text of one character of the set: its escape, or its UTF-8 (surrogates, unencodable, left out). */
export function charSetExpr(set: CharSet): Expr {
  const branches: Expr[] = [];
  for (const [lo, hi] of set) {
    // the escaped characters, one by one
    for (let cp = lo; cp <= Math.min(hi, 0x5c); cp++) if (cp < 0x20 || cp === 0x22 || cp === 0x5c) branches.push(G.lit(escapeOf(cp)));
    // the others, by runs that UTF-8 writes alike
    for (const [a, b] of [[0x20, 0x21], [0x23, 0x5b], [0x5d, 0xd7ff], [0xe000, MAX_CODE_POINT]]) {
      const x = Math.max(lo, a);
      const y = Math.min(hi, b);
      if (x > y) continue;
      const seqs: Array<Array<[number, number]>> = [];
      utf8Sequences(x, y, seqs);
      for (const s of seqs) branches.push(G.seq(...s.map((r) => G.bytes(r))));
    }
  }
  if (branches.length === 0) throw inputError('response_format: a pattern has a character class that no JSON string character can match');
  return G.alt(...branches);
}

function toExpr(n: Node, fail: (why: string) => Error): Expr {
  switch (n.k) {
    case 'set': return charSetExpr(n.set);
    case 'seq': return G.seq(...n.items.map((x) => toExpr(x, fail)));
    case 'alt': return G.alt(...n.items.map((x) => toExpr(x, fail)));
    case 'rep': return G.rep(toExpr(n.item, fail), n.min, n.max);
    default: throw fail('^ and $ are supported only at the start and end of the pattern (or of a top-level alternative)');
  }
}

/**
 * The contents (between the quotes) of the JSON strings whose value `pattern` matches somewhere, or
 * ERR_GPUFORMER_INPUT saying what of the pattern cannot be enforced.
 */
export function patternExpr(pattern: string): Expr {
  const parser = new Parser(pattern);
  const root = parser.parse();
  const anyChars = G.star(charSetExpr(ANY));
  const alternatives = root.k === 'alt' ? root.items : [root];
  return G.alt(...alternatives.map((alt) => {
    const items = alt.k === 'seq' ? [...alt.items] : [alt];
    let anchoredStart = false;
    let anchoredEnd = false;
    while (items[0]?.k === 'start') {
      items.shift();
      anchoredStart = true;
    }
    while (items[items.length - 1]?.k === 'end') {
      items.pop();
      anchoredEnd = true;
    }
    const body = G.seq(...items.map((x) => toExpr(x, (why) => parser.error(why))));
    return G.seq(anchoredStart ? G.empty() : anyChars, body, anchoredEnd ? G.empty() : anyChars);
  }));
}
