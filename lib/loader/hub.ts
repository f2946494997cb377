/**
 * Hugging Face Hub downloads into the standard cache layout, so gpuformer, transformers and
 * huggingface_hub share one copy of every file:
 *
 *   $HF_HUB_CACHE (default $HF_HOME/hub, HF_HOME default ~/.cache/huggingface)
 *     models--org--name/
 *       blobs/<sha256 for LFS files | git blob id for the others>   the bytes, stored once
 *       snapshots/<commit>/<path>  →  ../../blobs/<…>               relative symlinks, one tree per commit
 *       refs/<revision>                                             the commit a branch or tag points at
 *
 * The file list comes from the hub API (/api/models/{id}/revision/{rev}?blobs=true), each file from
 * /{id}/resolve/{commit}/{path}. Honoured: HF_ENDPOINT (tests point it at a loopback server), HF_TOKEN
 * (Authorization: Bearer, never sent to another host after a redirect), HF_HUB_OFFLINE=1 (no network:
 * the cache or a clear error). A transfer writes blobs/<blob>.incomplete and is resumed with a Range
 * request after an interruption; every file's size is checked, and its content against the sha256 (LFS)
 * or git blob id the API lists, before it enters the cache.
 */
import { createHash, Hash } from 'crypto';
import { promises as fsp } from 'fs';
import * as http from 'http';
import * as https from 'https';
import * as os from 'os';
import * as path from 'path';
import { GpuformerError, badWeights, inputError, unsupported } from '../errors';

export interface DownloadProgress {
  /** the file being downloaded (path inside the repository) */
  file: string;
  /** bytes of all selected files present so far (cached ones count as done) */
  bytesDone: number;
  bytesTotal: number;
}

export interface PullOptions {
  /** branch, tag or commit; default 'main' */
  revision?: string;
  /** the hub cache directory; default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
  cacheDir?: string;
  /** access token; default $HF_TOKEN */
  token?: string;
  /** default $HF_ENDPOINT, else https://huggingface.co */
  endpoint?: string;
  /** no network, only the cache; default: $HF_HUB_OFFLINE is 1/true/yes */
  offline?: boolean;
  /**
   * exactly these files (paths in the repository, e.g. one quantization of a GGUF repo); default: what
   * openModel reads (config, safetensors weights, tokenizer, generation and sentence-transformers files)
   */
  files?: string[];
  onProgress?: (p: DownloadProgress) => void;
  signal?: AbortSignal;
}

export interface PulledModel {
  id: string;
  revision: string;
  commit: string;
  /** the snapshot directory: snapshots/<commit> */
  dir: string;
  /** the files pulled (paths inside the repository) */
  files: string[];
}

const HUB_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*\/[A-Za-z0-9_.-]+$/;

/** 'org/name' (what the hub calls a repo id); paths that exist on disk are never taken for one. */
export function isHubId(s: string): boolean {
  return HUB_ID.test(s) && !s.split('/').some((part) => part === '.' || part === '..' || part.endsWith('.'));
}

export function hubCacheDir(): string {
  if (process.env.HF_HUB_CACHE) return path.resolve(process.env.HF_HUB_CACHE);
  const home = process.env.HF_HOME ?? path.join(os.homedir(), '.cache', 'huggingface');
  return path.join(path.resolve(home), 'hub');
}

/** The cache folder of a repository: models--org--name */
export function repoCacheDir(id: string, cacheDir = hubCacheDir()): string {
  return path.join(cacheDir, `models--${id.split('/').join('--')}`);
}

const isOfflineEnv = () => ['1', 'true', 'yes', 'on'].includes((process.env.HF_HUB_OFFLINE ?? '').toLowerCase());
const COMMIT = /^[0-9a-f]{40}$/;

// ------------------------------------------------------------------------------------- HTTP

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  url: URL;
  body: http.IncomingMessage;
}

class NetworkError extends Error {}

