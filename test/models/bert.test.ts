/**
 * The BERT encoder against the golden fixture made by transformers in float64: last hidden states within
 * 1e-4 relative, the sentence-transformers embedding (mean pooling + L2 normalize, from modules.json) and
 * the CLS embedding. Each case alone, then all cases packed in one batch (some cases mix token types).
 */
import { ModelEncoderRunner } from '../../lib/models/encoder-runner';
import { expectClose, TOLERANCE } from '../helpers/compare';
import { FixtureCase, Golden, goldenF32, readCases, readGolden } from './golden';
import { openFixtureRunner } from './load-runner';

describe('bert', () => {
  let runner: ModelEncoderRunner;
  let golden: Golden;
  let cases: FixtureCase[];

  beforeAll(async () => {
    cases = readCases('bert');
    golden = readGolden('bert');
    runner = await openFixtureRunner('bert', { maxModelLen: 128, maxNumBatchedTokens: 512, maxNumSeqs: 8 });
  });
  afterAll(() => runner?.dispose());

  const types = (cs: FixtureCase[]) => cs.map((c) => c.token_type_ids!);

  it('the fixture mixes token types', () => {
    expect(cases.some((c) => c.token_type_ids!.some((t) => t === 1))).toBe(true);
  });

  it('last hidden states of each case alone match transformers', async () => {
    for (const c of cases) {
      const [h] = await runner.hiddenStates([c.input_ids], types([c]));
      expectClose(h, goldenF32(golden, `${c.name}.last_hidden_state`), TOLERANCE.f32, `${c.name} last_hidden_state`);
    }
  });

  it('mean-pooled normalized and CLS embeddings of each case alone', async () => {
    for (const c of cases) {
      const [mean] = await runner.embed([c.input_ids], { pooling: 'mean', normalize: true, typeIds: types([c]) });
      expectClose(mean, goldenF32(golden, `${c.name}.embedding`), TOLERANCE.f32, `${c.name} embedding`);
      const [cls] = await runner.embed([c.input_ids], { pooling: 'cls', normalize: true, typeIds: types([c]) });
      expectClose(cls, goldenF32(golden, `${c.name}.embedding_cls`), TOLERANCE.f32, `${c.name} embedding_cls`);
    }
  });

  it('all cases packed in one batch give the same answers', async () => {
    const ids = cases.map((c) => c.input_ids);
    const hidden = await runner.hiddenStates(ids, types(cases));
    const mean = await runner.embed(ids, { pooling: 'mean', normalize: true, typeIds: types(cases) });
    const cls = await runner.embed(ids, { pooling: 'cls', normalize: true, typeIds: types(cases) });
    cases.forEach((c, i) => {
      expectClose(hidden[i], goldenF32(golden, `${c.name}.last_hidden_state`), TOLERANCE.f32, `${c.name} packed last_hidden_state`);
      expectClose(mean[i], goldenF32(golden, `${c.name}.embedding`), TOLERANCE.f32, `${c.name} packed embedding`);
      expectClose(cls[i], goldenF32(golden, `${c.name}.embedding_cls`), TOLERANCE.f32, `${c.name} packed embedding_cls`);
    });
  });

  it('a batch larger than one step is split and keeps its order', async () => {
    // 5 cases × 3 with at most 8 sequences and 512 tokens per step: several steps
    const many = [...cases, ...cases, ...cases];
    const out = await runner.embed(many.map((c) => c.input_ids), { pooling: 'mean', normalize: true, typeIds: types(many) });
    many.forEach((c, i) => expectClose(out[i], goldenF32(golden, `${c.name}.embedding`), TOLERANCE.f32, `${c.name} #${i}`));
  });

  it('unnormalized mean pooling has the norm that normalization removes', async () => {
    const c = cases[2];
    const [raw] = await runner.embed([c.input_ids], { pooling: 'mean', normalize: false, typeIds: types([c]) });
    const norm = Math.hypot(...raw);
    expectClose(raw.map((x) => x / norm), goldenF32(golden, `${c.name}.embedding`), TOLERANCE.f32, 'renormalized');
  });

  it('rejects bad input with ERR_GPUFORMER_INPUT', async () => {
    const code = expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' });
    await expect(runner.embed([[1, 2, 1000]], { pooling: 'mean', normalize: true })).rejects.toThrow(code);
    await expect(runner.embed([[]], { pooling: 'mean', normalize: true })).rejects.toThrow(code);
    await expect(runner.embed([new Array(129).fill(1)], { pooling: 'mean', normalize: true })).rejects.toThrow(code);
    await expect(runner.embed([[1]], { pooling: 'max' as never, normalize: true })).rejects.toThrow(code);
    await expect(runner.embed([[1, 2]], { pooling: 'mean', normalize: true, typeIds: [[0, 2]] })).rejects.toThrow(code);
  });
});
