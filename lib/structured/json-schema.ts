/**
 * JSON and JSON Schema as grammars (lib/structured/grammar.ts), for structured output: every document of
 * the grammar parses as JSON and, for a schema, validates against it.
 *
 * What a schema may say is the subset OpenAI's structured outputs accept, less what a context-free grammar
 * cannot promise: type (one or several), enum, const, properties, required, additionalProperties, items,
 * prefixItems, minItems, maxItems, minLength, maxLength, pattern (lib/structured/regex.ts), format (date,
 * time, date-time, duration, email, uuid, ipv4), minimum / maximum / exclusiveMinimum / exclusiveMaximum on
 * integers (not on other numbers), anyOf, $ref into the document ($defs, definitions, '#';
 * recursion included), and the annotations (title, description, default, examples…). A string takes either
 * a pattern, a format or length bounds (their intersection is not something one grammar rule can say).
 * Any other keyword is refused with ERR_GPUFORMER_INPUT naming it and where it is — never ignored — so a
 * schema is either enforced whole or not taken.
 *
 * What the grammar generates is a subset of what the schema allows, chosen so that a model's natural
 * output stays inside it:
 *  - properties come in the schema's order (OpenAI's rule too); optional ones may be left out; a property
 *    the schema neither declares nor forbids (additionalProperties absent or true beside `properties`) is
 *    not generated. Without `properties`, an object is a map whose values follow additionalProperties;
 *  - numbers have at most 16 digits before and 16 after the point and 3 in the exponent (past that a
 *    double cannot tell them apart); integers are written without fraction or exponent;
 *  - enum and const values are written as JSON.stringify writes them;
 *  - whitespace between tokens is any JSON whitespace, at most MAX_WHITESPACE bytes in a row: enough for
 *    pretty-printed output, and a bound on the whitespace loops small models fall into when held to a
 *    grammar; none before or after the document (it ends where its value closes);
 *  - strings are any valid UTF-8 with JSON's escapes (counted strings leave out escaped surrogate halves,
 *    which would make a code-point count ambiguous).
 */
import { inputError, shown as show } from '../errors';
import { Expr, G, Grammar } from './grammar';
import { patternExpr } from './regex';

/** The most whitespace bytes in a row between two JSON tokens. */
export const MAX_WHITESPACE = 32;
/** Digits of a number's integer part, its fraction and its exponent. */
const INT_DIGITS = 16;
/** Optional properties before the first required one that an object writes out branch by branch. */
const OPTIONAL_BRANCHES_INLINE = 4;
const FRAC_DIGITS = 16;
const EXP_DIGITS = 3;

/** Where in the schema: a JSON pointer, its end kept when it is long (property names come from the caller). */
const place = (path: string) => JSON.stringify(path.length > 80 ? `…${path.slice(-79)}` : path);
const refuse = (path: string, why: string) => inputError(`response_format: ${why} (at ${place(path)})`);

// ------------------------------------------------------------------------------------- JSON's own rules

const HEX: Array<[number, number]> = [[0x30, 0x39], [0x41, 0x46], [0x61, 0x66]];

/** One character of a string's contents: unescaped UTF-8, or an escape (surrogate escapes only if `surrogates`). */
function jsonChar(surrogates: boolean): Expr {
  const cont = G.bytes([0x80, 0xbf]);
  const hex = G.bytes(...HEX);
  const unicodeEscape = surrogates
    ? G.seq(G.lit('u'), hex, hex, hex, hex)
    // \uXXXX outside D800–DFFF
    : G.seq(G.lit('u'), G.alt(
      G.seq(G.bytes([0x30, 0x39], [0x41, 0x43], [0x61, 0x63], 0x45, 0x46, 0x65, 0x66), hex, hex, hex),
      G.seq(G.bytes(0x44, 0x64), G.bytes([0x30, 0x37]), hex, hex)));
  return G.alt(
    // printable ASCII but '"' and '\'
    G.bytes([0x20, 0x21], [0x23, 0x5b], [0x5d, 0x7f]),
    G.seq(G.lit('\\'), G.alt(G.bytes(0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74), unicodeEscape)),
    // well-formed UTF-8 of U+0080 and above (no overlong forms, no surrogates, nothing past U+10FFFF)
    G.seq(G.bytes([0xc2, 0xdf]), cont),
    G.seq(G.bytes(0xe0), G.bytes([0xa0, 0xbf]), cont),
    G.seq(G.bytes([0xe1, 0xec], [0xee, 0xef]), cont, cont),
    G.seq(G.bytes(0xed), G.bytes([0x80, 0x9f]), cont),
    G.seq(G.bytes(0xf0), G.bytes([0x90, 0xbf]), cont, cont),
    G.seq(G.bytes([0xf1, 0xf3]), cont, cont, cont),
    G.seq(G.bytes(0xf4), G.bytes([0x80, 0x8f]), cont, cont),
  );
}