/** GET/HEAD following redirects by hand, so the token never leaves the endpoint's origin. */
async function request(method: 'GET' | 'HEAD', url: URL, headers: Record<string, string>, token: string | undefined,
  signal?: AbortSignal, redirects = 10): Promise<Response> {
  const origin = url.origin;
  let current = url;
  for (let hop = 0; hop <= redirects; hop++) {
    const h = { ...headers, 'user-agent': 'gpuformer' } as Record<string, string>;
    if (token && current.origin === origin) h.authorization = `Bearer ${token}`;
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const lib = current.protocol === 'https:' ? https : http;
      const req = lib.request(current, { method, headers: h, signal }, resolve);
      req.on('error', (e) => reject(signal?.aborted ? aborted() : new NetworkError(`${method} ${current.href}: ${e.message}`)));
      req.end();
    });
    const status = res.statusCode ?? 0;
    if (status >= 300 && status < 400 && res.headers.location) {
      res.resume();
      current = new URL(res.headers.location, current);
      continue;
    }
    return { status, headers: res.headers, url: current, body: res };
  }
  throw new NetworkError(`${method} ${url.href}: more than ${redirects} redirects`);
}

const aborted = () => new GpuformerError('ERR_GPUFORMER_ABORTED', 'the download was aborted');

async function readBody(res: Response): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of res.body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function httpError(res: Response, id: string, revision: string, what: string): GpuformerError {
  if (res.status === 401 || res.status === 403) {
    return inputError(`${what}: the hub refused access to '${id}' (HTTP ${res.status}); for a private or gated model set ` +
      'HF_TOKEN to a token that may read it (and accept its license on the model page)');
  }
  if (res.status === 404) return inputError(`${what}: the hub has no model '${id}' at revision '${revision}' (HTTP 404)`);
  return inputError(`${what}: HTTP ${res.status} from ${res.url.href}`);
}

// ------------------------------------------------------------------------------------- listing

interface RemoteFile {
  path: string;
  size?: number;
  /** sha256 of LFS files, git blob id of the others: the blob's name in the cache */
  blob?: string;
  sha256?: string;
  gitBlobId?: string;
}

interface RepoListing {
  commit: string;
  files: RemoteFile[];
}

async function listRepo(endpoint: string, id: string, revision: string, token: string | undefined, signal?: AbortSignal): Promise<RepoListing> {
  const url = new URL(`${endpoint}/api/models/${id}/revision/${encodeURIComponent(revision)}?blobs=true`);
  const res = await request('GET', url, { accept: 'application/json' }, token, signal);
  const text = await readBody(res);
  if (res.status !== 200) throw httpError(res, id, revision, 'listing the files');
  let info: { sha?: unknown; siblings?: unknown };
  try {
    info = JSON.parse(text);
  } catch {
    throw inputError(`listing the files of '${id}': the hub answered with something other than JSON`);
  }
  if (typeof info.sha !== 'string' || !COMMIT.test(info.sha) || !Array.isArray(info.siblings)) {
    throw inputError(`listing the files of '${id}': the hub's answer has no commit sha or file list`);
  }
  const files: RemoteFile[] = [];
  for (const s of info.siblings as Array<Record<string, unknown>>) {
    if (typeof s.rfilename !== 'string') continue;
    const lfs = s.lfs as { sha256?: unknown; size?: unknown } | undefined;
    const sha256 = typeof lfs?.sha256 === 'string' ? lfs.sha256 : undefined;
    const gitBlobId = typeof s.blobId === 'string' ? s.blobId : undefined;
    const size = typeof lfs?.size === 'number' ? lfs.size : typeof s.size === 'number' ? s.size : undefined;
    files.push({ path: s.rfilename, size, sha256, gitBlobId: sha256 ? undefined : gitBlobId, blob: sha256 ?? gitBlobId });
  }
  return { commit: info.sha, files };
}

/** A repository path that stays inside the snapshot directory. */
function safeRepoPath(p: string): string {
  const parts = p.split('/');
  if (p.startsWith('/') || parts.some((x) => x === '' || x === '.' || x === '..') || p.includes('\\')) {
    throw inputError(`the hub listed a file path gpuformer will not write: '${p}'`);
  }
  return p;
}

const METADATA_FILES = new Set([
  'config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
  'chat_template.jinja', 'modules.json', 'sentence_bert_config.json', 'config_sentence_transformers.json',
  'model.safetensors.index.json',
]);
const POOLING_CONFIG = /^\d+_Pooling\/config\.json$/;
const PICKLE = /(^|\/)(pytorch_model.*\.bin|[^/]*\.(pt|pth|ckpt))$/;

