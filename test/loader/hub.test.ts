/**
 * Hub downloads against a loopback server (test/loader/fake-hub.ts) serving the shared fixtures: the
 * Hugging Face cache layout, cache hits, resuming an interrupted transfer, size and hash checks, offline
 * mode, the token, sharded checkpoints, and refusals. No test reaches the internet.
 */
import * as fs from 'fs';
import * as path from 'path';
import { openModel } from '../../lib/loader/open';
import { hubCacheDir, isHubId, pull, repoCacheDir } from '../../lib/loader/hub';
import { FakeHub, useFakeHub } from './fake-hub';
import { expectCoded, fixture, removeTempDirs, tempDir } from './helpers';


let hub: FakeHub;
let gpt2Commit: string;
let shardedCommit: string;

beforeAll(async () => {
  hub = new FakeHub();
  gpt2Commit = hub.addRepo('tiny/gpt2', fixture('gpt2'));
  shardedCommit = hub.addRepo('tiny/llama3-sharded', fixture('llama3-rope-scaled-sharded'));
  const pickleDir = tempDir('gf-pickle-src');
  fs.copyFileSync(path.join(fixture('gpt2'), 'config.json'), path.join(pickleDir, 'config.json'));
  fs.writeFileSync(path.join(pickleDir, 'pytorch_model.bin'), Buffer.alloc(4096, 1));
  hub.addRepo('tiny/pickle-only', pickleDir);
  await hub.start();
});

afterAll(async () => {
  await hub.stop();
  removeTempDirs();
});

useFakeHub(() => hub);

const sameBytes = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

describe('downloading', () => {
  it('writes blobs, snapshot symlinks and refs/main in the Hugging Face layout', async () => {
    const cacheDir = tempDir('gf-hub');
    const progress: Array<{ file: string; bytesDone: number; bytesTotal: number }> = [];
    const pulled = await pull('tiny/gpt2', { cacheDir, onProgress: (p) => progress.push(p) });
    const repo = path.join(cacheDir, 'models--tiny--gpt2');
    expect(pulled).toEqual({ id: 'tiny/gpt2', revision: 'main', commit: gpt2Commit, dir: path.join(repo, 'snapshots', gpt2Commit),
      files: ['config.json', 'model.safetensors'] });
    expect(fs.readFileSync(path.join(repo, 'refs', 'main'), 'utf8')).toBe(gpt2Commit);
    // config.json (small, git) is stored under its git blob id, model.safetensors (LFS) under its sha256
    const config = hub.file('tiny/gpt2', 'config.json');
    const weights = hub.file('tiny/gpt2', 'model.safetensors');
    expect(fs.readdirSync(path.join(repo, 'blobs')).sort()).toEqual([config.gitBlobId, weights.sha256].sort());
    for (const [name, blob] of [['config.json', config.gitBlobId], ['model.safetensors', weights.sha256]]) {
      const link = path.join(pulled.dir, name);
      expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
      expect(fs.readlinkSync(link)).toBe(`../../blobs/${blob}`);
      expect(sameBytes(link, path.join(fixture('gpt2'), name))).toBe(true);
    }
    // cases.json and golden.safetensors are not part of a model: not fetched
    expect(hub.seen.some((s) => /cases\.json|golden/.test(s.url))).toBe(false);
    const last = progress[progress.length - 1];
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(last.bytesTotal).toBe(config.content.length + weights.content.length);
    // the snapshot opens like the fixture itself
    const a = await openModel(pulled.dir);
    const b = await openModel(fixture('gpt2'));
    expect(a.spec).toEqual(b.spec);
  });

  it('openModel takes a hub id, with the cache under HF_HOME', async () => {
    process.env.HF_HOME = tempDir('gf-hfhome');
    expect(hubCacheDir()).toBe(path.join(process.env.HF_HOME, 'hub'));
    const src = await openModel('tiny/gpt2');
    expect(src.path).toBe(path.join(process.env.HF_HOME, 'hub', 'models--tiny--gpt2', 'snapshots', gpt2Commit));
    expect(src.spec.family).toBe('gpt2');
    process.env.HF_HUB_CACHE = tempDir('gf-hubcache');
    expect(hubCacheDir()).toBe(process.env.HF_HUB_CACHE);
    expect(repoCacheDir('a/b')).toBe(path.join(process.env.HF_HUB_CACHE, 'models--a--b'));
  });

  it('a second pull transfers nothing (only the listing is asked for)', async () => {
    const cacheDir = tempDir('gf-hub');
    await pull('tiny/gpt2', { cacheDir });
    hub.seen.length = 0;
    await pull('tiny/gpt2', { cacheDir });
    expect(hub.seen.map((s) => s.url)).toEqual([`/api/models/tiny/gpt2/revision/main?blobs=true`]);
  });

  it('a sharded checkpoint: the index first, then exactly the shards it names', async () => {
    const cacheDir = tempDir('gf-hub');
    const pulled = await pull('tiny/llama3-sharded', { cacheDir });
    expect(pulled.commit).toBe(shardedCommit);
    expect(pulled.files.sort()).toEqual(['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors',
      'model.safetensors.index.json']);
    const src = await openModel(pulled.dir);
    expect(src.tensors.size).toBe(29);
  });

  it('files: fetches exactly the named files; a name the repo lacks is an input error', async () => {
    const cacheDir = tempDir('gf-hub');
    const pulled = await pull('tiny/gpt2', { cacheDir, files: ['cases.json'] });
    expect(pulled.files).toEqual(['cases.json']);
    expect(sameBytes(path.join(pulled.dir, 'cases.json'), path.join(fixture('gpt2'), 'cases.json'))).toBe(true);
    await expectCoded(pull('tiny/gpt2', { cacheDir, files: ['nope.json'] }), 'ERR_GPUFORMER_INPUT', /no file nope\.json/);
  });
});

