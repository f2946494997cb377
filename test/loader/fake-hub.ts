/**
 * A loopback stand-in for the Hugging Face Hub, serving model directories from ../shared/fixtures the way
 * the hub does: the file list at /api/models/{id}/revision/{rev}?blobs=true (git blob ids, LFS sha256 and
 * sizes), small files at /{id}/resolve/{commit}/{path}, and LFS files through a 302 to a second server (a
 * different origin, like the hub's CDN) that honours Range requests (open 'bytes=a-' and closed 'bytes=a-b'),
 * and records which bytes of each file it sent. Faults are switched on per test: a transfer cut after some
 * bytes, a wrong size or hash in the listing, a token requirement.
 */
import { createHash } from 'crypto';
import * as fs from 'fs';
import * as http from 'http';
import type { AddressInfo } from 'net';
import * as path from 'path';

export interface ServedFile {
  path: string;
  content: Buffer;
  lfs: boolean;
  gitBlobId: string;
  sha256: string;
}

export interface Faults {
  /** the API and resolve endpoints answer 401 unless this token comes as Bearer */
  requireToken?: string;
  /** cut the body of this file after `bytes` bytes, `times` times */
  cut?: { file: string; bytes: number; times: number };
  /** list this file's size off by this many bytes */
  sizeDelta?: { file: string; delta: number };
  /** list a wrong sha256 for this (LFS) file */
  wrongSha?: string;
  /** answer Range requests with the whole file (200), as some servers do */
  ignoreRange?: boolean;
}

export interface Seen {
  server: 'hub' | 'cdn';
  method: string;
  url: string;
  authorization?: string;
  range?: string;
  /** the file served and the bytes [start, end) of it the response carried (for GET answers with a body) */
  sent?: { file: string; start: number; end: number };
}

const gitBlobId = (b: Buffer) => createHash('sha1').update(`blob ${b.length}\0`).update(b).digest('hex');

function walk(dir: string, prefix = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, prefix), { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...walk(dir, rel));
    else out.push(rel);
  }
  return out;
}

export class FakeHub {
  readonly seen: Seen[] = [];
  faults: Faults = {};
  private readonly repos = new Map<string, { commit: string; files: Map<string, ServedFile> }>();
  private hub?: http.Server;
  private cdn?: http.Server;
  endpoint = '';
  private cdnUrl = '';

  /** Serves `dir` as repository `id` at a fixed commit; files over 1 kB (and *.safetensors) are LFS. */
  addRepo(id: string, dir: string, extra: Record<string, Buffer> = {}): string {
    const files = new Map<string, ServedFile>();
    const add = (p: string, content: Buffer) => files.set(p, {
      path: p, content, lfs: p.endsWith('.safetensors') || p.endsWith('.bin') || content.length > 1024,
      gitBlobId: gitBlobId(content), sha256: createHash('sha256').update(content).digest('hex'),
    });
    for (const p of walk(dir)) add(p, fs.readFileSync(path.join(dir, p)));
    for (const [p, c] of Object.entries(extra)) add(p, c);
    const commit = createHash('sha1').update(id).digest('hex');
    this.repos.set(id, { commit, files });
    return commit;
  }

  file(id: string, p: string): ServedFile {
    return this.repos.get(id)!.files.get(p)!;
  }

  async start(): Promise<void> {
    this.hub = http.createServer((q, r) => this.onHub(q, r));
    this.cdn = http.createServer((q, r) => this.onCdn(q, r));
    const listen = (s: http.Server) => new Promise<string>((res) => s.listen(0, '127.0.0.1', () => res(`http://127.0.0.1:${(s.address() as AddressInfo).port}`)));
    this.endpoint = await listen(this.hub);
    this.cdnUrl = await listen(this.cdn);
  }

  async stop(): Promise<void> {
    for (const s of [this.hub, this.cdn]) {
      s?.closeAllConnections();
      await new Promise((res) => s?.close(res));
    }
  }

  private record(server: 'hub' | 'cdn', q: http.IncomingMessage): Seen {
    const s: Seen = { server, method: q.method ?? '', url: q.url ?? '', authorization: q.headers.authorization, range: q.headers.range };
    this.seen.push(s);
    return s;
  }

