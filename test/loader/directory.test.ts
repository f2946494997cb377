/**
 * openModel on model directories, GGUF files and the files around the weights: every shared fixture and
 * real model, sentence-transformers modules, tokenizer and chat template, name prefixes, pickle refusal,
 * and checkpoints that disagree with their config.
 */
import * as fs from 'fs';
import * as path from 'path';
import { openModel } from '../../lib/loader/open';
import { readSafetensors } from '../../lib/loader/safetensors';
import { GGUF_FILE, MODELS, expectCoded, fixture, fixtureCopy, readJson, removeTempDirs, tempDir, writeSafetensors } from './helpers';

afterAll(removeTempDirs);

describe('shared fixtures and models', () => {
  it.each([
    ['bert', 37, 'float32'],
    ['gpt2', 28, 'float32'],
    ['llama-gqa', 21, 'float32'],
    ['qwen2-bias-bf16', 26, 'bfloat16'],
    ['llama3-rope-scaled-sharded', 29, 'float32'],
  ])('%s opens with %i tensors stored as %s, without a tokenizer', async (name, count, dtype) => {
    const src = await openModel(fixture(name));
    expect(src.format).toBe('safetensors');
    expect(src.path).toBe(path.resolve(fixture(name)));
    expect(src.tensors.size).toBe(count);
    expect(src.spec.checkpointDtype).toBe(dtype);
    expect(src.tokenizer).toBeUndefined();
    expect(src.chatTemplate).toBeUndefined();
  });

  it('the qwen2 fixture is read as bf16 although its config does not say so', async () => {
    expect(readJson(path.join(fixture('qwen2-bias-bf16'), 'config.json')).torch_dtype).toBeUndefined();
    const src = await openModel(fixture('qwen2-bias-bf16'));
    expect([...src.tensors.values()].every((t) => t.dtype === 'bf16')).toBe(true);
  });

  it('the sharded fixture maps tensors to both shards', async () => {
    const src = await openModel(fixture('llama3-rope-scaled-sharded'));
    const shards = new Set([...src.tensors.values()].map((t) => path.basename(t.file)));
    expect(shards).toEqual(new Set(['model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']));
  });

  it('bert fixture: sentence-transformers mean pooling + Normalize from modules.json', async () => {
    const src = await openModel(fixture('bert'));
    expect(src.pooling).toEqual({ mode: 'mean', normalize: true });
    expect(src.maxSeqLength).toBeUndefined();
  });

  it('all-MiniLM-L6-v2: tokenizer.json + tokenizer_config.json, pooling, max_seq_length 256', async () => {
    const src = await openModel(path.join(MODELS, 'all-MiniLM-L6-v2'));
    expect(src.spec.architecture).toBe('BertModel');
    expect(src.pooling).toEqual({ mode: 'mean', normalize: true });
    expect(src.maxSeqLength).toBe(256);
    expect((src.tokenizer!.json.model as { type: string }).type).toBe('WordPiece');
    expect(src.tokenizer!.config!.do_lower_case).toBe(true);
    // position_ids (I64) is stored beside the weights and read as a plain tensor
    expect(src.tensors.get('embeddings.position_ids')).toMatchObject({ dtype: 'i64', shape: [1, 512] });
  });

  it('llama2c-260K: generation_config.json', async () => {
    const src = await openModel(path.join(MODELS, 'llama2c-260K'));
    expect(src.generationConfig).toEqual({ bos_token_id: 1, eos_token_id: 2 });
    expect(src.spec.family).toBe('llama');
  });

  it('a .gguf path goes to the GGUF reader, and so does a directory holding one .gguf and no config.json', async () => {
    const a = await openModel(GGUF_FILE);
    expect(a.format).toBe('gguf');
    expect(a.spec.family).toBe('llama');
    expect(a.tensors.has('model.embed_tokens.weight')).toBe(true);
    const b = await openModel(path.dirname(GGUF_FILE));
    expect(b.format).toBe('gguf');
    expect(b.path).toBe(a.path);
  });
});