describe('interrupted and damaged transfers', () => {
  it('resumes an interrupted transfer with a Range request', async () => {
    const cacheDir = tempDir('gf-hub');
    hub.faults.cut = { file: 'model.safetensors', bytes: 700_000, times: 1 };
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_INPUT', /model\.safetensors/, /interrupted/, /run the same pull again to resume/);
    const weights = hub.file('tiny/gpt2', 'model.safetensors');
    const partial = path.join(cacheDir, 'models--tiny--gpt2', 'blobs', `${weights.sha256}.incomplete`);
    const have = fs.statSync(partial).size;
    expect(have).toBeGreaterThan(0);
    expect(have).toBeLessThanOrEqual(700_000);

    hub.seen.length = 0;
    const pulled = await pull('tiny/gpt2', { cacheDir });
    const cdn = hub.seen.filter((s) => s.server === 'cdn');
    expect(cdn).toHaveLength(1);
    expect(cdn[0].range).toBe(`bytes=${have}-`);
    expect(fs.existsSync(partial)).toBe(false);
    expect(sameBytes(path.join(pulled.dir, 'model.safetensors'), path.join(fixture('gpt2'), 'model.safetensors'))).toBe(true);
  });

  it('a server that ignores the Range header: the transfer starts over and still ends right', async () => {
    const cacheDir = tempDir('gf-hub');
    hub.faults.cut = { file: 'model.safetensors', bytes: 300_000, times: 1 };
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_INPUT', /interrupted/);
    hub.faults.ignoreRange = true;
    const pulled = await pull('tiny/gpt2', { cacheDir });
    expect(hub.seen.filter((s) => s.server === 'cdn').pop()!.range).toMatch(/^bytes=\d+-$/);
    expect(sameBytes(path.join(pulled.dir, 'model.safetensors'), path.join(fixture('gpt2'), 'model.safetensors'))).toBe(true);
  });

  it('a size that disagrees with the listing is refused and not cached', async () => {
    const cacheDir = tempDir('gf-hub');
    hub.faults.sizeDelta = { file: 'model.safetensors', delta: 10 };
    const weights = hub.file('tiny/gpt2', 'model.safetensors');
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_BAD_WEIGHTS', /model\.safetensors/,
      new RegExp(`received ${weights.content.length} bytes, but the hub lists ${weights.content.length + 10}`));
    const blobs = fs.readdirSync(path.join(cacheDir, 'models--tiny--gpt2', 'blobs'));
    expect(blobs.some((b) => b.startsWith(weights.sha256))).toBe(false);
  });

  it('content whose sha256 disagrees with the listing is refused and not cached', async () => {
    const cacheDir = tempDir('gf-hub');
    hub.faults.wrongSha = 'model.safetensors';
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_BAD_WEIGHTS', /sha256 is [0-9a-f]{64}, the hub lists 0{64}/);
    const blobs = fs.readdirSync(path.join(cacheDir, 'models--tiny--gpt2', 'blobs'));
    expect(blobs.every((b) => !b.startsWith('0000'))).toBe(true);
    expect(blobs).toEqual([hub.file('tiny/gpt2', 'config.json').gitBlobId]);
  });
});