const digit = () => G.bytes([0x30, 0x39]);
const integerExpr = () => G.seq(G.opt(G.lit('-')), G.alt(G.lit('0'), G.seq(G.bytes([0x31, 0x39]), G.rep(digit(), 0, INT_DIGITS - 1))));

/**
 * Writes the rules every JSON grammar shares, once per grammar, and hands out calls of them: ws, string,
 * number, integer, and the unconstrained value, object and array.
 */
class JsonRules {
  constructor(readonly g: Grammar) {}

  private rule(name: string, body: () => Expr): Expr {
    if (!this.g.has(name)) {
      this.g.define(name, G.empty()); // reserve the name first: the body may call it (value ↔ object)
      this.g.rules.set(name, body());
    }
    return G.ref(name);
  }

  ws = () => this.rule('ws', () => G.rep(G.bytes(0x20, 0x09, 0x0a, 0x0d), 0, MAX_WHITESPACE));
  string = () => this.rule('string', () => G.seq(G.lit('"'), G.star(jsonChar(true)), G.lit('"')));
  integer = () => this.rule('integer', integerExpr);
  number = () => this.rule('number', () => G.seq(
    integerExpr(),
    G.opt(G.seq(G.lit('.'), G.rep(digit(), 1, FRAC_DIGITS))),
    G.opt(G.seq(G.bytes(0x65, 0x45), G.opt(G.bytes(0x2b, 0x2d)), G.rep(digit(), 1, EXP_DIGITS)))));

  /** a string of minLength..maxLength code points */
  countedString(min: number, max: number): Expr {
    return this.rule(`string{${min},${max}}`, () => G.seq(G.lit('"'), G.rep(jsonChar(false), min, max), G.lit('"')));
  }

  /** an integer in [lo, hi] (null: unbounded on that side, as far as INT_DIGITS digits go), no '-0' */
  integerIn(lo: bigint | null, hi: bigint | null): Expr {
    return this.rule(`integer[${lo ?? ''},${hi ?? ''}]`, () => {
      const most = 10n ** BigInt(INT_DIGITS) - 1n;
      const branches: Expr[] = [];
      // the non-negative part, then the negative one as '-' and a magnitude
      const a = lo === null || lo < 0n ? 0n : lo;
      const b = hi === null ? most : hi;
      if (a <= b && a <= most) branches.push(digitsIn(a, b < most ? b : most));
      if (lo === null || lo < 0n) {
        const m0 = hi === null || hi >= 0n ? 1n : -hi;
        const m1 = lo === null ? most : -lo;
        if (m0 <= m1 && m0 <= most) branches.push(G.seq(G.lit('-'), digitsIn(m0, m1 < most ? m1 : most)));
      }
      if (branches.length === 0) throw inputError(`response_format: no integer of at most ${INT_DIGITS} digits lies between the bounds`);
      return G.alt(...branches);
    });
  }

  /** a string whose value the pattern matches */
  patterned(pattern: string): Expr {
    return this.rule(`pattern:${pattern}`, () => G.seq(G.lit('"'), patternExpr(pattern), G.lit('"')));
  }

  value = (): Expr => this.rule('value', () => G.alt(
    this.object(), this.array(), this.string(), this.number(), G.lit('true'), G.lit('false'), G.lit('null')));

  object = (): Expr => this.rule('object', () => this.map(this.value()));
  array = (): Expr => this.rule('array', () => this.list([], this.value(), 0, Infinity));

  sep(byte: string): Expr {
    return G.seq(this.ws(), G.lit(byte), this.ws());
  }