describe('the files around the weights', () => {
  it('chat_template from tokenizer_config.json (string and named-list forms) and chat_template.jinja', async () => {
    const tok = JSON.stringify({ version: '1.0', model: { type: 'BPE', vocab: {}, merges: [] } });
    const a = await openModel(fixtureCopy(fixture('llama-gqa'), {
      'tokenizer.json': tok, 'tokenizer_config.json': JSON.stringify({ chat_template: '{{ messages }}' }),
    }));
    expect(a.tokenizer!.json.version).toBe('1.0');
    expect(a.chatTemplate).toBe('{{ messages }}');
    const b = await openModel(fixtureCopy(fixture('llama-gqa'), {
      'tokenizer.json': tok,
      'tokenizer_config.json': JSON.stringify({ chat_template: [{ name: 'tool_use', template: 'T' }, { name: 'default', template: 'D' }] }),
    }));
    expect(b.chatTemplate).toBe('D');
    const c = await openModel(fixtureCopy(fixture('llama-gqa'), { 'tokenizer.json': tok, 'chat_template.jinja': 'J' }));
    expect(c.chatTemplate).toBe('J');
    expect(c.tokenizer!.config).toBeUndefined();
  });

  it('pooling: cls and lasttoken; without a Normalize module normalize is false', async () => {
    const modules = JSON.stringify([{ idx: 0, path: '', type: 'sentence_transformers.models.Transformer' },
      { idx: 1, path: '1_Pooling', type: 'sentence_transformers.models.Pooling' }]);
    const cls = await openModel(fixtureCopy(fixture('bert'), {
      'modules.json': modules, '1_Pooling/config.json': JSON.stringify({ pooling_mode_cls_token: true, pooling_mode_mean_tokens: false }),
    }));
    expect(cls.pooling).toEqual({ mode: 'cls', normalize: false });
    const last = await openModel(fixtureCopy(fixture('bert'), {
      'modules.json': modules, '1_Pooling/config.json': JSON.stringify({ pooling_mode_lasttoken: true }),
      'sentence_bert_config.json': JSON.stringify({ max_seq_length: 100 }),
    }));
    expect(last.pooling).toEqual({ mode: 'last', normalize: false });
    expect(last.maxSeqLength).toBe(100);
  });

  it('pooling modes gpuformer cannot honour are refused', async () => {
    await expectCoded(openModel(fixtureCopy(fixture('bert'), {
      '1_Pooling/config.json': JSON.stringify({ pooling_mode_max_tokens: true }),
    })), 'ERR_GPUFORMER_UNSUPPORTED', /pooling_mode_max_tokens/);
    await expectCoded(openModel(fixtureCopy(fixture('bert'), {
      '1_Pooling/config.json': JSON.stringify({ pooling_mode_mean_tokens: true, pooling_mode_cls_token: true }),
    })), 'ERR_GPUFORMER_UNSUPPORTED', /pooling_mode_mean_tokens \+ pooling_mode_cls_token|pooling_mode_cls_token \+ pooling_mode_mean_tokens/);
  });

  it('a broken optional JSON file is an error, not silently skipped', async () => {
    await expectCoded(openModel(fixtureCopy(fixture('gpt2'), { 'generation_config.json': '{oops' })), 'ERR_GPUFORMER_BAD_WEIGHTS',
      /generation_config\.json is not valid JSON/);
  });
});

/** Rewrites a fixture's checkpoint under new names (same bytes), into a temporary directory. */
async function renamedCopy(name: string, rename: (n: string) => string): Promise<string> {
  const file = path.join(fixture(name), 'model.safetensors');
  const st = await readSafetensors(file);
  const buf = fs.readFileSync(file);
  const dir = fixtureCopy(fixture(name), { 'model.safetensors': null });
  writeSafetensors(path.join(dir, 'model.safetensors'), st.tensors.map((t) => ({
    name: rename(t.name), dtype: t.dtype.toUpperCase(), shape: t.shape, data: buf.subarray(t.offset, t.offset + t.nbytes),
  })));
  return dir;
}

describe('checkpoint naming', () => {
  it('GPT-2 without the transformer. prefix, BERT with the bert. prefix (as BertForMaskedLM saves it)', async () => {
    const gpt2 = await openModel(await renamedCopy('gpt2', (n) => n.replace(/^transformer\./, '')));
    expect(gpt2.tensors.has('wte.weight')).toBe(true);
    const bert = await openModel(await renamedCopy('bert', (n) => `bert.${n}`));
    expect(bert.tensors.has('bert.embeddings.word_embeddings.weight')).toBe(true);
  });
});

describe('checkpoints that disagree with their config', () => {
  it('a missing tensor is named', async () => {
    const dir = await renamedCopy('llama-gqa', (n) => (n === 'model.layers.1.mlp.up_proj.weight' ? 'unrelated.weight' : n));
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /'model\.layers\.1\.mlp\.up_proj\.weight'/, /\[688,256\]/, /missing/);
  });

  it('an untied config without lm_head.weight is missing a tensor', async () => {
    const dir = await renamedCopy('llama-gqa', (n) => (n === 'lm_head.weight' ? 'other.weight' : n));
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /'lm_head\.weight'/);
  });

  it('a shape that disagrees with config.json names the tensor, both shapes', async () => {
    const config = readJson(path.join(fixture('llama-gqa'), 'config.json'));
    const dir = fixtureCopy(fixture('llama-gqa'), { 'config.json': JSON.stringify({ ...config, intermediate_size: 512 }) });
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /'model\.layers\.0\.mlp\.down_proj\.weight'|'model\.layers\.0\.mlp\.gate_proj\.weight'/,
      /\[688,256\]|\[256,688\]/, /\[512,256\]|\[256,512\]/);
  });

  it('a pickle checkpoint is refused with the conversion command', async () => {
    const dir = tempDir('gf-pickle');
    fs.copyFileSync(path.join(fixture('gpt2'), 'config.json'), path.join(dir, 'config.json'));
    fs.writeFileSync(path.join(dir, 'pytorch_model.bin'), Buffer.from('PK\x03\x04 not really'));
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_UNSUPPORTED', /pytorch_model\.bin/, /safe_serialization=True/, /save_pretrained/);
  });

  it('a directory without weights, several unindexed safetensors, or neither a path nor a hub id', async () => {
    const dir = tempDir('gf-noweights');
    fs.copyFileSync(path.join(fixture('gpt2'), 'config.json'), path.join(dir, 'config.json'));
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /has no weights/);
    writeSafetensors(path.join(dir, 'a.safetensors'), []);
    writeSafetensors(path.join(dir, 'b.safetensors'), []);
    await expectCoded(openModel(dir), 'ERR_GPUFORMER_BAD_WEIGHTS', /several \.safetensors/);
    await expectCoded(openModel('./definitely/not/here/either'), 'ERR_GPUFORMER_INPUT', /not a file or directory/);
    await expectCoded(openModel(path.join(fixture('gpt2'), 'config.json')), 'ERR_GPUFORMER_INPUT', /not a \.gguf file/);
  });
});
