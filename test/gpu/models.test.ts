/**
 * The golden fixtures (../shared/fixtures, made by transformers in float64) on the device, in f32, f16 and
 * bf16 activations, held to the fixtures README's tolerances (max |got − golden| ÷ max |golden|: f32 1e-4,
 * f16 5e-3, bf16 3e-2): the decoders as decoder-golden.ts checks them (full-prefill logits alone, packed and
 * chunked; greedy continuations through the paged KV cache, which llama-gqa's narrow logits leave undetermined
 * in half precision), and the BERT encoder's last hidden states and mean / CLS embeddings.
 */
import * as path from 'path';
import { ModelEncoderRunner } from '../../lib/models/encoder-runner';
import { expectClose, TOLERANCE } from '../helpers/compare';
import { FIXTURES, FixtureCase, goldenF32, readCases, readGolden } from '../models/golden';
import { describeGpu } from './both-devices';
import { describeDecoderGolden, openRunner, PRECISIONS } from './decoder-golden';

describe.each(['gpt2', 'llama-gqa', 'qwen2-bias-bf16', 'llama3-rope-scaled-sharded'])('%s', (name) => {
  describeDecoderGolden(name, path.join(FIXTURES, name), {
    fixture: name, precisions: PRECISIONS, tolerance: (a) => TOLERANCE[a], budgetBytes: () => 1 << 30,
  });
});

describe('bert', () => {
  const cases = readCases('bert');
  const golden = readGolden('bert');
  const types = (cs: FixtureCase[]) => cs.map((c) => c.token_type_ids!);

  describeGpu.each(PRECISIONS)('on the device in %s', (dtype, a) => {
    const tol = TOLERANCE[a];
    let runner: ModelEncoderRunner;
    beforeAll(async () => {
      runner = await openRunner<ModelEncoderRunner>(path.join(FIXTURES, 'bert'), dtype, 128, 1 << 30);
    });
    afterAll(() => runner?.dispose());

    it('last hidden states and mean / CLS embeddings of each case alone', async () => {
      for (const c of cases) {
        const [h] = await runner.hiddenStates([c.input_ids], types([c]));
        expectClose(h, goldenF32(golden, `${c.name}.last_hidden_state`), tol, `bert ${dtype} ${c.name} last_hidden_state`);
        const [mean] = await runner.embed([c.input_ids], { pooling: 'mean', normalize: true, typeIds: types([c]) });
        expectClose(mean, goldenF32(golden, `${c.name}.embedding`), tol, `bert ${dtype} ${c.name} embedding`);
        const [cls] = await runner.embed([c.input_ids], { pooling: 'cls', normalize: true, typeIds: types([c]) });
        expectClose(cls, goldenF32(golden, `${c.name}.embedding_cls`), tol, `bert ${dtype} ${c.name} embedding_cls`);
      }
    });

    it('all cases packed in one batch', async () => {
      const ids = cases.map((c) => c.input_ids);
      const hidden = await runner.hiddenStates(ids, types(cases));
      const mean = await runner.embed(ids, { pooling: 'mean', normalize: true, typeIds: types(cases) });
      cases.forEach((c, i) => {
        expectClose(hidden[i], goldenF32(golden, `${c.name}.last_hidden_state`), tol, `bert ${dtype} ${c.name} packed last_hidden_state`);
        expectClose(mean[i], goldenF32(golden, `${c.name}.embedding`), tol, `bert ${dtype} ${c.name} packed embedding`);
      });
    });
  });
});