  /** '{' members '}' where every member is "key": value, keys any string */
  map(value: Expr): Expr {
    const member = G.seq(this.string(), this.sep(':'), value);
    return G.seq(G.lit('{'), this.ws(), G.opt(G.seq(member, G.star(G.seq(this.sep(','), member)), this.ws())), G.lit('}'));
  }

  /**
   * '[' elements ']': element i is prefix[i] while there is one, then `rest` (null: no more elements), min
   * to max elements in all (the caller has checked the bounds can be met).
   */
  list(prefix: Expr[], rest: Expr | null, min: number, max: number): Expr {
    const cap = rest ? max : Math.min(max, prefix.length);
    const elem = (i: number) => (i < prefix.length ? prefix[i] : rest!);
    // positions written out one by one: every prefix item, and up to min; the rest repeat
    const explicit = Math.max(Math.min(prefix.length, cap), Math.min(min, cap), cap > 0 ? 1 : 0);
    // after element `explicit` (1-based): more elements of `rest`, as many as max leaves
    let tail: Expr = explicit < cap ? G.rep(G.seq(this.sep(','), rest!), 0, cap - explicit) : G.empty();
    for (let p = explicit - 1; p >= 1; p--) {
      const next = G.seq(this.sep(','), elem(p), tail);
      tail = p >= min ? G.opt(next) : next;
    }
    const inner = explicit === 0 ? null : G.seq(elem(0), tail, this.ws());
    return G.seq(G.lit('['), this.ws(), inner === null ? G.empty() : min === 0 ? G.opt(inner) : inner, G.lit(']'));
  }

  /** a JSON literal, as JSON.stringify writes it */
  literal(v: unknown): Expr {
    return G.lit(JSON.stringify(v));
  }
}

/**
 * The decimal text (no leading zeros) of the integers in [a, b], 0 ≤ a ≤ b: split by digit count, then, in
 * each, by the first digit where a and b part (the classic construction of digit-range patterns).
 */
function digitsIn(a: bigint, b: bigint): Expr {
  const branches: Expr[] = [];
  for (let len = String(a).length; len <= String(b).length; len++) {
    const first = len === 1 ? 0n : 10n ** BigInt(len - 1);
    const last = 10n ** BigInt(len) - 1n;
    const x = a > first ? a : first;
    const y = b < last ? b : last;
    if (x <= y) branches.push(sameLength(String(x), String(y)));
  }
  return G.alt(...branches);
}

/** The digit strings from x to y, both of one length. */
function sameLength(x: string, y: string): Expr {
  const d = (lo: number, hi: number) => G.bytes([0x30 + lo, 0x30 + hi]);
  if (x.length === 1) return d(Number(x), Number(y));
  const rest = x.length - 1;
  const x0 = Number(x[0]);
  const y0 = Number(y[0]);
  if (x0 === y0) return G.seq(d(x0, x0), sameLength(x.slice(1), y.slice(1)));
  const zeros = '0'.repeat(rest);
  const nines = '9'.repeat(rest);
  const branches: Expr[] = [];
  // x0 then x's tail up to all nines; the first digits in between then anything; y0 then up to y's tail
  let from = x0;
  if (x.slice(1) !== zeros) {
    branches.push(G.seq(d(x0, x0), sameLength(x.slice(1), nines)));
    from = x0 + 1;
  }
  let to = y0;
  const last = y.slice(1) !== nines ? G.seq(d(y0, y0), sameLength(zeros, y.slice(1))) : null;
  if (last) to = y0 - 1;
  if (from <= to) branches.push(G.seq(d(from, to), G.rep(d(0, 9), rest, rest)));
  if (last) branches.push(last);
  return G.alt(...branches);
}

/**
 * The grammar of a document that is `body`, with no whitespace before or after it: the generation ends as
 * soon as the value closes, where a model held to a grammar would otherwise go on with whitespace.
 */
function document(rules: JsonRules, body: Expr): Grammar {
  rules.g.define('root', body);
  return rules.g;
}

/** response_format { type: 'json_object' }: any JSON object. */
export function jsonObjectGrammar(): Grammar {
  const rules = new JsonRules(new Grammar('root'));
  return document(rules, rules.object());
}

// ------------------------------------------------------------------------------------- JSON Schema

