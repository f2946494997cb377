/**
 * The Engine on the real models of ../shared/models (CPU, f32): all-MiniLM-L6-v2 embeddings against
 * sentence-transformers' own (same ids, cosine ≥ 0.9999 per sentence), and the trained llama2.c stories260K
 * greedy continuations identical to the reference (the first one is llama2.c's run.c output itself).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { memoryTotals } from '../../lib/memory/ledger';
import { FIXTURES, MODELS } from '../models/golden';

const readJson = (p: string) => JSON.parse(fs.readFileSync(p, 'utf8'));

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0; let aa = 0; let bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

describe('all-MiniLM-L6-v2', () => {
  const ref = readJson(path.join(FIXTURES, 'all-MiniLM-L6-v2.json')) as {
    max_seq_length: number; cases: Array<{ text: string; input_ids: number[]; embedding: number[] }>;
  };
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.load(path.join(MODELS, 'all-MiniLM-L6-v2'), { device: 'cpu', maxNumSeqs: 16, maxNumBatchedTokens: 1024 });
  });
  afterAll(async () => engine?.dispose());

  it('tokenizes every sentence to sentence-transformers ids (truncated to 256)', () => {
    for (const c of ref.cases) expect(engine.tokenizer!.encodeTruncated(c.text, ref.max_seq_length)).toEqual(c.input_ids);
  });

  it('embeds every sentence with cosine ≥ 0.9999 to sentence-transformers, in one call', async () => {
    const got = await engine.embed(ref.cases.map((c) => c.text));
    expect(got).toHaveLength(ref.cases.length);
    ref.cases.forEach((c, i) => {
      expect(got[i]).toHaveLength(384);
      const cos = cosine(got[i], c.embedding);
      if (!(cos >= 0.9999)) throw new Error(`sentence ${i} ${JSON.stringify(c.text.slice(0, 40))}: cosine ${cos}`);
      expect(Math.hypot(...got[i])).toBeCloseTo(1, 5); // normalized, as modules.json says
    });
  });

  it('gives the same vectors from token ids, one at a time, and concurrently', async () => {
    const c = ref.cases[7];
    const [fromText] = await engine.embed(c.text);
    const [fromIds] = await engine.embed([c.input_ids]);
    expect(Array.from(fromIds)).toEqual(Array.from(fromText));
    const concurrent = await Promise.all(ref.cases.slice(0, 6).map((x) => engine.embed(x.text)));
    concurrent.forEach(([v], i) => expect(cosine(v, ref.cases[i].embedding)).toBeGreaterThanOrEqual(0.9999));
  });
});

describe('all-MiniLM-L6-v2 in bf16 on the CPU (weights stored bf16, activations rounded to bf16 at each matmul)', () => {
  const ref = readJson(path.join(FIXTURES, 'all-MiniLM-L6-v2.json')) as { cases: Array<{ text: string; embedding: number[] }> };
  let f32: Engine;
  let bf16: Engine;
  const weightBytes = { f32: 0, bf16: 0 };

  beforeAll(async () => {
    const dir = path.join(MODELS, 'all-MiniLM-L6-v2');
    // memory() counts the process's allocations by purpose: each engine's weights are the growth its load made
    const before = memoryTotals('cpu').weights;
    f32 = await Engine.load(dir, { device: 'cpu', dtype: 'float32', maxNumSeqs: 16, maxNumBatchedTokens: 1024 });
    weightBytes.f32 = f32.memory().weightsBytes - before;
    bf16 = await Engine.load(dir, { device: 'cpu', dtype: 'bfloat16', maxNumSeqs: 16, maxNumBatchedTokens: 1024 });
    weightBytes.bf16 = bf16.memory().weightsBytes - before - weightBytes.f32;
  });
  afterAll(async () => {
    await f32?.dispose();
    await bf16?.dispose();
  });

  it('stores its matmul weights in bf16', () => {
    expect(weightBytes.bf16).toBeGreaterThan(0);
    expect(weightBytes.bf16).toBeLessThan(0.6 * weightBytes.f32);
  });

  it('embeds every reference sentence with cosine ≥ 0.999 to the f32 engine (and to sentence-transformers)', async () => {
    const texts = ref.cases.map((c) => c.text);
    const [a, b] = [await f32.embed(texts), await bf16.embed(texts)];
    ref.cases.forEach((c, i) => {
      const toF32 = cosine(b[i], a[i]), toReference = cosine(b[i], c.embedding);
      if (!(toF32 >= 0.999 && toReference >= 0.999)) {
        throw new Error(`sentence ${i} ${JSON.stringify(c.text.slice(0, 40))}: cosine ${toF32} to f32, ${toReference} to the reference`);
      }
    });
  });
});

describe('all-MiniLM-L6-v2: embed() options and inputs', () => {
  let engine: Engine;
  const texts = ['The cat sits on the mat.', 'A completely different sentence about finance.', 'Cats like mats.'];
  let full: Float32Array[];

  beforeAll(async () => {
    engine = await Engine.load(path.join(MODELS, 'all-MiniLM-L6-v2'), { device: 'cpu', maxNumSeqs: 16, maxNumBatchedTokens: 1024 });
    full = await engine.embed(texts);
  });
  afterAll(async () => engine?.dispose());

  it('dimensions: the first components of the full embedding, normalized again', async () => {
    const short = await engine.embed(texts, { dimensions: 64 });
    short.forEach((v, i) => {
      expect(v).toHaveLength(64);
      const head = Array.from(full[i].subarray(0, 64));
      const norm = Math.hypot(...head);
      v.forEach((x, j) => expect(x).toBeCloseTo(head[j] / norm, 6));
    });
    const raw = await engine.embed(texts, { dimensions: 64, normalize: false });
    const rawFull = await engine.embed(texts, { normalize: false });
    raw.forEach((v, i) => expect(Array.from(v)).toEqual(Array.from(rawFull[i].subarray(0, 64))));
    await expect(engine.embed('x', { dimensions: 385 })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringContaining('384') });
  });

  it('precision: the quantized codes of the float embeddings', async () => {
    const ubinary = await engine.embed(texts, { precision: 'ubinary' });
    expect(ubinary[0]).toBeInstanceOf(Uint8Array);
    expect(ubinary[0]).toHaveLength(48);
    ubinary.forEach((v, i) => v.forEach((byte, k) => {
      for (let bit = 0; bit < 8; bit++) expect((byte >> (7 - bit)) & 1).toBe(full[i][8 * k + bit] > 0 ? 1 : 0);
    }));
    const int8 = await engine.embed(texts, { precision: 'int8', calibrationEmbeddings: full });
    expect(int8[0]).toBeInstanceOf(Int8Array);
    // each dimension's extremes over the calibration set (these very embeddings) are the end codes (the top
    // one 126 where (max − min) / ((max − min) / 255) rounds just below 255, as it does in numpy)
    for (let j = 0; j < 384; j++) {
      const col = int8.map((v) => v[j]);
      expect(Math.min(...col)).toBe(-128);
      expect(Math.max(...col)).toBeGreaterThanOrEqual(126);
    }
  });

  it('a text pair reads as one input with its token types; { ids, typeIds } embeds the same', async () => {
    const pair: [string, string] = ['How many people live in Berlin?', 'Berlin has about 3.5 million inhabitants.'];
    const [tokens] = await engine.tokenizeEmbedInputs([pair]);
    expect(tokens).toEqual(engine.tokenizer!.encodePair(pair, 256));
    expect(tokens.typeIds).toContain(1);
    const [fromPair] = await engine.embed([pair]);
    const [fromIds] = await engine.embed([tokens]);
    expect(Array.from(fromIds)).toEqual(Array.from(fromPair));
    // the token types matter: the same ids read as one segment embed differently
    const [oneSegment] = await engine.embed([{ ids: tokens.ids }]);
    expect(cosine(oneSegment, fromPair)).toBeLessThan(0.9999);
    // a long pair is cut to max_seq_length, longest first
    const [long] = await engine.tokenizeEmbedInputs([['a short question', 'word '.repeat(600)]]);
    expect(long.ids).toHaveLength(256);
    await expect(engine.embed([{ ids: [101, 102], typeIds: [0, 2] }])).rejects.toMatchObject({
      code: 'ERR_GPUFORMER_INPUT', message: expect.stringContaining('typeIds[1] is 2, not a token type in [0, 2)'),
    });
    await expect(engine.embed([['one', 'two', 'three'] as never])).rejects.toMatchObject({ message: expect.stringContaining('a text pair must be two strings') });
  });

  it('an aborted signal rejects the request', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(engine.embed(texts, { signal: ac.signal })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_ABORTED' });
  });
});

describe('llama2c-260K', () => {
  const ref = readJson(path.join(FIXTURES, 'llama2c-260K.json')) as { cases: Array<{ input_ids: number[]; greedy: number[] }> };
  let engine: Engine;

  beforeAll(async () => {
    engine = await Engine.load(path.join(MODELS, 'llama2c-260K'), { device: 'cpu', maxNumSeqs: 8, maxNumBatchedTokens: 512 });
  });
  afterAll(async () => engine?.dispose());

  it('greedy continuations are identical to the reference', async () => {
    for (const c of ref.cases) {
      const r = await engine.complete(c.input_ids, { maxTokens: c.greedy.length, temperature: 0 });
      expect(r.tokenIds).toEqual(c.greedy);
    }
  });

  it('and identical when all cases run concurrently', async () => {
    const all = await Promise.all(ref.cases.map((c) => engine.complete(c.input_ids, { maxTokens: c.greedy.length })));
    ref.cases.forEach((c, i) => expect(all[i].tokenIds).toEqual(c.greedy));
  });

  it('a text prompt names the missing tokenizer.json', async () => {
    await expect(engine.complete('Once upon a time')).rejects.toThrow(expect.objectContaining({
      code: 'ERR_GPUFORMER_INPUT', message: expect.stringContaining('tokenizer.json'),
    }));
  });
});
