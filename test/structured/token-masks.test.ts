/**
 * Token masks (lib/structured/token-masks.ts) against the slow way — every token of the vocabulary read
 * byte by byte from the configuration — on a small made-up vocabulary at every byte of random documents,
 * and on SmolLM2's real vocabulary; the per-request constraint (stop tokens only once the document is
 * whole, the end of generation, a disallowed token refused); and random generations through the masks with
 * the real vocabulary, each of which must parse and validate (ajv).
 */
import Ajv2020 from 'ajv/dist/2020';
import { StackSet, advance, advanceBytes, initialSet } from '../../lib/structured/automaton';
import { CompiledGrammar, compileGrammar } from '../../lib/structured/grammar';
import { jsonObjectGrammar, jsonSchemaGrammar } from '../../lib/structured/json-schema';
import { checkResponseFormat, constraintFor, grammarMasks } from '../../lib/structured/response-format';
import { GrammarConstraint, GrammarMasks } from '../../lib/structured/token-masks';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { rng } from '../helpers/random';
import {
  allowed, bruteForceMask, distanceToEnd, maskIds, randomDocument, shortestCompletions, smolTokenizer, utf8,
} from './helpers';

const SCHEMAS: Record<string, unknown> = {
  person: {
    type: 'object', additionalProperties: false, required: ['name', 'age'],
    properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' }, maxItems: 3 } },
  },
  choice: { anyOf: [{ type: 'object', properties: { a: { enum: ['x', 'yz'] } }, required: ['a'], additionalProperties: false }, { type: 'array', items: { type: 'number' } }] },
  tree: {
    $defs: { t: { type: 'object', properties: { v: { type: 'string', maxLength: 4 }, kids: { type: 'array', items: { $ref: '#/$defs/t' } } }, required: ['v'], additionalProperties: false } },
    $ref: '#/$defs/t',
  },
};
const grammars: Array<[string, CompiledGrammar]> = [
  ['json_object', compileGrammar(jsonObjectGrammar())],
  ...Object.entries(SCHEMAS).map(([k, s]) => [k, compileGrammar(jsonSchemaGrammar(s))] as [string, CompiledGrammar]),
];

/**
 * A small vocabulary: every single byte, JSON-ish pieces that cross rule boundaries ('",', '"}', ' "', '":
 * "'), words, digits, whitespace runs, multi-byte characters and special tokens (no bytes).
 */
function smallVocabulary(): TokenVocabulary {
  const pieces = ['{"', '":', '": "', '",', '"}', '"]', '"},', '}}', '}]', ' "', '\n  "', '  ', '\n', '    ', 'name', 'age', 'tags',
    'true', 'false', 'null', 'nu', 'll', '12', '0.', '.5', 'e+', 'E-1', '-', '1', '[', '[]', '{}', '[{"', ', ', ',"', 'ab', 'yz', '"x"',
    'é', 'ë"', '😀', '\\n', '\\"', '\\u00', 'a\\', '" }', '"\n}', 'kids', 'v', '":[', '": {', 'Hello', ' world', 'x'];
  const bytes: Array<Uint8Array | null> = [null, null]; // ids 0 and 1: special tokens
  for (let b = 0; b < 256; b++) bytes.push(Uint8Array.of(b));
  for (const p of pieces) bytes.push(utf8(p));
  bytes.push(utf8('name')); // the same bytes twice
  return new TokenVocabulary(bytes.length + 5, bytes); // ids past the list: no text
}