/** The files openModel needs from a repository listing (weights decided from the index when sharded). */
function defaultSelection(id: string, files: RemoteFile[]): { metadata: RemoteFile[]; weights: RemoteFile[] | 'from-index' } {
  const metadata = files.filter((f) => METADATA_FILES.has(f.path) || POOLING_CONFIG.test(f.path));
  const names = new Set(files.map((f) => f.path));
  if (names.has('model.safetensors.index.json')) return { metadata, weights: 'from-index' };
  if (names.has('model.safetensors')) return { metadata, weights: files.filter((f) => f.path === 'model.safetensors') };
  const topLevel = files.filter((f) => !f.path.includes('/') && f.path.endsWith('.safetensors'));
  if (topLevel.length === 1) return { metadata, weights: topLevel };
  const gguf = files.filter((f) => f.path.endsWith('.gguf'));
  if (gguf.length === 1) return { metadata: [], weights: gguf };
  if (gguf.length > 1) {
    throw inputError(`'${id}' holds several GGUF files; choose one with the files option (CLI: --file): ` +
      gguf.map((f) => f.path).join(', '));
  }
  if (files.some((f) => PICKLE.test(f.path))) {
    throw unsupported(`'${id}' has only pickle weights (${files.filter((f) => PICKLE.test(f.path)).map((f) => f.path).join(', ')}); ` +
      'gpuformer reads safetensors and GGUF. Convert once with Python: python -c "from transformers import AutoModel; ' +
      `m = AutoModel.from_pretrained('${id}'); m.save_pretrained('converted', safe_serialization=True)"`);
  }
  throw inputError(`'${id}' has no weights gpuformer reads (model.safetensors, sharded safetensors or a .gguf file)`);
}

// ------------------------------------------------------------------------------------- download

/** Where each selected file will live in the cache, and what has to travel. */
class Downloader {
  private bytesDone = 0;
  private bytesTotal = 0;

  constructor(private readonly repoDir: string, private readonly endpoint: string, private readonly id: string,
    private readonly commit: string, private readonly token: string | undefined, private readonly opts: PullOptions) {}

  private blobPath(blob: string): string {
    return path.join(this.repoDir, 'blobs', blob);
  }

  async fetchAll(files: RemoteFile[]): Promise<void> {
    const resolved: Array<RemoteFile & { blob: string; size: number }> = [];
    for (const f of files) resolved.push(await this.describe(f));
    this.bytesTotal += resolved.reduce((a, f) => a + f.size, 0);
    for (const f of resolved) {
      await this.fetchOne(f);
      await this.link(f.path, f.blob);
    }
  }