type Schema = boolean | Record<string, unknown>;
type JsonType = 'null' | 'boolean' | 'object' | 'array' | 'number' | 'integer' | 'string';
const TYPES: readonly JsonType[] = ['null', 'boolean', 'object', 'array', 'number', 'integer', 'string'];

/** Keywords that describe and never constrain. */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', 'deprecated', 'readOnly', 'writeOnly',
  '$schema', '$id', '$anchor', '$defs', 'definitions']);
/** The keywords enforced, by the type they apply to (JSON Schema: a keyword constrains only values of its type). */
const TYPE_KEYWORDS: Record<string, JsonType> = {
  properties: 'object', required: 'object', additionalProperties: 'object',
  items: 'array', prefixItems: 'array', minItems: 'array', maxItems: 'array',
  minLength: 'string', maxLength: 'string', pattern: 'string', format: 'string',
  minimum: 'integer', maximum: 'integer', exclusiveMinimum: 'integer', exclusiveMaximum: 'integer',
};
const BOUNDS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];

const DATE = '\\d{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))' +
  '|(?:\\d\\d(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29';
const TIME = '(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,9})?(?:[Zz]|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)';
const DURATION_TIME = 'T(?:\\d+H(?:\\d+M)?(?:\\d+S)?|\\d+M(?:\\d+S)?|\\d+S)';
const EMAIL_ATOM = "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+";
const EMAIL_LABEL = '[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?';
/**
 * The formats enforced, as patterns: each a subset of what ajv-formats' full mode accepts (dates that
 * exist, leap days included; times and date-times with a time zone, 'T' between date and time, leap
 * seconds and fractions past 9 digits left out). hostname and ipv6 need more than these patterns say, and
 * are refused with every other format.
 */
const FORMATS: Record<string, string> = {
  'date': `^(?:${DATE})$`,
  'time': `^${TIME}$`,
  'date-time': `^(?:${DATE})T${TIME}$`,
  'duration': `^P(?:\\d+W|(?:\\d+Y(?:\\d+M)?(?:\\d+D)?|\\d+M(?:\\d+D)?|\\d+D)(?:${DURATION_TIME})?|${DURATION_TIME})$`,
  'uuid': '^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$',
  'ipv4': '^(?:(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)\\.){3}(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)$',
  'email': `^${EMAIL_ATOM}(?:\\.${EMAIL_ATOM})*@(?:${EMAIL_LABEL}\\.)+${EMAIL_LABEL}$`,
};
const STRUCTURE = new Set(['type', 'enum', 'const', 'anyOf', '$ref']);

/** What JSON.parse gives for a JSON value's type, as a schema names it. */
function typeOf(v: unknown): JsonType {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v as JsonType;
}


class SchemaGrammar {
  private readonly rules = new JsonRules(new Grammar('root'));
  /** rule name of each $ref target and of each object or array schema already converted, by JSON text */
  private readonly named = new Map<string, string>();
  private counter = 0;

  constructor(private readonly root: Schema) {}

  grammar(): Grammar {
    return document(this.rules, this.value(this.root, '#'));
  }

  /** The expression of every value `schema` allows (a subset: see the file's comment). */
  private value(schema: unknown, path: string): Expr {
    if (schema === true) return this.rules.value();
    if (schema === false) throw refuse(path, 'the schema false allows no value, so nothing can be generated');
    if (schema === null || typeof schema !== 'object' || Array.isArray(schema)) {
      throw refuse(path, `a schema must be an object or a boolean, got ${show(schema)}`);
    }
    const s = schema as Record<string, unknown>;
    for (const k of Object.keys(s)) {
      if (!ANNOTATIONS.has(k) && !STRUCTURE.has(k) && !(k in TYPE_KEYWORDS)) {
        throw refuse(path, `the JSON Schema keyword ${show(k)} is not supported for structured output`);
      }
    }
    const constraints = Object.keys(s).filter((k) => !ANNOTATIONS.has(k));
    const alone = (k: string, allowed: string[] = []) => {
      const others = constraints.filter((x) => x !== k && !allowed.includes(x));
      if (others.length) throw refuse(path, `'${k}' beside ${others.map((x) => show(x)).join(', ')} is not supported`);
    };

    if ('$ref' in s) {
      alone('$ref');
      return this.ref(s.$ref, path);
    }
    if ('anyOf' in s) {
      alone('anyOf');
      const list = s.anyOf;
      if (!Array.isArray(list) || list.length === 0) throw refuse(`${path}/anyOf`, `anyOf must be a non-empty array of schemas, got ${show(list)}`);
      return G.alt(...list.map((sub, i) => this.value(sub, `${path}/anyOf/${i}`)));
    }
    const types = this.types(s, path);
    if ('const' in s || 'enum' in s) return this.literals(s, types, path, alone);
    return G.alt(...types.map((t) => this.typed(t, s, path)));
  }

