/**
 * JSON Schema → grammar (lib/structured/json-schema.ts) against ajv, a maintained JSON Schema validator, as
 * the reference:
 *  - every document the grammar accepts parses and validates (checked on hand-written documents and on
 *    random documents drawn from the grammar's own automaton);
 *  - documents written the way the grammar promises to take them (properties in the schema's order, JSON
 *    whitespace) are accepted exactly when ajv says they are valid;
 *  - every keyword the grammar cannot enforce is refused with ERR_GPUFORMER_INPUT naming it and its place.
 */
import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { matches } from '../../lib/structured/automaton';
import { compileGrammar } from '../../lib/structured/grammar';
import { MAX_WHITESPACE, jsonObjectGrammar, jsonSchemaGrammar } from '../../lib/structured/json-schema';
import { rng } from '../helpers/random';
import { randomDocument, utf8 } from './helpers';

const ajv = new Ajv2020({ strict: false, allErrors: false });
addFormats(ajv); // the full mode: dates that exist, times with their zone

/** Each schema with documents that must be accepted (all valid) and documents ajv calls invalid. */
const CASES: Array<{ name: string; schema: unknown; valid: string[]; invalid: string[] }> = [
  {
    name: 'object with required and optional properties',
    schema: {
      type: 'object', additionalProperties: false, required: ['name', 'age'],
      properties: { name: { type: 'string' }, age: { type: 'integer' }, email: { type: 'string' } },
    },
    valid: ['{"name":"Ann","age":3}', '{"name": "Ann", "age": -3, "email": "a@b.c"}', '{\n  "name": "",\n  "age": 0\n}'],
    invalid: ['{"name":"Ann"}', '{"age":3,"name":"Ann","x":1}', '{"name":1,"age":3}', '{"name":"Ann","age":1.5}', '[]', '"x"'],
  },
  {
    name: 'all properties optional',
    schema: { type: 'object', properties: { a: { type: 'boolean' }, b: { type: 'null' }, c: { type: 'number' } }, additionalProperties: false },
    valid: ['{}', '{ }', '{"a":true}', '{"b":null}', '{"c":-1.5e3}', '{"a":false,"c":0}', '{"a":true,"b":null,"c":2}'],
    invalid: ['{"a":1}', '{"d":1}', '{"b":false}', 'null'],
  },
  {
    name: 'enum and const',
    schema: { type: 'object', properties: { color: { enum: ['red', 'green', 1, null] }, v: { const: 'x"y' } }, required: ['color', 'v'], additionalProperties: false },
    valid: ['{"color":"red","v":"x\\"y"}', '{"color":1,"v":"x\\"y"}', '{"color":null,"v":"x\\"y"}'],
    invalid: ['{"color":"blue","v":"x\\"y"}', '{"color":"red","v":"xy"}'],
  },
  {
    name: 'enum filtered by type',
    schema: { type: 'string', enum: ['a', 1, 'b'] },
    valid: ['"a"', '"b"'],
    invalid: ['1', '"c"'],
  },
  {
    name: 'arrays with bounds',
    schema: { type: 'array', items: { type: 'integer' }, minItems: 2, maxItems: 4 },
    valid: ['[1,2]', '[1, 2, 3]', '[\n  1,\n  2,\n  3,\n  4\n]'],
    invalid: ['[]', '[1]', '[1,2,3,4,5]', '[1,"2"]', '[1,2,]'],
  },
  {
    name: 'tuples: prefixItems, then items false',
    schema: { type: 'array', prefixItems: [{ type: 'string' }, { type: 'number' }], items: false, minItems: 1 },
    valid: ['["a"]', '["a",1]', '["a", 2.5]'],
    invalid: ['[]', '[1]', '["a",1,2]'],
  },
  {
    name: 'tuples: prefixItems, then more items',
    schema: { type: 'array', prefixItems: [{ type: 'boolean' }], items: { type: 'null' } },
    valid: ['[]', '[true]', '[false,null,null]'],
    invalid: ['[null]', '[true,true]'],
  },
  {
    name: 'strings with length bounds (code points, escapes count as one)',
    schema: { type: 'string', minLength: 2, maxLength: 3 },
    valid: ['"ab"', '"abc"', '"é😀"', '"\\n\\u0041"', '"a\\"b"'],
    invalid: ['"a"', '"abcd"', '""'],
  },
  {
    name: 'anyOf',
    schema: { anyOf: [{ type: 'string' }, { type: 'object', properties: { k: { type: 'integer' } }, required: ['k'], additionalProperties: false }] },
    valid: ['"s"', '{"k":1}'],
    invalid: ['1', '{}', '{"k":"1"}'],
  },
  {
    name: 'several types',
    schema: { type: ['integer', 'null'] },
    valid: ['1', '-20', 'null'],
    invalid: ['"1"', 'true', '[]'],
  },
  {
    name: '$defs and $ref, recursive',
    schema: {
      $defs: { node: { type: 'object', properties: { v: { type: 'integer' }, next: { anyOf: [{ $ref: '#/$defs/node' }, { type: 'null' }] } }, required: ['v', 'next'], additionalProperties: false } },
      $ref: '#/$defs/node',
    },
    valid: ['{"v":1,"next":null}', '{"v":1,"next":{"v":2,"next":{"v":3,"next":null}}}'],
    invalid: ['{"v":1}', '{"v":1,"next":{"v":2}}'],
  },
  {
    name: 'root recursion via #',
    schema: { type: 'object', properties: { children: { type: 'array', items: { $ref: '#' } } }, required: ['children'], additionalProperties: false },
    valid: ['{"children":[]}', '{"children":[{"children":[]},{"children":[{"children":[]}]}]}'],
    invalid: ['{"children":[{}]}'],
  },
  {
    name: 'maps: additionalProperties as a schema',
    schema: { type: 'object', additionalProperties: { type: 'number' } },
    valid: ['{}', '{"a":1}', '{"a":1,"b":2.5}'],
    invalid: ['{"a":"1"}', '[]'],
  },
  {
    name: 'empty schema and true: any JSON',
    schema: {},
    valid: ['1', '"x"', 'null', '{"a":[1,{"b":null}]}', '[[],{}]', 'true'],
    invalid: [],
  },
  {
    name: 'pattern (unanchored: it may match anywhere)',
    schema: { type: 'object', properties: { code: { type: 'string', pattern: '^[A-Z]{2}-\\d+$' }, note: { type: 'string', pattern: 'ok' } }, required: ['code', 'note'], additionalProperties: false },
    valid: ['{"code":"AB-12","note":"ok"}', '{"code":"ZZ-0","note":"it is ok!"}', '{"code":"AB-1","note":"\\"ok\\""}'],
    invalid: ['{"code":"ab-12","note":"ok"}', '{"code":"AB-","note":"ok"}', '{"code":"AB-12","note":"o k"}', '{"code":"AB-12x","note":"ok"}'],
  },
  {
    name: 'formats: date, time, date-time, duration',
    schema: {
      type: 'object', additionalProperties: false, required: ['d', 't', 'dt', 'p'],
      properties: { d: { type: 'string', format: 'date' }, t: { type: 'string', format: 'time' }, dt: { type: 'string', format: 'date-time' }, p: { type: 'string', format: 'duration' } },
    },
    valid: ['{"d":"2024-02-29","t":"23:59:59Z","dt":"2000-12-31T00:00:00.123+05:30","p":"P1Y2M3DT4H5M6S"}',
      '{"d":"1900-01-31","t":"00:00:00-00:00","dt":"2023-04-30T12:00:00z","p":"P3W"}', '{"d":"0000-02-29","t":"12:34:56.5Z","dt":"1999-11-30T01:02:03Z","p":"PT1M"}'],
    invalid: ['{"d":"2023-02-29","t":"23:59:59Z","dt":"2000-12-31T00:00:00Z","p":"P1D"}', '{"d":"1900-02-29","t":"00:00:00Z","dt":"2000-12-31T00:00:00Z","p":"P1D"}',
      '{"d":"2024-04-31","t":"00:00:00Z","dt":"2000-12-31T00:00:00Z","p":"P1D"}', '{"d":"2024-01-01","t":"24:00:00Z","dt":"2000-12-31T00:00:00Z","p":"P1D"}',
      '{"d":"2024-01-01","t":"10:00:00","dt":"2000-12-31T00:00:00Z","p":"P1D"}', '{"d":"2024-01-01","t":"10:00:00Z","dt":"2000-13-01T00:00:00Z","p":"P1D"}',
      '{"d":"2024-01-01","t":"10:00:00Z","dt":"2000-12-01T00:00:00Z","p":"P"}', '{"d":"2024-01-01","t":"10:00:00Z","dt":"2000-12-01T00:00:00Z","p":"P1DT"}'],
  },
  {
    name: 'formats: email, uuid, ipv4',
    schema: {
      type: 'array', prefixItems: [{ type: 'string', format: 'email' }, { type: 'string', format: 'uuid' }, { type: 'string', format: 'ipv4' }], items: false, minItems: 3,
    },
    valid: ['["ada.l+x@example.co.uk","123e4567-e89b-12d3-a456-426614174000","192.168.0.255"]', '["a@b.c","00000000-0000-0000-0000-00000000000A","0.0.0.0"]'],
    invalid: ['["ada@","123e4567-e89b-12d3-a456-426614174000","1.2.3.4"]', '["a@b.c","123e4567e89b12d3a456426614174000","1.2.3.4"]',
      '["a@b.c","123e4567-e89b-12d3-a456-426614174000","256.1.1.1"]', '["a@-b.c","123e4567-e89b-12d3-a456-426614174000","1.2.3.4"]',
      '["a@b.c","123e4567-e89b-12d3-a456-426614174000","01.2.3.4"]'],
  },
  {
    name: 'unicode keys and values, escapes',
    schema: { type: 'object', properties: { 'clé/~': { type: 'string' } }, required: ['clé/~'], additionalProperties: false },
    valid: ['{"clé/~":"naïve \\u00e9 \\ud83d\\ude00 😀 \\\\ \\/"}'],
    invalid: ['{"cle":"x"}'],
  },
];