describe('token masks', () => {
  const small = smallVocabulary();

  for (const [name, g] of grammars) {
    it(`${name}: the mask at every byte of random documents equals the slow one (small vocabulary)`, () => {
      const masks = new GrammarMasks(g, small);
      let checked = 0;
      for (let seed = 1; seed <= 12; seed++) {
        let set: StackSet = initialSet(g);
        for (const b of randomDocument(g, seed * 31, 50)) {
          expect(maskIds(masks.maskFor(set))).toEqual(maskIds(bruteForceMask(g, small, set)));
          checked++;
          set = advance(g, set, b);
        }
      }
      expect(checked).toBeGreaterThan(200);
      expect(masks.stats.masksCached).toBeGreaterThan(0);
    });
  }

  it('equals the slow mask on SmolLM2\'s vocabulary along real documents', async () => {
    const { vocab } = await smolTokenizer();
    for (const [name, g] of grammars) {
      const masks = new GrammarMasks(g, vocab);
      const doc = utf8(name === 'person' ? '{"name": "Zoë \\"Q\\"", "age": -7, "tags": ["a b"]}' : Buffer.from(randomDocument(g, 5, 40)).toString());
      let set: StackSet = initialSet(g);
      // every few bytes: the slow mask reads 49152 tokens
      doc.forEach((b, i) => {
        if (i % 8 === 0) expect({ name, at: i, ids: maskIds(masks.maskFor(set)) }).toEqual({ name, at: i, ids: maskIds(bruteForceMask(g, vocab, set)) });
        set = advance(g, set, b);
      });
    }
  });

  it('allows stop tokens exactly where the document may end, and is complete when nothing can follow', () => {
    const g = compileGrammar(jsonSchemaGrammar({ type: 'integer' }));
    const c = new GrammarConstraint(new GrammarMasks(g, small), [0]);
    const id = (s: string) => small.bytes.findIndex((b) => b !== null && Buffer.from(b).toString() === s);
    expect(allowed(c.allowedTokens(), 0)).toBe(false);
    expect(allowed(c.allowedTokens(), id('-'))).toBe(true);
    expect(allowed(c.allowedTokens(), id('{"'))).toBe(false);
    c.accept(id('12'));
    expect(c.canStop).toBe(true);
    expect(c.isComplete).toBe(false); // more digits or whitespace may follow
    expect(allowed(c.allowedTokens(), 0)).toBe(true);
    expect(allowed(c.allowedTokens(), 1)).toBe(false); // a special token that is not a stop token
    c.accept(0);
    expect(c.isComplete).toBe(true);

    // a closed value: nothing more can come (no whitespace after a document), the generation is over
    // without a stop token
    const obj = new GrammarConstraint(new GrammarMasks(compileGrammar(jsonSchemaGrammar({ const: 'x' })), small), [0]);
    expect(allowed(obj.allowedTokens(), id(' '))).toBe(false);
    obj.accept(id('"x"'));
    expect(obj.isComplete).toBe(true);
  });

  it('a grammar that needs bytes no token has is an error, not an empty mask', () => {
    // the small vocabulary has no token for byte 0xF1 alone, and none that starts with it
    const noF1 = new TokenVocabulary(small.size, small.bytes.map((b) => (b && b[0] === 0xf1 ? null : b)));
    const g = compileGrammar(jsonSchemaGrammar({ type: 'string', pattern: '^\\u{40000}$' }));
    const c = new GrammarConstraint(new GrammarMasks(g, noF1), [0]);
    c.accept(noF1.bytes.findIndex((b) => b !== null && b.length === 1 && b[0] === 0x22));
    expect(() => c.allowedTokens()).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
  });

  it('refuses a token the mask did not allow', () => {
    const c = new GrammarConstraint(new GrammarMasks(compileGrammar(jsonObjectGrammar()), small), [0]);
    const brace = small.bytes.findIndex((b) => b !== null && b.length === 1 && b[0] === 0x7b);
    expect(() => c.accept(brace + 1)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' }));
    expect(() => c.accept(0)).toThrow(/does not allow/); // a stop token before the document is whole
  });

  it('random generations through the masks on SmolLM2\'s vocabulary all parse and validate', async () => {
    const { vocab } = await smolTokenizer();
    const ajv = new Ajv2020({ strict: false });
    // the single-byte tokens, to finish a document by the shortest way once the budget is spent
    const byteToken = new Map<number, number>();
    vocab.bytes.forEach((b, t) => { if (b?.length === 1 && !byteToken.has(b[0])) byteToken.set(b[0], t); });
    for (const [name, schema] of [['json_object', null], ...Object.entries(SCHEMAS)] as Array<[string, unknown]>) {
      const format = checkResponseFormat(schema === null ? { type: 'json_object' } : { type: 'json_schema', jsonSchema: { name, schema } }, 'responseFormat')!;
      const g = format.grammar;
      const d = shortestCompletions(g);
      const validate = schema === null ? (v: unknown) => v !== null && typeof v === 'object' && !Array.isArray(v) : ajv.compile(schema as object);
      for (let seed = 1; seed <= 6; seed++) {
        const r = rng(seed * 101);
        const c = constraintFor(format, vocab, [2]);
        let set = initialSet(g);
        const bytes: number[] = [];
        for (let n = 0; !c.isComplete; n++) {
          const mask = c.allowedTokens();
          const ids = maskIds(mask);
          expect(ids.length).toBeGreaterThan(0);
          let t: number;
          if (c.canStop && (n > 40 || r() < 0.1)) t = 2;
          else if (n < 40) t = ids[Math.floor(r() * ids.length)];
          else {
            // the byte that brings the end closest
            let best = -1;
            let bestD = Infinity;
            for (const [b, tok] of byteToken) {
              if (!allowed(mask, tok)) continue;
              const dist = distanceToEnd(advance(g, set, b), d);
              if (dist < bestD) [best, bestD] = [tok, dist];
            }
            t = best;
          }
          c.accept(t);
          if (t === 2) break;
          set = advanceBytes(g, set, vocab.bytes[t]!)!;
          bytes.push(...vocab.bytes[t]!);
          expect(n).toBeLessThan(5000);
        }
        const text = Buffer.from(bytes).toString('utf8');
        let value: unknown;
        expect(() => { value = JSON.parse(text); }).not.toThrow();
        expect({ name, text, valid: validate(value) }).toEqual({ name, text, valid: true });
      }
      // the second request with the same format reuses the first's masks
      expect(grammarMasks(g, vocab).stats.masksCached).toBeGreaterThan(0);
    }
  });
});
