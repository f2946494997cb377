/**
 * Reading the golden fixtures of ../shared/fixtures (see its README): cases.json (inputs) and
 * golden.safetensors (expected outputs, f32 / i32). The reader here handles only those two dtypes of a
 * trusted test file; model weights go through the real loader.
 */
import * as fs from 'fs';
import * as path from 'path';
import { SHARED_FIXTURES as FIXTURES } from '../../bench/e2e/paths';

// found from the repository root, so the bench scripts that reuse these helpers (compiled elsewhere) find them too
export { SHARED_FIXTURES as FIXTURES, SHARED_MODELS as MODELS } from '../../bench/e2e/paths';

export interface FixtureCase {
  name: string;
  input_ids: number[];
  token_type_ids?: number[];
  greedy_steps?: number;
  greedy_min_margin?: number;
}

/** A fixture's directory: a name under FIXTURES, or any directory in the same format (an absolute path). */
const fixtureDir = (fixture: string) => path.resolve(FIXTURES, fixture);

export function readCases(fixture: string): FixtureCase[] {
  return JSON.parse(fs.readFileSync(path.join(fixtureDir(fixture), 'cases.json'), 'utf8')).cases;
}

export type Golden = Map<string, Float32Array | Int32Array>;

export function readGolden(fixture: string): Golden {
  const buf = fs.readFileSync(path.join(fixtureDir(fixture), 'golden.safetensors'));
  const headerLen = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + headerLen).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  const base = 8 + headerLen;
  const out: Golden = new Map();
  for (const [name, t] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const bytes = buf.subarray(base + t.data_offsets[0], base + t.data_offsets[1]);
    const copy = new Uint8Array(bytes).buffer; // aligned copy
    if (t.dtype === 'F32') out.set(name, new Float32Array(copy));
    else if (t.dtype === 'I32') out.set(name, new Int32Array(copy));
    else throw new Error(`golden ${name}: unexpected dtype ${t.dtype}`);
  }
  return out;
}

export function goldenF32(g: Golden, name: string): Float32Array {
  const t = g.get(name);
  if (!(t instanceof Float32Array)) throw new Error(`golden has no f32 '${name}'`);
  return t;
}

export function goldenI32(g: Golden, name: string): number[] {
  const t = g.get(name);
  if (!(t instanceof Int32Array)) throw new Error(`golden has no i32 '${name}'`);
  return Array.from(t);
}

/** Hands out KV blocks in order, as a stand-in for the loop's block manager in runner-level tests. */
export class TestBlocks {
  private next = 0;
  constructor(readonly blockSize: number, readonly numBlocks: number) {}
  /** Block ids for a sequence that will hold `tokens` tokens. */
  take(tokens: number): number[] {
    const n = Math.ceil(tokens / this.blockSize);
    if (this.next + n > this.numBlocks) throw new Error(`TestBlocks: out of blocks (${this.numBlocks})`);
    const ids = Array.from({ length: n }, (_, i) => this.next + i);
    this.next += n;
    return ids;
  }
  reset(): void {
    this.next = 0;
  }
}
