/**
 * SmolLM2-135M-Instruct from its Q4_1 GGUF file against ../shared/fixtures/SmolLM2-135M-Instruct.json
 * (transformers on the GGUF's weights dequantized to float32):
 * - dtype 'float32' (weights dequantized once at load): the chat template and tokenizer give the reference
 *   prompt ids, and the greedy ids match up to the first step whose reference margin is below 0.01;
 * - the default quantized path (weights stay in Q4_1/Q8_0 blocks): the matrix-vector products of decode
 *   quantize activations to int8 as llama.cpp does, so logits differ from the dequantized path by up to a
 *   few percent of their range (the tolerance below), and a greedy token may flip where the top two
 *   logits are closer than that. Tokens are identical up to the first step whose reference margin is
 *   below 0.15 (16 tokens or more in the three text cases; the two chat cases have margins of 0.08 at
 *   step 0 and 0.043 at step 5, where the quantized path picks the runner-up).
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine, GenerateChunk } from '../../lib/engine/engine';
import { loadModel } from '../../lib/engine/load';
import { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import { QUANTIZED_LOGITS_TOLERANCE, relError } from '../helpers/compare';
import { FIXTURES, MODELS } from '../models/golden';

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
interface RefCase {
  kind: 'chat' | 'text';
  input: string | Array<{ role: string; content: string }>;
  prompt_text: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
  greedy_margins: number[];
}
const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'SmolLM2-135M-Instruct.json'), 'utf8')) as { cases: RefCase[] };
const EOS = 2;
/** relative logits tolerance of the quantized path vs the dequantized one (test/helpers/compare.ts says why) */
const QUANT_TOLERANCE = QUANTIZED_LOGITS_TOLERANCE;
const QUANT_MARGIN = 0.15;

/** Steps up to (not including) the first one whose reference margin is below `m`. */
const stepsAbove = (c: RefCase, m: number) => {
  const i = c.greedy_margins.findIndex((x) => x < m);
  return i < 0 ? c.greedy_ids.length : i;
};
const agreement = (a: number[], b: number[]) => {
  let k = 0;
  while (k < a.length && k < b.length && a[k] === b[k]) k++;
  return k;
};
const loadOpts = { device: 'cpu' as const, maxModelLen: 512, maxNumSeqs: 8, maxNumBatchedTokens: 512 };

