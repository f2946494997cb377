/**
 * The public Engine on the tiny golden fixtures (CPU, f32): greedy continuations identical to transformers
 * through load → loop → runner, alone and from concurrent callers batched by the loop; embeddings with the
 * model's own pooling; seeded sampling; stop conditions; abort; bad input; memory back to zero on dispose.
 */
import * as path from 'path';
import { Engine, GenerateChunk } from '../../lib/engine/engine';
import { native } from '../../lib/native';
import { expectClose, TOLERANCE } from '../helpers/compare';
import { FIXTURES, goldenF32, goldenI32, readCases, readGolden } from '../models/golden';

const inputCode = expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' });
const fixture = (name: string) => path.join(FIXTURES, name);
const loadOpts = { device: 'cpu' as const, maxNumSeqs: 8, maxNumBatchedTokens: 256, memoryBudgetBytes: 256 * 2 ** 20 };

async function drain(it: AsyncIterable<GenerateChunk>): Promise<GenerateChunk[]> {
  const out: GenerateChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe.each(['gpt2', 'llama-gqa', 'qwen2-bias-bf16', 'llama3-rope-scaled-sharded'])('Engine on %s', (name) => {
  let engine: Engine;
  const cases = readCases(name);
  const golden = readGolden(name);

  beforeAll(async () => {
    engine = await Engine.load(fixture(name), loadOpts);
  });
  afterAll(async () => engine?.dispose());

  it('greedy completions are identical to transformers', async () => {
    for (const c of cases) {
      const r = await engine.complete(c.input_ids, { maxTokens: c.greedy_steps, temperature: 0 });
      expect(r.tokenIds).toEqual(goldenI32(golden, `${c.name}.greedy`));
      expect(r.finishReason).toBe('length');
      expect(r.usage).toEqual({ promptTokens: c.input_ids.length, completionTokens: c.greedy_steps, totalTokens: c.input_ids.length + c.greedy_steps! });
      expect(r.text).toBe(''); // no tokenizer: ids only
    }
  });

  it('concurrent callers are batched by the loop and get the same tokens', async () => {
    const all = await Promise.all(cases.map((c) => engine.complete(c.input_ids, { maxTokens: c.greedy_steps })));
    cases.forEach((c, i) => expect(all[i].tokenIds).toEqual(goldenI32(golden, `${c.name}.greedy`)));
  });
});

describe('Engine on the llama-gqa fixture: sampling, stops, errors', () => {
  let engine: Engine;
  const cases = readCases('llama-gqa');
  const prompt = cases[1].input_ids;

  beforeAll(async () => {
    engine = await Engine.load(fixture('llama-gqa'), { ...loadOpts, maxModelLen: 64 });
  });
  afterAll(async () => engine?.dispose());

  it('streams one chunk per token, the last with its finish reason', async () => {
    const chunks = await drain(engine.generate(prompt, { maxTokens: 5 }));
    expect(chunks).toHaveLength(5);
    expect(chunks.every((c) => c.tokenIds.length === 1)).toBe(true);
    expect(chunks.slice(0, 4).every((c) => c.finishReason === undefined)).toBe(true);
    expect(chunks[4].finishReason).toBe('length');
  });

  it('same seed, same tokens; another seed, other tokens', async () => {
    const opts = { maxTokens: 24, temperature: 1.5, seed: 1234 };
    const a = await engine.complete(prompt, opts);
    const b = await engine.complete(prompt, opts);
    const c = await engine.complete(prompt, { ...opts, seed: 99 });
    expect(b.tokenIds).toEqual(a.tokenIds);
    expect(c.tokenIds).not.toEqual(a.tokenIds);
    // the seed decides, not the company: the same request inside a concurrent batch gives the same tokens
    const [d] = await Promise.all([engine.complete(prompt, opts), engine.complete(cases[2].input_ids, { ...opts, seed: 5 })]);
    expect(d.tokenIds).toEqual(a.tokenIds);
  });

  it('topK 1 is greedy whatever the temperature', async () => {
    const g = await engine.complete(prompt, { maxTokens: 16 });
    const k1 = await engine.complete(prompt, { maxTokens: 16, temperature: 2, topK: 1, seed: 3 });
    expect(k1.tokenIds).toEqual(g.tokenIds);
  });

  it('stops at a stop token id, which is the last id returned', async () => {
    const g = await engine.complete(prompt, { maxTokens: 16 });
    const stopId = g.tokenIds[5];
    const first = g.tokenIds.indexOf(stopId);
    const r = await engine.complete(prompt, { maxTokens: 16, stopTokenIds: [stopId] });
    expect(r.tokenIds).toEqual(g.tokenIds.slice(0, first + 1));
    expect(r.finishReason).toBe('stop');
  });

  it('stops at maxModelLen with finishReason length', async () => {
    const long = cases[3].input_ids; // 40 tokens, maxModelLen 64
    const r = await engine.complete(long, { maxTokens: 1000 });
    expect(r.tokenIds).toHaveLength(64 - long.length);
    expect(r.finishReason).toBe('length');
  });

  it('an AbortSignal ends the stream with finishReason abort', async () => {
    const ac = new AbortController();
    const chunks: GenerateChunk[] = [];
    for await (const c of engine.generate(prompt, { maxTokens: 40, signal: ac.signal })) {
      chunks.push(c);
      if (chunks.length === 3) ac.abort();
    }
    expect(chunks[chunks.length - 1].finishReason).toBe('abort');
    expect(chunks.length).toBeLessThan(40);
  });

  it('breaking out of the stream frees the request', async () => {
    for await (const c of engine.generate(prompt, { maxTokens: 40 })) {
      expect(c.tokenIds).toHaveLength(1);
      break;
    }
    const s = engine.stats(); // breaking out cancels the request at once: no wait
    expect(s.running + s.waiting).toBe(0);
  });

  it('rejects bad prompts and options with ERR_GPUFORMER_INPUT', async () => {
    await expect(engine.complete('hello')).rejects.toThrow(/tokenizer\.json/);
    await expect(engine.complete('hello')).rejects.toThrow(inputCode);
    await expect(engine.complete(new Array(64).fill(5))).rejects.toThrow(inputCode); // no room left in maxModelLen
    await expect(engine.complete(new Array(65).fill(5))).rejects.toThrow(/maxModelLen/);
    await expect(engine.complete([1, 1000])).rejects.toThrow(inputCode); // vocab 1000
    await expect(engine.complete([1, -1])).rejects.toThrow(inputCode);
    await expect(engine.complete([])).rejects.toThrow(inputCode);
    await expect(engine.complete(prompt, { maxTokens: 0 })).rejects.toThrow(/maxTokens/);
    await expect(engine.complete(prompt, { temperature: -1 })).rejects.toThrow(/temperature/);
    await expect(engine.complete(prompt, { topP: 0 })).rejects.toThrow(/topP/);
    await expect(engine.complete(prompt, { stop: [''] })).rejects.toThrow(/stop/);
    await expect(engine.embed([[1, 2]])).rejects.toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
    expect(() => engine.chat([{ role: 'user', content: 'hi' }])).toThrow(inputCode);
  });
});

describe('Engine.embed on the bert fixture', () => {
  it('pools as modules.json says (mean + normalize), or as asked', async () => {
    const engine = await Engine.load(fixture('bert'), loadOpts);
    try {
      const golden = readGolden('bert');
      const plain = readCases('bert').filter((c) => c.token_type_ids!.every((t) => t === 0));
      expect(plain.length).toBeGreaterThan(0);
      const mean = await engine.embed(plain.map((c) => c.input_ids));
      const cls = await engine.embed(plain.map((c) => c.input_ids), { pooling: 'cls' });
      plain.forEach((c, i) => {
        expectClose(mean[i], goldenF32(golden, `${c.name}.embedding`), TOLERANCE.f32, `${c.name} embedding`);
        expectClose(cls[i], goldenF32(golden, `${c.name}.embedding_cls`), TOLERANCE.f32, `${c.name} embedding_cls`);
      });
      await expect(engine.embed('text')).rejects.toThrow(/tokenizer\.json/);
      await expect(engine.embed([new Array(129).fill(1)])).rejects.toThrow(inputCode);
      expect(() => engine.generate([1, 2])).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
    } finally {
      await engine.dispose();
    }
  });
});

describe('Engine memory', () => {
  it('reports weights, KV cache and workspace, and returns every byte on dispose', async () => {
    const before = native.memoryTotals('cpu');
    const engine = await Engine.load(fixture('llama-gqa'), loadOpts);
    const m = engine.memory();
    expect(m.device).toBe('cpu');
    expect(m.weightsBytes).toBeGreaterThan(0);
    expect(m.kv.blocks).toBeGreaterThan(0);
    // the bytes the cache holds: on the CPU only the pages written so far (test/memory/committed.test.ts)
    expect(m.kv.bytes).toBeLessThanOrEqual(m.kv.blocks * m.kv.blockBytes);
    expect(m.workspaceBytes + m.activationsBytes).toBeGreaterThan(0);
    expect(engine.plan()).toBeTruthy();
    await engine.complete(readCases('llama-gqa')[2].input_ids, { maxTokens: 4 });
    await engine.dispose();
    const after = native.memoryTotals('cpu');
    for (const tag of ['weights', 'kv', 'workspace', 'activations', 'other'] as const) expect(after[tag]).toBe(before[tag]);
    await expect(engine.complete([1, 2])).rejects.toThrow(inputCode);
  });
});