  /** Size and blob name from the listing, else from the resolve endpoint's headers. */
  private async describe(f: RemoteFile): Promise<RemoteFile & { blob: string; size: number }> {
    if (f.blob !== undefined && f.size !== undefined) return f as RemoteFile & { blob: string; size: number };
    const res = await request('HEAD', this.resolveUrl(f.path), {}, this.token, this.opts.signal, 0);
    res.body.resume();
    if (res.status >= 400) throw httpError(res, this.id, this.commit, `fetching '${f.path}'`);
    const unquote = (v: string | string[] | undefined) => (typeof v === 'string' ? v.replace(/^W\//, '').replace(/"/g, '') : undefined);
    const blob = f.blob ?? unquote(res.headers['x-linked-etag']) ?? unquote(res.headers.etag);
    const size = f.size ?? Number(res.headers['x-linked-size'] ?? res.headers['content-length']);
    if (!blob || !Number.isSafeInteger(size)) throw inputError(`fetching '${f.path}' of '${this.id}': the hub gave no size or etag`);
    const sha256 = f.sha256 ?? (res.headers['x-linked-etag'] && /^[0-9a-f]{64}$/.test(blob) ? blob : undefined);
    return { ...f, blob, size, sha256 };
  }

  resolveUrl(file: string): URL {
    return new URL(`${this.endpoint}/${this.id}/resolve/${this.commit}/${file.split('/').map(encodeURIComponent).join('/')}`);
  }

  private progress(file: string): void {
    this.opts.onProgress?.({ file, bytesDone: this.bytesDone, bytesTotal: this.bytesTotal });
  }

  private async fetchOne(f: RemoteFile & { blob: string; size: number }): Promise<void> {
    const final = this.blobPath(f.blob);
    const have = await fsp.stat(final).catch(() => null);
    if (have && have.size === f.size) {
      this.bytesDone += f.size;
      this.progress(f.path);
      return;
    }
    await fsp.mkdir(path.dirname(final), { recursive: true });
    const partial = `${final}.incomplete`;
    let offset = (await fsp.stat(partial).catch(() => null))?.size ?? 0;
    if (offset > f.size) offset = 0;

    const res = await request('GET', this.resolveUrl(f.path), offset > 0 ? { range: `bytes=${offset}-` } : {}, this.token, this.opts.signal);
    if (res.status === 416 && offset === f.size) {
      res.body.resume(); // the partial file is already whole: only the check is left
    } else if (res.status === 206 && offset > 0 && String(res.headers['content-range'] ?? '').startsWith(`bytes ${offset}-`)) {
      // resuming
    } else if (res.status === 200) {
      offset = 0;
    } else {
      res.body.resume();
      throw httpError(res, this.id, this.commit, `downloading '${f.path}'`);
    }

    const hash = f.sha256 ? createHash('sha256') : f.gitBlobId ? gitBlobHash(f.size) : null;
    if (hash && offset > 0) await hashFile(partial, hash);
    this.bytesDone += offset;
    const fh = await fsp.open(partial, offset > 0 ? 'a' : 'w');
    let written = offset;
    try {
      if (res.status !== 416) {
        for await (const chunk of res.body) {
          const b = chunk as Buffer;
          await fh.write(b);
          hash?.update(b);
          written += b.length;
          this.bytesDone += b.length;
          this.progress(f.path);
        }
      }
    } catch (e) {
      if (this.opts.signal?.aborted) throw aborted();
      throw inputError(`downloading '${f.path}' of '${this.id}' was interrupted after ${written} of ${f.size} bytes ` +
        `(${(e as Error).message}); run the same pull again to resume`);
    } finally {
      await fh.close();
    }
    if (!res.body.complete && res.status !== 416) {
      throw inputError(`downloading '${f.path}' of '${this.id}' was interrupted after ${written} of ${f.size} bytes; ` +
        'run the same pull again to resume');
    }
    if (written !== f.size) {
      await fsp.rm(partial, { force: true });
      throw badWeights(`downloading '${f.path}' of '${this.id}': received ${written} bytes, but the hub lists ${f.size}`);
    }
    if (hash) {
      const digest = hash.digest('hex');
      const want = f.sha256 ?? f.gitBlobId!;
      if (digest !== want) {
        await fsp.rm(partial, { force: true });
        throw badWeights(`downloading '${f.path}' of '${this.id}': its ${f.sha256 ? 'sha256' : 'git blob id'} is ${digest}, ` +
          `the hub lists ${want} (the transfer was corrupted; run the pull again)`);
      }
    }
    await fsp.rename(partial, final);
    this.progress(f.path);
  }

  /** snapshots/<commit>/<file> → relative symlink to the blob */
  private async link(file: string, blob: string): Promise<void> {
    const link = path.join(this.repoDir, 'snapshots', this.commit, file);
    await fsp.mkdir(path.dirname(link), { recursive: true });
    await fsp.rm(link, { force: true });
    await fsp.symlink(path.relative(path.dirname(link), this.blobPath(blob)), link);
  }
}

/** git's blob id: sha1 over "blob <size>\0" and the content. */
function gitBlobHash(size: number): Hash {
  const h = createHash('sha1');
  h.update(`blob ${size}\0`);
  return h;
}

async function hashFile(file: string, hash: Hash): Promise<void> {
  const fh = await fsp.open(file, 'r');
  try {
    for await (const chunk of fh.createReadStream()) hash.update(chunk as Buffer);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

// ------------------------------------------------------------------------------------- pull

/** The snapshot of a revision in the cache, if it is there (offline use). */
async function cachedSnapshot(repoDir: string, revision: string): Promise<string | undefined> {
  let commit = COMMIT.test(revision) ? revision : undefined;
  if (!commit) {
    const ref = await fsp.readFile(path.join(repoDir, 'refs', revision), 'utf8').catch(() => undefined);
    commit = ref?.trim();
  }
  if (!commit) return undefined;
  const dir = path.join(repoDir, 'snapshots', commit);
  return (await fsp.stat(dir).catch(() => null))?.isDirectory() ? commit : undefined;
}

async function listSnapshot(dir: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...(await listSnapshot(dir, rel)));
    else out.push(rel);
  }
  return out;
}

async function fromCache(id: string, revision: string, repoDir: string, files: string[] | undefined, why: string): Promise<PulledModel> {
  const commit = await cachedSnapshot(repoDir, revision);
  if (!commit) throw inputError(`${why}, and '${id}' (revision '${revision}') is not in the cache at ${repoDir}`);
  const dir = path.join(repoDir, 'snapshots', commit);
  const present = await listSnapshot(dir);
  const missing = (files ?? []).filter((f) => !present.includes(f));
  if (missing.length > 0) throw inputError(`${why}, and the cached snapshot of '${id}' lacks ${missing.join(', ')}`);
  if (!files && !present.includes('config.json') && !present.some((f) => f.endsWith('.gguf'))) {
    throw inputError(`${why}, and the cached snapshot of '${id}' at ${dir} has neither config.json nor a .gguf file`);
  }
  return { id, revision, commit, dir, files: files ?? present };
}

/** A repository as listed at a revision, ready to fetch from; or, offline or unreachable, its cached snapshot. */
interface OpenedRepo {
  id: string;
  revision: string;
  repoDir: string;
  listing: RepoListing;
  byPath: Map<string, RemoteFile>;
  dl: Downloader;
  endpoint: string;
  token: string | undefined;
  /** the files asked for (PullOptions.files), checked to be safe paths */
  files?: string[];
}

async function openRepo(id: string, opts: PullOptions): Promise<OpenedRepo | PulledModel> {
  if (!isHubId(id)) throw inputError(`'${id}' is not a hub model id (expected 'org/name')`);
  const revision = opts.revision ?? 'main';
  if (revision === '' || revision.split('/').some((x) => x === '' || x === '.' || x === '..')) {
    throw inputError(`revision '${revision}' is not a branch, tag or commit name`);
  }
  const repoDir = repoCacheDir(id, opts.cacheDir ? path.resolve(opts.cacheDir) : hubCacheDir());
  const offline = opts.offline ?? isOfflineEnv();
  const files = opts.files?.map(safeRepoPath);
  if (offline) return fromCache(id, revision, repoDir, files, 'offline mode (HF_HUB_OFFLINE=1) allows no download');

  const endpoint = (opts.endpoint ?? process.env.HF_ENDPOINT ?? 'https://huggingface.co').replace(/\/+$/, '');
  const token = opts.token ?? process.env.HF_TOKEN ?? undefined;
  let listing: RepoListing;
  try {
    listing = await listRepo(endpoint, id, revision, token, opts.signal);
  } catch (e) {
    if (e instanceof NetworkError) return fromCache(id, revision, repoDir, files, `the hub at ${endpoint} cannot be reached (${e.message})`);
    throw e;
  }
  const byPath = new Map(listing.files.map((f) => [safeRepoPath(f.path), f]));
  const dl = new Downloader(repoDir, endpoint, id, listing.commit, token, opts);
  return { id, revision, repoDir, listing, byPath, dl, endpoint, token, files };
}

/** The weight files openModel reads: the shards a downloaded index names, or the one file the listing shows. */
async function weightFiles(r: OpenedRepo, weights: RemoteFile[] | 'from-index'): Promise<RemoteFile[]> {
  if (weights !== 'from-index') return weights;
  const index = JSON.parse(await fsp.readFile(path.join(r.repoDir, 'snapshots', r.listing.commit, 'model.safetensors.index.json'), 'utf8'));
  const shards = [...new Set(Object.values((index.weight_map ?? {}) as Record<string, string>))];
  const missing = shards.filter((s) => !r.byPath.has(s));
  if (missing.length > 0) throw badWeights(`'${r.id}': model.safetensors.index.json names shards the repository lacks: ${missing.join(', ')}`);
  return shards.map((s) => r.byPath.get(s)!);
}

/** Records which commit a branch or tag name pointed at, and describes the snapshot. */
async function snapshot(r: OpenedRepo, files: string[]): Promise<PulledModel> {
  if (r.revision !== r.listing.commit) {
    const ref = path.join(r.repoDir, 'refs', r.revision);
    await fsp.mkdir(path.dirname(ref), { recursive: true });
    await fsp.writeFile(ref, r.listing.commit);
  }
  return { id: r.id, revision: r.revision, commit: r.listing.commit, dir: path.join(r.repoDir, 'snapshots', r.listing.commit), files };
}

/**
 * Downloads a model from the hub into the cache (only what is missing) and returns its snapshot directory.
 * Offline (HF_HUB_OFFLINE=1 or opts.offline): returns the cached snapshot or fails saying it is not cached.
 * When the hub cannot be reached at all, a cached snapshot is used as well.
 */
export async function pull(id: string, opts: PullOptions = {}): Promise<PulledModel> {
  const r = await openRepo(id, opts);
  if (!('listing' in r)) return r;
  let selected: RemoteFile[];
  if (r.files) {
    const missing = r.files.filter((f) => !r.byPath.has(f));
    if (missing.length > 0) throw inputError(`'${id}' at '${r.revision}' has no file ${missing.join(', ')}`);
    selected = r.files.map((f) => r.byPath.get(f)!);
    await r.dl.fetchAll(selected);
  } else {
    const { metadata, weights } = defaultSelection(id, r.listing.files);
    await r.dl.fetchAll(metadata);
    const w = await weightFiles(r, weights);
    await r.dl.fetchAll(w);
    selected = [...metadata, ...w];
  }
  return snapshot(r, selected.map((f) => f.path));
}

/** A repository's weight file, not downloaded: where it is, its size, and a reader of its bytes by range. */
export interface RemoteWeightFile {
  /** path inside the repository */
  path: string;
  url: string;
  size: number;
  /** bytes [start, end) of the file, by an HTTP range request (only those bytes are read) */
  read(start: number, end: number): Promise<Buffer>;
}

export interface DescribedModel extends PulledModel {
  /** the weight files openModel would download (absent when the description came from the cache) */
  weights?: RemoteWeightFile[];
}

/**
 * A repository described for planning without downloading its weights (gpuformer inspect): its metadata
 * files (config, tokenizer, sharded index, sentence-transformers files) pulled into the cache, and its weight
 * files listed with their sizes and a reader of byte ranges, so their safetensors or GGUF headers can be read
 * and nothing else. Offline or when the hub cannot be reached: the cached snapshot, without `weights`.
 */
export async function describeRemote(id: string, opts: PullOptions = {}): Promise<DescribedModel> {
  const r = await openRepo(id, opts);
  if (!('listing' in r)) return r;
  const { metadata, weights } = defaultSelection(id, r.listing.files);
  await r.dl.fetchAll(metadata);
  const files = await weightFiles(r, weights);
  const described = files.map((f): RemoteWeightFile => {
    const url = r.dl.resolveUrl(f.path);
    if (f.size === undefined) throw inputError(`'${id}': the hub lists no size for '${f.path}'`);
    return { path: f.path, url: url.href, size: f.size, read: (start, end) => readRange(url, start, end, r.token, opts.signal) };
  });
  return { ...(await snapshot(r, metadata.map((f) => f.path))), weights: described };
}

/**
 * Bytes [start, end) of a remote file by an HTTP range request. A server that ignores the range and sends
 * the whole file is read only up to `end`, then the connection is dropped: never more than asked is fetched.
 */
async function readRange(url: URL, start: number, end: number, token: string | undefined, signal?: AbortSignal): Promise<Buffer> {
  const res = await request('GET', url, { range: `bytes=${start}-${end - 1}` }, token, signal);
  if (res.status !== 206 && res.status !== 200) {
    res.body.resume();
    throw inputError(`reading bytes ${start}-${end - 1} of ${url.pathname}: HTTP ${res.status} from ${res.url.href}`);
  }
  const skip = res.status === 206 ? 0 : start;
  if (res.status === 206 && !String(res.headers['content-range'] ?? '').startsWith(`bytes ${start}-`)) {
    res.body.destroy();
    throw inputError(`reading bytes ${start}-${end - 1} of ${url.pathname}: the server answered with range ${String(res.headers['content-range'])}`);
  }
  const chunks: Buffer[] = [];
  let got = 0;
  try {
    for await (const chunk of res.body) {
      chunks.push(chunk as Buffer);
      got += (chunk as Buffer).length;
      if (got >= skip + end - start) break; // the rest is not wanted
    }
  } finally {
    res.body.destroy();
  }
  const all = Buffer.concat(chunks);
  if (all.length < skip + end - start) {
    throw inputError(`reading bytes ${start}-${end - 1} of ${url.pathname}: the server sent ${Math.max(0, all.length - skip)} of them`);
  }
  return all.subarray(skip, skip + end - start);
}
