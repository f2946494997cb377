/**
 * Structured output's host-side cost on SmolLM2's vocabulary (49152 tokens): building the vocabulary's trie,
 * compiling each response format, and the token mask of every step while a document is generated — cold
 * (the first request with that format: the states' masks are computed as they are met) and warm (a second
 * request: configuration masks come from the cache). The documents are replayed token by token as the
 * tokenizer splits them, so each step costs what it would in a generation.
 *
 *   npx tsc -p bench/tsconfig.json && node bench/.cache/build/bench/structured/token-masks.js [--json PATH]
 *
 * Prints a markdown table (milliseconds; per-step columns over the steps of all documents of a format) with
 * the machine's load average at the start and the end, as the other benchmarks do. Nothing is asserted.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { SHARED_MODELS } from '../e2e/paths';
import { openModel } from '../../lib/loader/open';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { ResponseFormat, checkResponseFormat, constraintFor } from '../../lib/structured/response-format';

const GGUF = path.join(SHARED_MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');

const PERSON = {
  type: 'object', additionalProperties: false, required: ['name', 'age', 'email', 'tags'],
  properties: { name: { type: 'string' }, age: { type: 'integer' }, email: { type: 'string', format: 'email' }, tags: { type: 'array', items: { type: 'string' }, maxItems: 5 } },
};
const ORDER = {
  type: 'object', additionalProperties: false, required: ['id', 'date', 'items', 'status'],
  properties: {
    id: { type: 'string', pattern: '^ORD-[0-9]{6}$' }, date: { type: 'string', format: 'date' },
    items: { type: 'array', minItems: 1, items: { $ref: '#/$defs/item' } }, status: { enum: ['open', 'shipped', 'closed'] },
  },
  $defs: { item: { type: 'object', additionalProperties: false, required: ['sku', 'qty', 'price'], properties: { sku: { type: 'string' }, qty: { type: 'integer' }, price: { type: 'number' } } } },
};

const CASES: Array<{ name: string; format: ResponseFormat; docs: string[] }> = [
  {
    name: 'json_object', format: { type: 'json_object' },
    docs: ['{"title": "A walk in the park", "year": 1999, "tags": ["drama", "romance"], "rating": 7.5, "extra": {"a": null, "b": [true, false]}}',
      '{\n  "city": "Zürich",\n  "population": 421878,\n  "districts": [\n    {"name": "Altstadt", "code": 1},\n    {"name": "Wiedikon", "code": 3}\n  ]\n}'],
  },
  {
    name: 'person (format email)', format: { type: 'json_schema', jsonSchema: { name: 'person', schema: PERSON } },
    docs: ['{"name": "Ada Lovelace", "age": 36, "email": "ada@example.org", "tags": ["math", "poetry"]}',
      '{\n  "name": "Grace Hopper",\n  "age": 85,\n  "email": "grace.hopper@navy.mil",\n  "tags": []\n}'],
  },
  {
    name: 'order ($ref, pattern, date, enum)', format: { type: 'json_schema', jsonSchema: { name: 'order', schema: ORDER } },
    docs: ['{"id": "ORD-123456", "date": "2024-02-29", "items": [{"sku": "A-1", "qty": 2, "price": 9.99}, {"sku": "B-7", "qty": 1, "price": 120}], "status": "shipped"}'],
  },
];

const ms = (t0: number) => performance.now() - t0;
const stats = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, median: s[Math.floor(s.length / 2)], p99: s[Math.min(s.length - 1, Math.floor(s.length * 0.99))], max: s[s.length - 1] };
};
const f = (x: number) => x.toFixed(3);

async function main(): Promise<void> {
  const jsonOut = process.argv.indexOf('--json') >= 0 ? process.argv[process.argv.indexOf('--json') + 1] : null;
  const loadStart = os.loadavg();
  const src = await openModel(GGUF);
  const tok = new TextTokenizer(src.tokenizer!.json, src.tokenizer!.config);
  let t0 = performance.now();
  const vocab = TokenVocabulary.fromTokenizerJson(src.tokenizer!.json, src.spec.vocabSize);
  const vocabMs = ms(t0);
  const rows: Array<Record<string, unknown>> = [];
  for (const c of CASES) {
    t0 = performance.now();
    const format = checkResponseFormat(c.format, 'responseFormat')!;
    const compileMs = ms(t0);
    const run = () => {
      const steps: number[] = [];
      for (const doc of c.docs) {
        const constraint = constraintFor(format, vocab, [2]);
        for (const id of [...tok.encode(doc, { addSpecialTokens: false }), 2]) {
          const s = performance.now();
          const mask = constraint.allowedTokens();
          steps.push(ms(s));
          if (!((mask[id >> 5] >>> (id & 31)) & 1)) throw new Error(`${c.name}: token ${id} not allowed in ${JSON.stringify(doc)}`);
          constraint.accept(id);
        }
      }
      return steps;
    };
    const cold = run();
    const warm = run();
    rows.push({ name: c.name, states: format.grammar.numStates, compileMs, steps: cold.length, cold: stats(cold), warm: stats(warm) });
  }
  const loadEnd = os.loadavg();
  console.log(`vocabulary: ${vocab.size} tokens, ${vocab.numNodes} trie nodes, built in ${vocabMs.toFixed(1)} ms`);
  console.log(`load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} at the start, ${loadEnd.map((x) => x.toFixed(2)).join(' ')} at the end, ${os.cpus().length} CPUs`);
  console.log('\n| format | states | compile ms | steps | cold mean / median / max ms | warm mean / median / p99 / max ms |');
  console.log('|---|---|---|---|---|---|');
  for (const r of rows) {
    const c = r.cold as ReturnType<typeof stats>;
    const w = r.warm as ReturnType<typeof stats>;
    console.log(`| ${r.name} | ${r.states} | ${(r.compileMs as number).toFixed(1)} | ${r.steps} | ${f(c.mean)} / ${f(c.median)} / ${f(c.max)} | ${f(w.mean)} / ${f(w.median)} / ${f(w.p99)} / ${f(w.max)} |`);
  }
  if (jsonOut) fs.writeFileSync(jsonOut, JSON.stringify({ vocabMs, loadStart, loadEnd, cpus: os.cpus().length, rows }, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