  /** The types a schema allows: its `type`, or every type (number standing for integer too). */
  private types(s: Record<string, unknown>, path: string): JsonType[] {
    if (!('type' in s)) return TYPES.filter((t) => t !== 'integer');
    const list = Array.isArray(s.type) ? s.type : [s.type];
    if (list.length === 0) throw refuse(`${path}/type`, 'type must name at least one type');
    for (const t of list) {
      if (!TYPES.includes(t as JsonType)) throw refuse(`${path}/type`, `type must be one of ${TYPES.join(', ')}, got ${show(t)}`);
    }
    const set = new Set(list as JsonType[]);
    if (set.has('number')) set.delete('integer'); // every integer is a number
    return [...set];
  }

  /** enum / const: their values (of the allowed types), written as JSON.stringify writes them */
  private literals(s: Record<string, unknown>, types: JsonType[], path: string, alone: (k: string, allowed?: string[]) => void): Expr {
    const k = 'const' in s ? 'const' : 'enum';
    alone(k, ['type']);
    if (k === 'enum' && (!Array.isArray(s.enum) || s.enum.length === 0)) throw refuse(`${path}/enum`, `enum must be a non-empty array, got ${show(s.enum)}`);
    const values = k === 'const' ? [s.const] : (s.enum as unknown[]);
    const ok = values.filter((v) => {
      const t = typeOf(v);
      return types.includes(t) || (t === 'integer' && types.includes('number'));
    });
    if (ok.length === 0) throw refuse(`${path}/${k}`, `no value of ${k} has the type ${types.join(' or ')}`);
    return G.alt(...ok.map((v) => this.rules.literal(v)));
  }

  /** The values of one type, under that type's keywords. */
  private typed(t: JsonType, s: Record<string, unknown>, path: string): Expr {
    switch (t) {
      case 'null': return G.lit('null');
      case 'boolean': return G.alt(G.lit('true'), G.lit('false'));
      case 'number': {
        const bounds = BOUNDS.filter((k) => s[k] !== undefined);
        if (bounds.length) throw refuse(path, `${bounds.map((k) => `'${k}'`).join(', ')} on non-integer numbers is not supported (it is on integers)`);
        return this.rules.number();
      }
      case 'integer': return this.integer(s, path);
      case 'string': return this.string(s, path);
      case 'object': return this.named_(s, 'object', path, () => this.object(s, path));
      case 'array': return this.named_(s, 'array', path, () => this.array(s, path));
    }
  }

  /** An integer within the schema's bounds (minimum, maximum and their exclusive forms; none: any integer). */
  private integer(s: Record<string, unknown>, path: string): Expr {
    let lo: bigint | null = null;
    let hi: bigint | null = null;
    for (const k of BOUNDS) {
      const v = s[k];
      if (v === undefined) continue;
      if (typeof v !== 'number' || !Number.isFinite(v)) throw refuse(`${path}/${k}`, `${k} must be a number, got ${show(v)}`);
      // the integers the bound lets through, as an inclusive bound
      if (k === 'minimum' || k === 'exclusiveMinimum') {
        const b = k === 'minimum' ? BigInt(Math.ceil(v)) : BigInt(Math.floor(v)) + 1n;
        lo = lo === null || b > lo ? b : lo;
      } else {
        const b = k === 'maximum' ? BigInt(Math.floor(v)) : BigInt(Math.ceil(v)) - 1n;
        hi = hi === null || b < hi ? b : hi;
      }
    }
    if (lo === null && hi === null) return this.rules.integer();
    if (lo !== null && hi !== null && lo > hi) throw refuse(path, `no integer lies between the bounds (${lo} to ${hi})`);
    return this.rules.integerIn(lo, hi);
  }

