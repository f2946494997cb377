/**
 * Planning before downloading (`gpuformer inspect`): a directory holding only config.json is planned from the
 * config's shapes, and a hub id from its config.json and its weight files' headers read with HTTP range
 * requests on the loopback fake hub (test/loader/fake-hub.ts), sharded index and GGUF included, without a
 * byte of weights fetched. Each plan equals the plan of the model with its weights at hand; and Llama-3-70B's
 * config alone says how much it needs.
 */
import * as fs from 'fs';
import * as path from 'path';
import { formatInspection, inspectModel } from '../../lib/engine/inspect';
import { FakeHub, useFakeHub } from './fake-hub';
import { GGUF_FILE, expectCoded, fixture, removeTempDirs, tempDir } from './helpers';

const PLAN = { device: 'cpu', memoryBudgetBytes: 1e9, maxNumSeqs: 8, maxNumBatchedTokens: 256 } as const;

let hub: FakeHub;

beforeAll(async () => {
  hub = new FakeHub();
  hub.addRepo('tiny/gpt2', fixture('gpt2'));
  hub.addRepo('tiny/llama3-sharded', fixture('llama3-rope-scaled-sharded'));
  const ggufDir = tempDir('gf-gguf-repo');
  fs.symlinkSync(GGUF_FILE, path.join(ggufDir, path.basename(GGUF_FILE)));
  hub.addRepo('tiny/smollm2-gguf', ggufDir);
  await hub.start();
});
afterAll(async () => {
  await hub.stop();
  removeTempDirs();
});
useFakeHub(() => hub);

/** A directory holding only a copy of `dir`'s config.json. */
function configOnly(dir: string): string {
  const d = tempDir('gf-config-only');
  fs.copyFileSync(path.join(dir, 'config.json'), path.join(d, 'config.json'));
  return d;
}

/** The length of a safetensors file's header section (8 + its JSON), the bytes a planner may read. */
const headerEnd = (file: string) => 8 + Number(fs.readFileSync(file).readBigUInt64LE(0));

describe('config.json alone', () => {
  // the plan of the model with its weights, where its config names the dtype the weights are stored in; else
  // the same parameters in the dtype the config names (float32 when none: qwen2-bias-bf16 names none)
  it.each([['gpt2', true], ['llama-gqa', true], ['llama3-rope-scaled-sharded', true], ['bert', true], ['qwen2-bias-bf16', false]])('%s: the plan of the model with its weights', async (name, sameDtype) => {
    const full = await inspectModel(fixture(name), PLAN);
    const bare = await inspectModel(configOnly(fixture(name)), PLAN);
    if (sameDtype) {
      expect(bare.plan).toEqual(full.plan);
    } else {
      expect(bare.plan.params.count).toBe(full.plan.params.count);
      expect(bare.plan.params.bytes).toBe(4 * full.plan.params.count);
      expect(full.plan.params.bytes).toBeLessThan(bare.plan.params.bytes);
    }
    expect(bare.source.planOnly).toBe('config');
    expect({ ...bare.source.spec, checkpointDtype: undefined }).toEqual({ ...full.source.spec, checkpointDtype: undefined });
    expect(formatInspection(bare)).toContain('computed from config.json (no weights here)');
  });

  it('Llama-3-70B: 70.55 B parameters, 141 GB in bfloat16: no 80 GB GPU holds it, nor an H200 at 0.9', async () => {
    const d = tempDir('gf-llama3-70b');
    fs.writeFileSync(path.join(d, 'config.json'), JSON.stringify({
      architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 8192, intermediate_size: 28672, num_hidden_layers: 80,
      num_attention_heads: 64, num_key_value_heads: 8, vocab_size: 128256, max_position_embeddings: 131072, rms_norm_eps: 1e-5,
      rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
      tie_word_embeddings: false, torch_dtype: 'bfloat16', bos_token_id: 128000, eos_token_id: [128001, 128008, 128009],
    }));
    for (const [memory, util] of [[80e9, 0.9], [141e9, 0.9]]) {
      const x = await inspectModel(d, { device: 'cuda', deviceTotalBytes: memory, gpuMemoryUtilization: util });
      expect(x.plan.params.count).toBe(70_553_706_496);
      expect(x.plan.params.bytes).toBe(2 * 70_553_706_496);
      expect(x.plan.fits).toBe(false);
      expect(x.plan.shortfallBytes).toBeGreaterThan(2 * 70_553_706_496 - util * memory);
    }
  });
});

