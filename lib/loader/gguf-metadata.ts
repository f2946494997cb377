/**
 * Typed, checked access to GGUF metadata: each getter names the key and what it found when the stored value
 * has the wrong type, so a malformed file fails with ERR_GPUFORMER_BAD_WEIGHTS saying where.
 */
import { badWeights } from '../errors';
import type { GgufFile, GgufValue } from './gguf-reader';

export class GgufMeta {
  readonly path: string;

  constructor(private readonly file: Pick<GgufFile, 'path' | 'metadata' | 'metadataTypes'>) {
    this.path = file.path;
  }

  has(key: string): boolean {
    return this.file.metadata.has(key);
  }

  raw(key: string): GgufValue | undefined {
    return this.file.metadata.get(key);
  }

  string(key: string): string | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') throw badWeights(`${this.file.path}: metadata '${key}' should be a string, found ${this.typeOf(key)}`);
    return v;
  }

  /** A non-negative integer of any integer type. */
  uint(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const type = this.typeOf(key);
    if (typeof v !== 'number' || !/int/.test(type) || !Number.isSafeInteger(v) || v < 0) {
      throw badWeights(`${this.file.path}: metadata '${key}' should be a non-negative integer, found ${type} ${String(v)}`);
    }
    return v;
  }

  requiredUint(key: string, min = 1): number {
    const v = this.uint(key);
    if (v === undefined) throw badWeights(`${this.file.path}: metadata '${key}' is missing`);
    if (v < min) throw badWeights(`${this.file.path}: metadata '${key}' is ${v}, expected at least ${min}`);
    return v;
  }

  /** A float (float32 values as the decimal they were written from: 1e-5, not 9.99999974e-6). */
  float(key: string): number | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const type = this.typeOf(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw badWeights(`${this.file.path}: metadata '${key}' should be a finite number, found ${type} ${String(v)}`);
    }
    return type === 'float32' ? shortestFloat32(v) : v;
  }

  bool(key: string): boolean | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'boolean') throw badWeights(`${this.file.path}: metadata '${key}' should be a bool, found ${this.typeOf(key)}`);
    return v;
  }

  /** An array of strings. */
  strings(key: string): string[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    if (this.typeOf(key) !== 'array[string]') {
      throw badWeights(`${this.file.path}: metadata '${key}' should be an array of strings, found ${this.typeOf(key)}`);
    }
    return v as string[];
  }

  /** An array of integers (any integer element type). */
  integers(key: string): number[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const type = this.typeOf(key);
    if (!/^array\[u?int(8|16|32|64)\]$/.test(type) || (v as GgufValue[]).some((x) => typeof x !== 'number')) {
      throw badWeights(`${this.file.path}: metadata '${key}' should be an array of integers, found ${type}`);
    }
    return v as number[];
  }

  /** An array of floats (float32 or float64 elements). */
  floats(key: string): number[] | undefined {
    const v = this.raw(key);
    if (v === undefined) return undefined;
    const type = this.typeOf(key);
    if (type !== 'array[float32]' && type !== 'array[float64]') {
      throw badWeights(`${this.file.path}: metadata '${key}' should be an array of floats, found ${type}`);
    }
    return v as number[];
  }

  typeOf(key: string): string {
    return this.file.metadataTypes.get(key) ?? 'nothing';
  }
}

/** EOS plus the end-of-turn / end-of-message tokens newer conversions record (lib/loader/end-of-generation.ts adds the rest). */
export function ggufEosIds(meta: GgufMeta): number[] {
  const ids: number[] = [];
  for (const key of ['tokenizer.ggml.eos_token_id', 'tokenizer.ggml.eot_token_id', 'tokenizer.ggml.eom_token_id']) {
    const id = meta.uint(key);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  }
  return ids;
}

/** The shortest decimal that rounds to the same float32. */
function shortestFloat32(v: number): number {
  for (let digits = 1; digits <= 9; digits++) {
    const d = Number(v.toPrecision(digits));
    if (Math.fround(d) === v) return d;
  }
  return v;
}