  private string(s: Record<string, unknown>, path: string): Expr {
    const shaped = ['pattern', 'format'].filter((k) => s[k] !== undefined);
    if (shaped.length > 0) {
      const others = ['pattern', 'format', 'minLength', 'maxLength'].filter((k) => s[k] !== undefined && k !== shaped[0]);
      if (others.length) throw refuse(path, `'${shaped[0]}' beside ${others.map((x) => `'${x}'`).join(', ')} is not supported`);
      let regex: string;
      if (shaped[0] === 'pattern') {
        if (typeof s.pattern !== 'string') throw refuse(`${path}/pattern`, `pattern must be a string, got ${show(s.pattern)}`);
        regex = s.pattern;
      } else {
        if (typeof s.format !== 'string' || !(s.format in FORMATS)) {
          throw refuse(`${path}/format`, `the format ${show(s.format)} is not supported (supported: ${Object.keys(FORMATS).join(', ')})`);
        }
        regex = FORMATS[s.format];
      }
      return this.rules.patterned(regex);
    }
    const min = this.count(s, 'minLength', path) ?? 0;
    const max = this.count(s, 'maxLength', path) ?? Infinity;
    if (min > max) throw refuse(path, `minLength ${min} is more than maxLength ${max}`);
    return min === 0 && max === Infinity ? this.rules.string() : this.rules.countedString(min, max);
  }

  private object(s: Record<string, unknown>, path: string): Expr {
    const props = s.properties ?? {};
    if (props === null || typeof props !== 'object' || Array.isArray(props)) {
      throw refuse(`${path}/properties`, `properties must be an object, got ${show(props)}`);
    }
    const required = s.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string') || new Set(required).size !== required.length) {
      throw refuse(`${path}/required`, `required must be an array of distinct strings, got ${show(required)}`);
    }
    const additional = s.additionalProperties;
    if (additional !== undefined && typeof additional !== 'boolean' && (additional === null || typeof additional !== 'object')) {
      throw refuse(`${path}/additionalProperties`, `additionalProperties must be a boolean or a schema, got ${show(additional)}`);
    }
    const declared = Object.entries(props as Record<string, unknown>);
    // a required name the properties do not declare: any value, where additional properties are allowed
    for (const r of required as string[]) {
      if (declared.some(([name]) => name === r)) continue;
      if (additional === false) throw refuse(path, `${show(r)} is required, but properties does not declare it and additionalProperties is false`);
      declared.push([r, additional === undefined ? true : additional]);
    }
    if (declared.length === 0) {
      // a map: any keys, values of additionalProperties (nothing at all when it is false)
      if (additional === false) return G.seq(G.lit('{'), this.rules.ws(), G.lit('}'));
      return this.rules.map(this.value(additional ?? true, `${path}/additionalProperties`));
    }
    const members = declared.map(([name, sub]) => ({
      kv: G.seq(this.rules.literal(name), this.rules.sep(':'), this.value(sub, `${path}/properties/${escapePointer(name)}`)),
      required: (required as string[]).includes(name),
    }));
    // the first member present is the first required one or an optional one before it: one branch each
    let leading = members.findIndex((m) => m.required);
    if (leading < 0) leading = members.length - 1;
    // after member i: the members after it, each present one preceded by a comma
    const rest: Expr[] = [];
    rest[members.length] = G.empty();
    for (let i = members.length - 1; i >= 0; i--) {
      const withComma = G.seq(this.rules.sep(','), members[i].kv);
      rest[i] = G.seq(members[i].required ? withComma : G.opt(withComma), rest[i + 1]);
      // every branch holds the rest after its member: past a few branches, each rest becomes a rule that
      // calls the next one, so the object's size stays linear in its members
      if (leading > OPTIONAL_BRANCHES_INLINE && i >= 1 && i <= leading) {
        rest[i] = G.ref(this.rules.g.define(`rest${this.counter++}@${path}`, rest[i]));
      }
    }
    const firsts = members.slice(0, leading + 1).map((m, i) => G.seq(m.kv, rest[i + 1], this.rules.ws()));
    const allOptional = !members[leading].required;
    const body = G.alt(...firsts);
    return G.seq(G.lit('{'), this.rules.ws(), allOptional ? G.opt(body) : body, G.lit('}'));
  }

  private array(s: Record<string, unknown>, path: string): Expr {
    const prefixSchemas = s.prefixItems ?? [];
    if (!Array.isArray(prefixSchemas)) throw refuse(`${path}/prefixItems`, `prefixItems must be an array of schemas, got ${show(prefixSchemas)}`);
    const prefix = prefixSchemas.map((sub, i) => this.value(sub, `${path}/prefixItems/${i}`));
    const items = s.items ?? true;
    if (Array.isArray(items)) throw refuse(`${path}/items`, 'items as an array (draft 4 tuples) is not supported; use prefixItems');
    const rest = items === false ? null : this.value(items, `${path}/items`);
    const min = this.count(s, 'minItems', path) ?? 0;
    const max = this.count(s, 'maxItems', path) ?? Infinity;
    const most = rest ? max : Math.min(max, prefix.length);
    if (min > most) throw refuse(path, `minItems ${min} cannot be met (at most ${most} items are allowed)`);
    return this.rules.list(prefix, rest, min, max);
  }

  private count(s: Record<string, unknown>, k: string, path: string): number | undefined {
    const v = s[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw refuse(`${path}/${k}`, `${k} must be an integer ≥ 0, got ${show(v)}`);
    return v;
  }

  /** An object or array schema as a rule of its own, shared by every identical schema. */
  private named_(s: Record<string, unknown>, kind: string, path: string, body: () => Expr): Expr {
    const key = `${kind}:${JSON.stringify(s)}`;
    let name = this.named.get(key);
    if (name === undefined) {
      name = `${kind}${this.counter++}@${path}`;
      this.named.set(key, name);
      this.rules.g.define(name, G.empty());
      this.rules.g.rules.set(name, body());
    }
    return G.ref(name);
  }

  /** A $ref into this document ('#', '#/$defs/x', any JSON pointer), as a rule: refs may recurse. */
  private ref(ref: unknown, path: string): Expr {
    if (typeof ref !== 'string' || !ref.startsWith('#')) {
      throw refuse(`${path}/$ref`, `only references into the schema itself ('#…') are supported, got ${show(ref)}`);
    }
    const key = `$ref:${ref}`;
    let name = this.named.get(key);
    if (name === undefined) {
      name = `ref${this.counter++}:${ref}`;
      this.named.set(key, name);
      this.rules.g.define(name, G.empty());
      this.rules.g.rules.set(name, this.value(resolvePointer(this.root, ref, path), ref));
    }
    return G.ref(name);
  }
}