describe('a hub id, without downloading the weights', () => {
  it.each([['tiny/gpt2', 'gpt2'], ['tiny/llama3-sharded', 'llama3-rope-scaled-sharded']])('%s: plans from config.json and the safetensors headers', async (id, name) => {
    const cacheDir = tempDir('gf-hub-plan');
    const remote = await inspectModel(id, { ...PLAN, cacheDir });
    const local = await inspectModel(fixture(name), PLAN);
    expect(remote.plan).toEqual(local.plan);
    expect(remote.source).toMatchObject({ planOnly: 'hub', tensors: local.source.tensors, checkpointBytes: local.source.checkpointBytes });
    expect(formatInspection(remote)).toContain("read from the hub's headers (the weights were not downloaded)");

    // every request for a weight file was a range within its header; nothing else of them was sent
    const weightFiles = fs.readdirSync(fixture(name)).filter((f) => f.startsWith('model') && f.endsWith('.safetensors'));
    const sent = hub.seen.filter((s) => s.sent && s.sent.file.endsWith('.safetensors'));
    expect(new Set(sent.map((s) => s.sent!.file))).toEqual(new Set(weightFiles));
    for (const s of sent) {
      expect(s.range).toMatch(/^bytes=\d+-\d+$/);
      expect(s.sent!.end).toBeLessThanOrEqual(headerEnd(path.join(fixture(name), s.sent!.file)));
    }
    // the cache holds the metadata (config.json, the index), no weights
    const blobs = fs.readdirSync(path.join(cacheDir, `models--${id.replace('/', '--')}`, 'blobs'));
    for (const f of weightFiles) expect(blobs).not.toContain(hub.file(id, f).sha256);
    expect(blobs).toContain(hub.file(id, 'config.json').gitBlobId);
  });

  it('a GGUF repository: its header and tensor infos, read by range', async () => {
    const cacheDir = tempDir('gf-hub-plan');
    const opts = { device: 'cpu', memoryBudgetBytes: 2e9, maxModelLen: 2048 } as const;
    const remote = await inspectModel('tiny/smollm2-gguf', { ...opts, cacheDir });
    const local = await inspectModel(GGUF_FILE, opts);
    expect(remote.plan).toEqual(local.plan);
    expect(remote.source).toMatchObject({ format: 'gguf', planOnly: 'hub', tokenizer: true, chatTemplate: true, tensors: local.source.tensors });
    const fetched = hub.seen.reduce((n, s) => n + (s.sent ? s.sent.end - s.sent.start : 0), 0);
    const size = fs.statSync(GGUF_FILE).size;
    expect(fetched).toBeLessThan(size / 10); // the header and a window past it, not the 90 MB of weights
  });

  it('a server that ignores Range is read only as far as the header', async () => {
    hub.faults = { ignoreRange: true };
    const remote = await inspectModel('tiny/gpt2', { ...PLAN, cacheDir: tempDir('gf-hub-plan') });
    expect(remote.plan).toEqual((await inspectModel(fixture('gpt2'), PLAN)).plan);
  });

  it('offline, the cached metadata is planned from config.json\'s shapes', async () => {
    const cacheDir = tempDir('gf-hub-plan');
    await inspectModel('tiny/llama3-sharded', { ...PLAN, cacheDir });
    const offline = await inspectModel('tiny/llama3-sharded', { ...PLAN, cacheDir, offline: true });
    expect(offline.source.planOnly).toBe('config');
    expect(offline.plan).toEqual((await inspectModel(fixture('llama3-rope-scaled-sharded'), PLAN)).plan);
    await expectCoded(inspectModel('tiny/not-cached', { ...PLAN, cacheDir, offline: true }), 'ERR_GPUFORMER_INPUT', /not in the cache/);
  });

  it('a broken header on the hub is refused as the local reader refuses it', async () => {
    const dir = tempDir('gf-bad-remote');
    fs.copyFileSync(path.join(fixture('gpt2'), 'config.json'), path.join(dir, 'config.json'));
    const bytes = Buffer.alloc(64);
    bytes.writeBigUInt64LE(1n << 40n);
    fs.writeFileSync(path.join(dir, 'model.safetensors'), bytes);
    hub.addRepo('tiny/broken', dir);
    await expectCoded(inspectModel('tiny/broken', { ...PLAN, cacheDir: tempDir('gf-hub-plan') }), 'ERR_GPUFORMER_BAD_WEIGHTS', /header claims 1099511627776 bytes/);
  });
});