describe('JSON Schema → grammar, against ajv', () => {
  for (const c of CASES) {
    it(c.name, () => {
      const g = compileGrammar(jsonSchemaGrammar(c.schema));
      const validate = ajv.compile(c.schema as object);
      for (const doc of c.valid) {
        expect({ doc, ajv: validate(JSON.parse(doc)) }).toEqual({ doc, ajv: true });
        expect({ doc, grammar: matches(g, utf8(doc)) }).toEqual({ doc, grammar: true });
      }
      for (const doc of c.invalid) {
        let valid = false;
        try {
          valid = validate(JSON.parse(doc)) as boolean;
        } catch {
          // does not parse: invalid too
        }
        expect({ doc, ajv: valid }).toEqual({ doc, ajv: false });
        expect({ doc, grammar: matches(g, utf8(doc)) }).toEqual({ doc, grammar: false });
      }
      // everything the grammar can produce parses and validates
      for (let seed = 1; seed <= 40; seed++) {
        const doc = Buffer.from(randomDocument(g, seed * 7919 + c.name.length)).toString('utf8');
        let value: unknown;
        expect(() => { value = JSON.parse(doc); }).not.toThrow();
        expect({ doc, valid: validate(value) }).toEqual({ doc, valid: true });
      }
    });
  }

  it('pretty-printed and compact documents in the schema\'s order are accepted exactly when valid', () => {
    const schema = {
      type: 'object', additionalProperties: false, required: ['id', 'tags'],
      properties: { id: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' }, maxItems: 3 }, meta: { type: 'object', properties: { ok: { type: 'boolean' } }, additionalProperties: false } },
    };
    const g = compileGrammar(jsonSchemaGrammar(schema));
    const validate = ajv.compile(schema);
    const values: unknown[] = [
      { id: 1, tags: [] }, { id: -5, tags: ['a', 'b'] }, { id: 0, tags: ['x'], meta: {} }, { id: 2, tags: ['x'], meta: { ok: true } },
      { id: 1, tags: ['a', 'b', 'c', 'd'] }, { id: 1.5, tags: [] }, { id: 1 }, { id: 1, tags: [1] }, { id: 1, tags: [], meta: { ok: 1 } },
      { id: 1, tags: [], extra: true },
    ];
    for (const v of values) {
      for (const indent of [0, 2, 4, '\t']) {
        const doc = JSON.stringify(v, null, indent);
        expect({ doc, grammar: matches(g, utf8(doc)) }).toEqual({ doc, grammar: validate(v) });
      }
    }
  });

  it('integers within bounds: exactly the ones ajv accepts (inclusive, exclusive, fractional, one-sided, negative)', () => {
    const bounds: Array<Record<string, number>> = [
      { minimum: 0, maximum: 100 }, { minimum: 7, maximum: 7 }, { minimum: -15, maximum: 23 }, { exclusiveMinimum: 9, exclusiveMaximum: 1000 },
      { minimum: 1.5, maximum: 99.5 }, { minimum: 95 }, { maximum: -3 }, { exclusiveMaximum: 0 }, { minimum: -1234, exclusiveMaximum: -998 },
      { minimum: 123, maximum: 45678 }, { minimum: 0, maximum: 9 }, { minimum: 10, maximum: 99 }, { minimum: 1999, maximum: 2101 },
    ];
    const r = rng(99);
    for (const b of bounds) {
      const schema = { type: 'integer', ...b };
      const g = compileGrammar(jsonSchemaGrammar(schema));
      const validate = ajv.compile(schema);
      const probes = new Set<number>();
      for (const v of Object.values(b)) for (let d = -12; d <= 12; d++) probes.add(Math.round(v) + d);
      for (let k = 0; k < 200; k++) probes.add(Math.round((r() - 0.5) * 10 ** (1 + Math.floor(r() * 6))));
      for (const n of probes) {
        const doc = String(n);
        expect({ schema, doc, grammar: matches(g, utf8(doc)) }).toEqual({ schema, doc, grammar: validate(n) });
      }
      for (let seed = 1; seed <= 20; seed++) {
        const doc = Buffer.from(randomDocument(g, seed, 4)).toString();
        expect({ schema, doc, valid: validate(JSON.parse(doc)) }).toEqual({ schema, doc, valid: true });
      }
    }
    // a number that is not an integer cannot take bounds here
    expect(() => jsonSchemaGrammar({ type: 'number', minimum: 0 })).toThrow(/"minimum"|'minimum'/);
    expect(() => jsonSchemaGrammar({ type: 'integer', minimum: 5, maximum: 4 })).toThrow(/no integer lies between/);
  });

  it('json_object: any JSON object, nested, and nothing else', () => {
    const g = compileGrammar(jsonObjectGrammar());
    for (const doc of ['{}', '{"a":1}', '{"a":[1,2,{"b":null}],"c":"d","e":{"f":{}}}', '{"x":-0.5e-10,"y":true,"z":false}', '{ "a" :\n\t[ 1 ] }']) {
      expect({ doc, ok: matches(g, utf8(doc)) }).toEqual({ doc, ok: true });
    }
    for (const doc of ['[]', '1', '"{}"', '{', ' {}', '{}\n', '{"a":}', '{"a":1,}', '{a:1}', "{'a':1}", '{"a":01}', '{"a":1.}', '{"a":NaN}', '{"a":"\x01"}']) {
      expect({ doc, ok: matches(g, utf8(doc)) }).toEqual({ doc, ok: false });
    }
    for (let seed = 1; seed <= 40; seed++) {
      const doc = Buffer.from(randomDocument(g, seed, 120)).toString('utf8');
      const v = JSON.parse(doc);
      expect(v !== null && typeof v === 'object' && !Array.isArray(v)).toBe(true);
    }
  });

  it('whitespace runs are bounded, numbers by their digits', () => {
    const g = compileGrammar(jsonObjectGrammar());
    expect(matches(g, utf8(`{${' '.repeat(MAX_WHITESPACE)}}`))).toBe(true);
    expect(matches(g, utf8(`{${' '.repeat(MAX_WHITESPACE + 1)}}`))).toBe(false);
    expect(matches(g, utf8(`{"a":${'9'.repeat(16)}.${'9'.repeat(16)}e-999}`))).toBe(true);
    expect(matches(g, utf8(`{"a":${'9'.repeat(17)}}`))).toBe(false);
  });

  it('strings are valid UTF-8 with JSON escapes only', () => {
    const g = compileGrammar(jsonSchemaGrammar({ type: 'string' }));
    const bytes = (...b: number[]) => Uint8Array.from([0x22, ...b, 0x22]);
    expect(matches(g, bytes(0xc3, 0xa9))).toBe(true); // é
    expect(matches(g, bytes(0xf0, 0x9f, 0x98, 0x80))).toBe(true); // 😀
    expect(matches(g, bytes(0xc3))).toBe(false); // truncated
    expect(matches(g, bytes(0xc0, 0xaf))).toBe(false); // overlong
    expect(matches(g, bytes(0xed, 0xa0, 0x80))).toBe(false); // a surrogate
    expect(matches(g, bytes(0xf4, 0x90, 0x80, 0x80))).toBe(false); // past U+10FFFF
    expect(matches(g, bytes(0x5c, 0x78))).toBe(false); // \x
    expect(matches(g, bytes(0x0a))).toBe(false); // a raw newline
  });

  it('refuses what it cannot enforce, naming the keyword and where it is', () => {
    const refused: Array<[unknown, RegExp]> = [
      [{ type: 'string', pattern: '(a)\\1' }, /backreferences/],
      [{ type: 'string', pattern: '^a', maxLength: 3 }, /'pattern' beside 'maxLength'/],
      [{ type: 'string', format: 'date', pattern: 'x' }, /'pattern' beside 'format'/],
      [{ type: 'object', properties: { n: { type: 'number', minimum: 0 } } }, /'minimum' on non-integer numbers.*#\/properties\/n/],
      [{ type: 'integer', multipleOf: 3 }, /"multipleOf"/],
      [{ type: 'array', items: { type: 'string', format: 'hostname' } }, /format "hostname" is not supported.*#\/items\/format/],
      [{ type: 'string', format: 'ipv6' }, /format "ipv6" is not supported/],
      [{ type: 'array', uniqueItems: true }, /"uniqueItems"/],
      [{ oneOf: [{ type: 'string' }] }, /"oneOf"/],
      [{ allOf: [{ type: 'string' }] }, /"allOf"/],
      [{ not: { type: 'string' } }, /"not"/],
      [{ type: 'object', patternProperties: { '^a': {} } }, /"patternProperties"/],
      [{ type: 'object', minProperties: 1 }, /"minProperties"/],
      [{ type: 'string', nullable: true }, /"nullable"/],
      [{ $ref: 'https://example.com/schema' }, /only references into the schema/],
      [{ $ref: '#/$defs/missing' }, /does not point into the schema/],
      [{ $ref: '#/$defs/a', type: 'string', $defs: { a: {} } }, /'\$ref' beside "type"/],
      [{ anyOf: [{ type: 'string' }], type: 'string' }, /'anyOf' beside "type"/],
      [{ enum: ['a'], minLength: 3 }, /'enum' beside "minLength"/],
      [{ type: 'integer', enum: ['a'] }, /no value of enum/],
      [{ type: 'object', required: ['x'], additionalProperties: false }, /"x" is required/],
      [{ type: 'array', items: { type: 'string' }, minItems: 3, maxItems: 2 }, /minItems 3 cannot be met/],
      [{ type: 'string', minLength: 5, maxLength: 2 }, /minLength 5 is more than maxLength 2/],
      [{ type: 'strng' }, /type must be one of/],
      [false, /allows no value/],
      [{ anyOf: [{ $ref: '#' }, { type: 'string' }] }, /refers back to itself/],
      [{ $defs: { a: { $ref: '#/$defs/a' } }, $ref: '#/$defs/a' }, /no finite document/],
      [{ type: 'object', properties: { a: { $ref: '#' } }, required: ['a'], additionalProperties: false }, /no finite document/],
    ];
    for (const [schema, message] of refused) {
      let error: unknown;
      try {
        compileGrammar(jsonSchemaGrammar(schema));
      } catch (e) {
        error = e;
      }
      expect({ schema, error }).toEqual({ schema, error: expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(message) }) });
    }
  });

  it('annotations are taken and change nothing', () => {
    const plain = compileGrammar(jsonSchemaGrammar({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false }));
    const annotated = compileGrammar(jsonSchemaGrammar({
      $schema: 'https://json-schema.org/draft/2020-12/schema', title: 't', description: 'd', $comment: 'c',
      type: 'object', properties: { a: { type: 'string', description: 'x', default: 'y', examples: ['z'], deprecated: false } }, additionalProperties: false,
    }));
    for (const doc of ['{}', '{"a":"q"}', '{"a":1}', '{"b":"q"}']) expect(matches(annotated, utf8(doc))).toBe(matches(plain, utf8(doc)));
  });
});