describe('offline, tokens, refusals', () => {
  it('HF_HUB_OFFLINE=1: a cached model opens with no request; an uncached one fails clearly', async () => {
    const cacheDir = tempDir('gf-hub');
    process.env.HF_HUB_OFFLINE = '1';
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_INPUT', /offline/, /HF_HUB_OFFLINE=1/, /not in the cache/);
    expect(hub.seen).toHaveLength(0);
    delete process.env.HF_HUB_OFFLINE;
    await pull('tiny/gpt2', { cacheDir });
    process.env.HF_HUB_OFFLINE = '1';
    hub.seen.length = 0;
    process.env.HF_HUB_CACHE = cacheDir;
    const src = await openModel('tiny/gpt2');
    expect(src.spec.family).toBe('gpt2');
    expect(hub.seen).toHaveLength(0);
    await expectCoded(pull('tiny/gpt2', { cacheDir, revision: 'v2' }), 'ERR_GPUFORMER_INPUT', /revision 'v2'/, /not in the cache/);
  });

  it('an unreachable hub falls back to the cache, and says so when it is not there', async () => {
    const cacheDir = tempDir('gf-hub');
    await pull('tiny/gpt2', { cacheDir });
    const dead = 'http://127.0.0.1:1';
    const pulled = await pull('tiny/gpt2', { cacheDir, endpoint: dead });
    expect(pulled.commit).toBe(gpt2Commit);
    await expectCoded(pull('tiny/llama3-sharded', { cacheDir, endpoint: dead }), 'ERR_GPUFORMER_INPUT', /cannot be reached/, /not in the cache/);
  });

  it('HF_TOKEN goes to the hub as a Bearer token, never to the CDN host', async () => {
    const cacheDir = tempDir('gf-hub');
    hub.faults.requireToken = 'hf_secret';
    await expectCoded(pull('tiny/gpt2', { cacheDir }), 'ERR_GPUFORMER_INPUT', /HTTP 401/, /HF_TOKEN/);
    process.env.HF_TOKEN = 'hf_secret';
    hub.seen.length = 0;
    await pull('tiny/gpt2', { cacheDir });
    const onHub = hub.seen.filter((s) => s.server === 'hub');
    const onCdn = hub.seen.filter((s) => s.server === 'cdn');
    expect(onHub.length).toBeGreaterThan(0);
    expect(onHub.every((s) => s.authorization === 'Bearer hf_secret')).toBe(true);
    expect(onCdn.length).toBe(1);
    expect(onCdn[0].authorization).toBeUndefined();
    // the option wins over the environment
    hub.faults.requireToken = 'other';
    await pull('tiny/gpt2', { cacheDir: tempDir('gf-hub'), token: 'other' });
  });

  it('an unknown model or revision is a 404 named as such', async () => {
    await expectCoded(pull('tiny/none', { cacheDir: tempDir('gf-hub') }), 'ERR_GPUFORMER_INPUT', /no model 'tiny\/none'/, /404/);
    await expectCoded(pull('tiny/gpt2', { cacheDir: tempDir('gf-hub'), revision: 'nope' }), 'ERR_GPUFORMER_INPUT', /revision 'nope'/);
  });

  it('a pickle-only repository is refused before downloading weights', async () => {
    const cacheDir = tempDir('gf-hub');
    await expectCoded(pull('tiny/pickle-only', { cacheDir }), 'ERR_GPUFORMER_UNSUPPORTED', /pytorch_model\.bin/, /safe_serialization=True/);
    expect(hub.seen.some((s) => s.url.includes('resolve'))).toBe(false);
  });

  it('hub ids versus paths', async () => {
    expect(isHubId('org/name')).toBe(true);
    expect(isHubId('HuggingFaceTB/SmolLM2-135M-Instruct')).toBe(true);
    for (const bad of ['name', 'a/b/c', '../x', 'org/..', '/abs/path', 'org/name.']) expect([bad, isHubId(bad)]).toEqual([bad, false]);
    await expectCoded(pull('../etc', {}), 'ERR_GPUFORMER_INPUT', /not a hub model id/);
    await expectCoded(pull('tiny/gpt2', { cacheDir: tempDir('gf-hub'), revision: '../../x' }), 'ERR_GPUFORMER_INPUT', /revision/);
  });
});