const escapePointer = (name: string) => name.replace(/~/g, '~0').replace(/\//g, '~1');

function resolvePointer(root: Schema, ref: string, path: string): unknown {
  const pointer = decodeURIComponent(ref.slice(1));
  if (pointer === '') return root;
  if (!pointer.startsWith('/')) throw refuse(`${path}/$ref`, `${show(ref)} is not a JSON pointer ('#/…'); anchors are not supported`);
  let at: unknown = root;
  for (const raw of pointer.slice(1).split('/')) {
    const part = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object' || !(part in (at as Record<string, unknown>))) {
      throw refuse(`${path}/$ref`, `${show(ref)} does not point into the schema`);
    }
    at = (at as Record<string, unknown>)[part];
  }
  return at;
}

/**
 * response_format { type: 'json_schema' }: the documents that validate against `schema` (the subset the
 * file's comment describes), or ERR_GPUFORMER_INPUT naming the keyword that cannot be enforced.
 */
export function jsonSchemaGrammar(schema: unknown): Grammar {
  if (typeof schema !== 'boolean' && (schema === null || typeof schema !== 'object' || Array.isArray(schema))) {
    throw inputError(`response_format: the schema must be a JSON Schema object, got ${show(schema)}`);
  }
  return new SchemaGrammar(schema as Schema).grammar();
}

/** What a response format asks for (response-format.ts), checked but not compiled: its grammar's source. */
export type FormatSource = { type: 'json_object' } | { type: 'json_schema'; schema: unknown };

/** The grammar a format's source writes; ERR_GPUFORMER_INPUT naming a keyword it cannot enforce. */
export function grammarOf(f: FormatSource): Grammar {
  return f.type === 'json_object' ? jsonObjectGrammar() : jsonSchemaGrammar(f.schema);
}
