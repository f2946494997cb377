/**
 * Fixtures generated at test time: safetensors files written byte by byte (optionally with a damaged
 * header), temporary model directories built from the shared fixtures (symlinked weights, edited
 * configs), and a check that a piece of work leaves no device bytes allocated.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GpuformerError } from '../../lib/errors';
import { native } from '../../lib/native';

export const SHARED = path.resolve(__dirname, '../../../shared');
export const FIXTURES = path.join(SHARED, 'fixtures');
export const MODELS = path.join(SHARED, 'models');
export const fixture = (name: string) => path.join(FIXTURES, name);
export const GGUF_FILE = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');

const created: string[] = [];

/** A fresh temporary directory, removed by removeTempDirs() (call it in afterAll). */
export function tempDir(tag = 'gf-loader'): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), `${tag}-`));
  created.push(d);
  return d;
}

export function removeTempDirs(): void {
  for (const d of created.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

export interface CraftedTensor {
  name: string;
  dtype: string;
  shape: number[];
  /** raw bytes; default: bytes 0, 1, 2, … of the right length */
  data?: Uint8Array;
  /** override the header's data_offsets (to craft broken files) */
  offsets?: [number, number];
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, I8: 1, I32: 4, I64: 8, F64: 8, BOOL: 1, F8_E4M3: 1, U8: 1 };

/** The bytes of a safetensors file; `headerOverride` replaces the JSON text, `lengthOverride` the length field. */
export function safetensorsBytes(tensors: CraftedTensor[], o: { metadata?: Record<string, string>; headerOverride?: string;
  lengthOverride?: bigint } = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (o.metadata) header.__metadata__ = o.metadata;
  const chunks: Buffer[] = [];
  let at = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[t.dtype] ?? 1);
    const data = t.data ? Buffer.from(t.data) : Buffer.from(Array.from({ length: n }, (_, i) => i & 255));
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: t.offsets ?? [at, at + data.length] };
    chunks.push(data);
    at += data.length;
  }
  const json = Buffer.from(o.headerOverride ?? JSON.stringify(header), 'utf8');
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(o.lengthOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, ...chunks]);
}

export function writeSafetensors(file: string, tensors: CraftedTensor[], o?: Parameters<typeof safetensorsBytes>[1]): string {
  fs.writeFileSync(file, safetensorsBytes(tensors, o));
  return file;
}

/**
 * A temporary copy of a fixture directory: every file symlinked except those in `replace` (written with
 * the given content; null removes the file). The shared fixtures are read-only and never touched.
 */
export function fixtureCopy(source: string, replace: Record<string, string | Buffer | null> = {}): string {
  const dir = tempDir('gf-fixture');
  const copy = (from: string, to: string) => {
    for (const e of fs.readdirSync(from, { withFileTypes: true })) {
      const f = path.join(from, e.name);
      const t = path.join(to, e.name);
      if (e.isDirectory()) {
        fs.mkdirSync(t);
        copy(f, t);
      } else {
        fs.symlinkSync(f, t);
      }
    }
  };
  copy(source, dir);
  for (const [name, content] of Object.entries(replace)) {
    const f = path.join(dir, name);
    fs.rmSync(f, { force: true });
    if (content !== null) {
      fs.mkdirSync(path.dirname(f), { recursive: true });
      fs.writeFileSync(f, content);
    }
  }
  return dir;
}

export function readJson(file: string): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/** Expects `work` to reject with a GpuformerError of `code` whose message matches every pattern. */
export async function expectCoded(work: Promise<unknown> | (() => unknown), code: string, ...patterns: Array<string | RegExp>): Promise<GpuformerError> {
  let error: unknown;
  try {
    await (typeof work === 'function' ? work() : work);
  } catch (e) {
    error = e;
  }
  if (!(error instanceof GpuformerError)) throw new Error(`expected a GpuformerError ${code}, got ${String(error)}`);
  expect(error.code).toBe(code);
  for (const p of patterns) expect(error.message).toMatch(p);
  return error;
}

export const liveCpuBytes = () => {
  const t = native.memoryTotals('cpu');
  return t.weights + t.kv + t.workspace + t.activations + t.other;
};