describe('SmolLM2 GGUF, dequantized to float32', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.load(GGUF, { ...loadOpts, dtype: 'float32' });
  });
  afterAll(async () => engine?.dispose());

  it('renders the chat template and tokenizes every reference prompt to its ids', () => {
    for (const c of ref.cases) {
      const text = c.kind === 'chat' ? engine.renderChat(c.input as Array<{ role: string; content: string }>) : (c.input as string);
      expect(text).toBe(c.prompt_text);
      // the template writes its own special tokens; plain text gets what the tokenizer adds (no BOS here)
      expect(engine.tokenizer!.encode(text, { addSpecialTokens: c.kind === 'text' })).toEqual(c.prompt_ids);
    }
  });

  it('greedy ids match the reference up to the first step with margin < 0.01 (all cases batched together)', async () => {
    const results = await Promise.all(ref.cases.map((c) => engine.complete(c.prompt_ids, { maxTokens: c.greedy_ids.length })));
    ref.cases.forEach((c, i) => {
      const need = Math.min(stepsAbove(c, 0.01) + 1, c.greedy_ids.length); // the low-margin step itself may go either way
      expect(results[i].tokenIds.slice(0, need)).toEqual(c.greedy_ids.slice(0, need));
    });
  });

  it('chat answers stop at <|im_end|> with the reference text', async () => {
    for (const c of ref.cases.filter((x) => x.kind === 'chat')) {
      const r = await engine.completeChat(c.input as Array<{ role: string; content: string }>, { maxTokens: 64 });
      expect(r.tokenIds).toEqual(c.greedy_ids);
      expect(r.tokenIds[r.tokenIds.length - 1]).toBe(EOS);
      expect(r.finishReason).toBe('stop');
      expect(r.text).toBe(c.greedy_text.replace('<|im_end|>', ''));
      expect(r.usage.promptTokens).toBe(c.prompt_ids.length);
    }
  });

  it('ignoreEos runs past <|im_end|> to maxTokens (same ids up to there); a non-boolean is a coded error', async () => {
    const c = ref.cases.find((x) => x.kind === 'chat')!;
    const messages = c.input as Array<{ role: string; content: string }>;
    const r = await engine.completeChat(messages, { maxTokens: c.greedy_ids.length + 3, ignoreEos: true });
    expect(r.tokenIds.slice(0, c.greedy_ids.length)).toEqual(c.greedy_ids); // EOS included, generation goes on
    expect(r.tokenIds).toHaveLength(c.greedy_ids.length + 3);
    expect(r.finishReason).toBe('length');
    await expect(engine.completeChat(messages, { ignoreEos: 'yes' as never })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT' });
  });

  it('streams text pieces that join to the decoded ids, never a broken character', async () => {
    const c = ref.cases.find((x) => x.kind === 'text')!;
    const chunks: GenerateChunk[] = [];
    for await (const ch of engine.generate(c.input as string, { maxTokens: 20 })) chunks.push(ch);
    const ids = chunks.flatMap((ch) => ch.tokenIds);
    expect(ids).toEqual(c.greedy_ids.slice(0, 20));
    for (const ch of chunks) expect(ch.text).not.toContain('\uFFFD');
    expect(chunks.map((ch) => ch.text).join('')).toBe(engine.tokenizer!.decode(ids));
  });

  it('a stop string ends the text right before it', async () => {
    const c = ref.cases.find((x) => x.kind === 'text')!; // " there was a wise old wizard named Elwes. …"
    expect(c.greedy_text).toContain(' wizard');
    const r = await engine.complete(c.input as string, { maxTokens: 40, stop: [' wizard', 'zzz'] });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(c.greedy_text.slice(0, c.greedy_text.indexOf(' wizard')));
    expect(r.tokenIds.length).toBeLessThan(40);
  });
});

describe('SmolLM2 GGUF, quantized weights (the default)', () => {
  it('keeps the weights in their blocks: about 97 MB instead of 540 MB', async () => {
    const engine = await Engine.load(GGUF, loadOpts);
    try {
      expect(engine.plan().params.bytes).toBeLessThan(100e6);
      expect(engine.memory().weightsBytes).toBeLessThan(100e6);
      const results = await Promise.all(ref.cases.map((c) => engine.complete(c.prompt_ids, { maxTokens: 16 })));
      ref.cases.forEach((c, i) => {
        const same = agreement(results[i].tokenIds, c.greedy_ids);
        if (same < Math.min(16, stepsAbove(c, QUANT_MARGIN), results[i].tokenIds.length)) {
          throw new Error(`case ${i}: quantized greedy agrees for ${same} tokens, reference margins ${c.greedy_margins.slice(0, 16)}`);
        }
      });
    } finally {
      await engine.dispose();
    }
  });

  it(`logits of prefill and of decode steps are within ${QUANT_TOLERANCE} of the dequantized path`, async () => {
    const quant = (await loadModel(GGUF, loadOpts)).runner as ModelDecoderRunner;
    const exact = (await loadModel(GGUF, { ...loadOpts, dtype: 'float32' })).runner as ModelDecoderRunner;
    try {
      for (const c of ref.cases) {
        const table = Array.from({ length: Math.ceil((c.prompt_ids.length + 8) / quant.blockSize) }, (_, i) => i);
        // the prompt in one step (matrix-matrix products), then 8 reference tokens one at a time (matrix-vector)
        const steps: Array<{ tokens: number[]; start: number }> = [{ tokens: c.prompt_ids, start: 0 }];
        for (let j = 0; j < 8; j++) steps.push({ tokens: [c.greedy_ids[j]], start: c.prompt_ids.length + j });
        for (const s of steps) {
          const [q] = await quant.logits([{ ...s, blockTable: table, sample: null }]);
          const [e] = await exact.logits([{ ...s, blockTable: table, sample: null }]);
          expect(relError(q, e)).toBeLessThanOrEqual(QUANT_TOLERANCE);
        }
      }
    } finally {
      quant.dispose();
      exact.dispose();
    }
  });
});
