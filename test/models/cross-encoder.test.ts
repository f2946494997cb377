/**
 * Cross-encoders: a BertForSequenceClassification checkpoint (a tiny random one made by ./cross-encoder.ts)
 * loads as a reranker. engine.rerank() against a float64 reference of the whole model (BERT, the pooler's
 * tanh, the classifier, the activation sentence-transformers' CrossEncoder applies), the pairs as the model
 * reads them ([CLS] query [SEP] document [SEP], token types, longest-first truncation), topN and
 * returnDocuments, the activations a config may name, and what a cross-encoder is not (an embedder; a
 * multi-label classifier is no reranker).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { planForSource } from '../../lib/engine/plan';
import { loadModel } from '../../lib/engine/load';
import { openModel } from '../../lib/loader/open';
import { native } from '../../lib/native';
import { expectCoded, removeTempDirs, tempDir } from '../loader/helpers';
import { CrossEncoderFixture, SHAPE, VOCAB, makeCrossEncoder, referenceLogits } from './cross-encoder';

afterAll(removeTempDirs);

const load = (dir: string) => Engine.load(dir, { device: 'cpu', maxNumSeqs: 4, maxNumBatchedTokens: 256 });
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));
const id = (t: string) => VOCAB.indexOf(t);

const QUERY = 'Who wrote the book To Kill a Mockingbird?';
const DOCUMENTS = [
  'Harper Lee wrote the novel To Kill a Mockingbird in 1960.',
  'Moby Dick was written by Herman Melville.',
  'Paris is the capital city of France.',
  'The cat sat on the mat.',
  'Berlin is a big city in Germany, and the river flows through it.',
  'Who reads books?',
];

describe('a one-label cross-encoder (sigmoid, the CrossEncoder default)', () => {
  let fx: CrossEncoderFixture;
  let engine: Engine;

  beforeAll(async () => {
    fx = makeCrossEncoder(tempDir('gf-cross-encoder'));
    engine = await load(fx.dir);
  });
  afterAll(async () => engine?.dispose());

  it('reads each pair as [CLS] query [SEP] document [SEP], token types 0 then 1', async () => {
    const [t] = await engine.tokenizeRerankInputs('what city', ['paris.']);
    expect(t).toEqual({
      ids: [id('[CLS]'), id('what'), id('city'), id('[SEP]'), id('paris'), id('.'), id('[SEP]')],
      typeIds: [0, 0, 0, 0, 1, 1, 1],
    });
  });

  it('scores every document as the float64 reference of the model does, best first', async () => {
    const tokens = await engine.tokenizeRerankInputs(QUERY, DOCUMENTS);
    const want = tokens.map((t) => sigmoid(referenceLogits(fx, t.ids, t.typeIds!)[0]));
    const results = await engine.rerank(QUERY, DOCUMENTS);
    expect(results).toHaveLength(DOCUMENTS.length);
    for (const r of results) expect(Math.abs(r.relevanceScore - want[r.index])).toBeLessThan(1e-5);
    const order = want.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0]).map(([, i]) => i);
    expect(results.map((r) => r.index)).toEqual(order);
    expect(results[0]).not.toHaveProperty('document');
    // the scores really differ between documents (a head that ignored its input would tie them)
    expect(new Set(want.map((s) => s.toFixed(6))).size).toBe(DOCUMENTS.length);
  });

  it('topN keeps the best; returnDocuments adds their text; concurrent calls batch together', async () => {
    const all = await engine.rerank(QUERY, DOCUMENTS);
    const top = await engine.rerank(QUERY, DOCUMENTS, { topN: 2, returnDocuments: true });
    expect(top).toEqual(all.slice(0, 2).map((r) => ({ ...r, document: DOCUMENTS[r.index] })));
    const concurrent = await Promise.all(DOCUMENTS.map((d) => engine.rerank(QUERY, [d])));
    concurrent.forEach(([r], i) => expect(r.relevanceScore).toBeCloseTo(all.find((x) => x.index === i)!.relevanceScore, 6));
    expect(await engine.rerank(QUERY, [])).toEqual([]);
    await expectCoded(engine.rerank(QUERY, DOCUMENTS, { topN: 0 }), 'ERR_GPUFORMER_INPUT', /topN must be a positive integer/);
    await expectCoded(engine.rerank(QUERY, ['ok', 7 as never]), 'ERR_GPUFORMER_INPUT', /documents\[1\] must be a string/);
  });

  it('cuts a long pair to the model\'s length, longest first, and scores what it kept', async () => {
    const long = 'the river flows through the big city and '.repeat(20);
    const [t] = await engine.tokenizeRerankInputs(QUERY, [long]);
    expect(t.ids).toHaveLength(SHAPE.positions);
    const queryIds = engine.tokenizer!.encode(QUERY, { addSpecialTokens: false });
    expect(t.ids.slice(0, queryIds.length + 2)).toEqual([id('[CLS]'), ...queryIds, id('[SEP]')]); // the shorter text kept whole
    const [r] = await engine.rerank(QUERY, [long]);
    expect(Math.abs(r.relevanceScore - sigmoid(referenceLogits(fx, t.ids, t.typeIds!)[0]))).toBeLessThan(1e-5);
  });

  it('is not an embedding model', async () => {
    await expectCoded(engine.embed('x'), 'ERR_GPUFORMER_UNSUPPORTED', /cross-encoder: it scores \(query, document\) pairs with rerank\(\)/);
    expect(engine.plan().params.groups.classifier).toEqual({ tensors: 4, params: SHAPE.hidden * SHAPE.hidden + SHAPE.hidden + SHAPE.hidden + 1,
      bytes: 4 * (SHAPE.hidden * SHAPE.hidden + SHAPE.hidden + SHAPE.hidden + 1) });
  });
});

describe('what a config says', () => {
  it('an Identity activation scores with the raw logit; Tanh with its tanh', async () => {
    for (const [activation, f] of [['torch.nn.modules.linear.Identity', (x: number) => x], ['torch.nn.modules.activation.Tanh', Math.tanh]] as const) {
      const fx = makeCrossEncoder(tempDir('gf-cross-encoder'), { activation, seed: 7 });
      const engine = await load(fx.dir);
      try {
        const tokens = await engine.tokenizeRerankInputs(QUERY, DOCUMENTS.slice(0, 3));
        const results = await engine.rerank(QUERY, DOCUMENTS.slice(0, 3));
        for (const r of results) expect(Math.abs(r.relevanceScore - f(referenceLogits(fx, tokens[r.index].ids, tokens[r.index].typeIds!)[0]))).toBeLessThan(1e-5);
      } finally {
        await engine.dispose();
      }
    }
  });

  it('an activation gpuformer does not compute is refused at load, naming it', async () => {
    const fx = makeCrossEncoder(tempDir('gf-cross-encoder'), { activation: 'torch.nn.modules.activation.ReLU' });
    await expectCoded(load(fx.dir), 'ERR_GPUFORMER_UNSUPPORTED', /activation "torch.nn.modules.activation.ReLU" is not supported/);
  });

  it('two labels: a classifier, not a reranker', async () => {
    const fx = makeCrossEncoder(tempDir('gf-cross-encoder'), { numLabels: 2 });
    const engine = await load(fx.dir);
    try {
      expect(engine.spec.numLabels).toBe(2);
      await expectCoded(engine.rerank('a', ['b']), 'ERR_GPUFORMER_UNSUPPORTED', /has 2 labels; rerank needs one relevance score/);
    } finally {
      await engine.dispose();
    }
  });

  it('inside a sentence-transformers pipeline the checkpoint embeds, its head unused', async () => {
    const fx = makeCrossEncoder(tempDir('gf-cross-encoder'), { sentenceTransformers: true });
    const engine = await load(fx.dir);
    try {
      expect(engine.spec.numLabels).toBeUndefined();
      expect(await engine.embed(['the cat sat'])).toEqual([expect.any(Float32Array)]);
      await expectCoded(engine.rerank('a', ['b']), 'ERR_GPUFORMER_UNSUPPORTED', /an embedding model; rerank needs a cross-encoder/);
    } finally {
      await engine.dispose();
    }
  });

  it('a checkpoint without its classifier is refused before anything loads, naming the tensor', async () => {
    const fx = makeCrossEncoder(tempDir('gf-cross-encoder'));
    const config = JSON.parse(fs.readFileSync(path.join(fx.dir, 'config.json'), 'utf8'));
    fs.writeFileSync(path.join(fx.dir, 'config.json'), JSON.stringify({ ...config, id2label: { 0: 'a', 1: 'b', 2: 'c' } }));
    await expectCoded(openModel(fx.dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /'classifier.weight' has shape \[1,32\], but config.json implies \[3,32\]/);
  });

  it('the runner holds exactly the planned workspace for its head, and gives it all back', async () => {
    const fx = makeCrossEncoder(tempDir('gf-cross-encoder'));
    const before = native.memoryTotals('cpu');
    const { plan, runner } = await loadModel(fx.dir, { device: 'cpu', maxNumSeqs: 4, maxNumBatchedTokens: 256 });
    const after = native.memoryTotals('cpu');
    expect(after.workspace + after.activations - before.workspace - before.activations).toBe(plan.memory.workspace.bytes);
    expect(planForSource(await openModel(fx.dir), { device: 'cpu', maxNumSeqs: 4, maxNumBatchedTokens: 256 }).memory.workspace.bytes)
      .toBe(plan.memory.workspace.bytes);
    runner.dispose();
    expect(native.memoryTotals('cpu').activations).toBe(before.activations);
  });
});