  private onHub(q: http.IncomingMessage, r: http.ServerResponse): void {
    const seen = this.record('hub', q);
    const url = new URL(q.url ?? '/', this.endpoint);
    if (this.faults.requireToken && q.headers.authorization !== `Bearer ${this.faults.requireToken}`) {
      r.writeHead(401, { 'content-type': 'application/json' }).end('{"error":"Invalid credentials"}');
      return;
    }
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/revision\/([^/]+)$/.exec(url.pathname);
    if (api) return this.listing(decodeURIComponent(api[1]), decodeURIComponent(api[2]), r);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = this.repos.get(resolve[1]);
      const f = repo?.files.get(decodeURIComponent(resolve[3]));
      if (!repo || !f || (resolve[2] !== repo.commit && resolve[2] !== 'main')) {
        r.writeHead(404).end('Entry not found');
        return;
      }
      if (f.lfs) {
        r.writeHead(302, {
          location: `${this.cdnUrl}/blobs/${f.sha256}`, 'x-linked-etag': `"${f.sha256}"`, 'x-linked-size': String(f.content.length),
          'x-repo-commit': repo.commit,
        }).end();
        return;
      }
      this.serve(f, q, r, { etag: `"${f.gitBlobId}"`, 'x-repo-commit': repo.commit }, seen);
      return;
    }
    r.writeHead(404).end();
  }

  private listing(id: string, rev: string, r: http.ServerResponse): void {
    const repo = this.repos.get(id);
    if (!repo || (rev !== 'main' && rev !== repo.commit)) {
      r.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"Repository not found"}');
      return;
    }
    const siblings = [...repo.files.values()].map((f) => {
      const size = f.content.length + (this.faults.sizeDelta?.file === f.path ? this.faults.sizeDelta.delta : 0);
      const sha256 = this.faults.wrongSha === f.path ? '0'.repeat(64) : f.sha256;
      return { rfilename: f.path, size, blobId: f.gitBlobId, ...(f.lfs ? { lfs: { sha256, size, pointerSize: 134 } } : {}) };
    });
    r.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ id, sha: repo.commit, siblings }));
  }

  private onCdn(q: http.IncomingMessage, r: http.ServerResponse): void {
    const seen = this.record('cdn', q);
    const m = /^\/blobs\/([0-9a-f]{64})$/.exec(q.url ?? '');
    const f = m && [...this.repos.values()].flatMap((x) => [...x.files.values()]).find((x) => x.sha256 === m[1]);
    if (!f) {
      r.writeHead(404).end();
      return;
    }
    this.serve(f, q, r, {}, seen);
  }

  /** The bytes of a file, or of the range asked for; cut short when a fault says so. */
  private serve(f: ServedFile, q: http.IncomingMessage, r: http.ServerResponse, headers: Record<string, string>, seen: Seen): void {
    const range = this.faults.ignoreRange ? null : /^bytes=(\d+)-(\d*)$/.exec(q.headers.range ?? '');
    const start = range ? Number(range[1]) : 0;
    const end = range && range[2] !== '' ? Math.min(Number(range[2]) + 1, f.content.length) : f.content.length;
    if (start > f.content.length || (range && start >= end)) {
      r.writeHead(416, { 'content-range': `bytes */${f.content.length}` }).end();
      return;
    }
    const body = f.content.subarray(start, end);
    r.writeHead(range ? 206 : 200, {
      ...headers, 'content-length': String(body.length), 'accept-ranges': 'bytes',
      ...(range ? { 'content-range': `bytes ${start}-${end - 1}/${f.content.length}` } : {}),
    });
    if (q.method === 'HEAD') {
      r.end();
      return;
    }
    seen.sent = { file: f.path, start, end };
    const cut = this.faults.cut;
    if (cut && cut.file === f.path && cut.times > 0) {
      cut.times--;
      r.write(body.subarray(0, cut.bytes), () => setTimeout(() => r.socket?.destroy(), 20));
      return;
    }
    r.end(body);
  }
}

/** The environment variables the hub client reads. */
export const HUB_ENV = ['HF_ENDPOINT', 'HF_TOKEN', 'HF_HOME', 'HF_HUB_CACHE', 'HF_HUB_OFFLINE'] as const;

/**
 * Points the hub client at the fake hub for every test of the file (HF_ENDPOINT set, the other HUB_ENV
 * variables cleared, faults and records reset) and gives the environment back after each.
 */
export function useFakeHub(hub: () => FakeHub): void {
  const saved = Object.fromEntries(HUB_ENV.map((k) => [k, process.env[k]]));
  beforeEach(() => {
    for (const k of HUB_ENV) delete process.env[k];
    process.env.HF_ENDPOINT = hub().endpoint;
    hub().faults = {};
    hub().seen.length = 0;
  });
  afterEach(() => {
    for (const k of HUB_ENV) {
      if (saved[k] === undefined) delete process.env[k];
      else process.env[k] = saved[k];
    }
  });
}
