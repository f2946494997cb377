/**
 * The bad inputs, one test each, through the real load path (lib/engine/load.ts: open → plan →
 * load weights → runner): each gives its coded error naming what is wrong, and nothing stays allocated.
 * Every damaged model is a temporary copy of the gpt2 fixture with one thing broken.
 */
import * as fs from 'fs';
import * as path from 'path';
import { loadModel } from '../../lib/engine/load';
import { MEMORY_TAGS } from '../../lib/memory/ledger';
import { native } from '../../lib/native';
import { expectCoded, fixture, fixtureCopy, readJson, removeTempDirs } from './helpers';

afterAll(removeTempDirs);

const GPT2 = fixture('gpt2');
const weights = fs.readFileSync(path.join(GPT2, 'model.safetensors'));
const config = readJson(path.join(GPT2, 'config.json'));

/** gpt2's checkpoint with its header edited (the data section kept as is). */
function withHeader(edit: (h: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] }>) => void): Buffer {
  const n = Number(weights.readBigUInt64LE(0));
  const header = JSON.parse(weights.subarray(8, 8 + n).toString('utf8'));
  edit(header);
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, weights.subarray(8 + n)]);
}

const liveTags = () => {
  const t = native.memoryTotals('cpu');
  return Object.fromEntries(MEMORY_TAGS.map((k) => [k, t[k]]));
};

/** Loads `dir` expecting `code`; checks that every allocator tag is where it was before. */
async function expectLoadFails(dir: string, code: string, ...patterns: Array<string | RegExp>): Promise<void> {
  const before = liveTags();
  const allocations = native.memoryTotals('cpu').allocations;
  await expectCoded(loadModel(dir, { device: 'cpu', memoryBudgetBytes: 64e6, maxNumSeqs: 2, maxNumBatchedTokens: 64 }), code, ...patterns);
  expect(liveTags()).toEqual(before);
  expect(native.memoryTotals('cpu').allocations).toBe(allocations);
}

it('the undamaged copy loads (so each failure below is the damage alone)', async () => {
  const before = liveTags();
  const m = await loadModel(fixtureCopy(GPT2, { 'model.safetensors': withHeader(() => undefined) }),
    { device: 'cpu', memoryBudgetBytes: 64e6, maxNumSeqs: 2, maxNumBatchedTokens: 64 });
  expect(native.memoryTotals('cpu').weights - before.weights).toBe(m.plan.memory.params.bytes);
  m.runner.dispose();
  expect(liveTags()).toEqual(before);
});

it('a truncated file', async () => {
  await expectLoadFails(fixtureCopy(GPT2, { 'model.safetensors': weights.subarray(0, weights.length / 2) }),
    'ERR_GPUFORMER_BAD_WEIGHTS', /model\.safetensors/, /truncated/);
});

it('a header length past the end of the file', async () => {
  const damaged = Buffer.from(weights);
  damaged.writeBigUInt64LE(BigInt(weights.length), 0);
  await expectLoadFails(fixtureCopy(GPT2, { 'model.safetensors': damaged }), 'ERR_GPUFORMER_BAD_WEIGHTS', /header length/, /past the end/);
});

it('overlapping tensors', async () => {
  const damaged = withHeader((h) => {
    const a = h['transformer.h.0.ln_1.bias'].data_offsets;
    h['transformer.h.0.ln_1.weight'].data_offsets = [a[0] + 4, a[1] + 4];
  });
  await expectLoadFails(fixtureCopy(GPT2, { 'model.safetensors': damaged }), 'ERR_GPUFORMER_BAD_WEIGHTS', /overlap/, /ln_1/);
});

it('bytes disagreeing with the shape', async () => {
  const damaged = withHeader((h) => {
    h['transformer.ln_f.weight'].shape = [127];
  });
  await expectLoadFails(fixtureCopy(GPT2, { 'model.safetensors': damaged }), 'ERR_GPUFORMER_BAD_WEIGHTS',
    /'transformer\.ln_f\.weight'/, /hold 512 bytes/, /\[127\]/, /508/);
});

it('a missing tensor', async () => {
  const damaged = withHeader((h) => {
    delete h['transformer.h.1.mlp.c_fc.bias'];
  });
  await expectLoadFails(fixtureCopy(GPT2, { 'model.safetensors': damaged }), 'ERR_GPUFORMER_BAD_WEIGHTS',
    /'transformer\.h\.1\.mlp\.c_fc\.bias'/, /missing/);
});

it('a tensor shape disagreeing with config.json', async () => {
  await expectLoadFails(fixtureCopy(GPT2, { 'config.json': JSON.stringify({ ...config, vocab_size: 1001 }) }), 'ERR_GPUFORMER_BAD_WEIGHTS',
    /'transformer\.wte\.weight'/, /shape \[1000,128\]/, /config\.json implies \[1001,128\]/);
});

it('an unknown architecture', async () => {
  await expectLoadFails(fixtureCopy(GPT2, { 'config.json': JSON.stringify({ ...config, architectures: ['FalconForCausalLM'], model_type: 'falcon' }) }),
    'ERR_GPUFORMER_UNSUPPORTED', /'FalconForCausalLM'/, /model_type 'falcon'/, /not supported/);
});

it('config.json missing', async () => {
  await expectLoadFails(fixtureCopy(GPT2, { 'config.json': null }), 'ERR_GPUFORMER_BAD_WEIGHTS', /has no config\.json/);
});

it('config.json malformed', async () => {
  await expectLoadFails(fixtureCopy(GPT2, { 'config.json': '{"n_embd": 128, "n_head": 4,,}' }), 'ERR_GPUFORMER_BAD_WEIGHTS',
    /config\.json is not valid JSON/);
});
