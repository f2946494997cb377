/**
 * The options of the public Engine (DESIGN section 7): what Engine.load, generate() and embed() take, each
 * option's check and default written once. The Engine resolves a caller's options here, at its edge, before
 * any work starts: a bad value is an ERR_GPUFORMER_INPUT naming the option and the value. The HTTP server
 * reads the same options from OpenAI request bodies through the same entries (`field` names the body field,
 * lib/server/validate.ts), so the server and the Engine can never disagree about what a value may be. The
 * floors below the Engine take resolved values and only assert what they rely on (lib/core/checks.ts).
 *
 * Adding a request option: declare it (with its doc) in GenerateOptions or EmbedOptions, give it an entry
 * in GENERATE_OPTIONS or EMBED_OPTIONS (the compiler insists on one per declared option), read the resolved
 * value where it takes effect, and set `field` when the OpenAI / vLLM request body carries it.
 */
import { inputError, shown as show } from '../errors';
import { checkPooling, checkPositiveInt } from '../core/checks';
import type { ModelSource } from '../core/source';
import type { KvCacheShape, PoolingMode, StepBudget } from '../core/step';
import type { MemoryBudgetOptions } from '../memory/planner';
import { DTYPE_CHOICES, DtypeChoice } from '../models/precision';

export type DeviceOption = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type DtypeOption = DtypeChoice;

/** 'auto', 'cpu', 'cuda' or 'cuda:N' */
export const DEVICE_OPTION = /^(auto|cpu|cuda(:\d+)?)$/;

export interface LoadProgress {
  /** 'download' (hub ids), 'weights' (reading and converting tensors onto the device) */
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}

/**
 * Engine.load's options. The step budgets (maxModelLen, maxNumBatchedTokens, maxNumSeqs: lib/core/step.ts),
 * the KV block size and the memory budget (gpuMemoryUtilization, memoryBudgetBytes: lib/memory/planner.ts)
 * are declared where they are decided; each defaults to what the planner picks for the model and device.
 */
export interface LoadOptions extends Partial<StepBudget>, Partial<Pick<KvCacheShape, 'blockSize'>>,
  Omit<MemoryBudgetOptions, 'deviceTotalBytes'> {
  /** 'auto' (default): the first CUDA device when one is usable, else the CPU */
  device?: DeviceOption;
  /**
   * 'auto' (default): on the CPU activations are f32 and float weights stay as stored (f16/bf16 are read
   * directly), GGUF blocks stay quantized; on CUDA the checkpoint's f16/bf16, else f16. 'float32'
   * dequantizes and widens everything to f32; 'float16' / 'bfloat16' store float weights in that type.
   */
  dtype?: DtypeOption;
  onProgress?: (p: LoadProgress) => void;
}

export interface GenerateOptions {
  /** most tokens to generate; default 256, never past maxModelLen */
  maxTokens?: number;
  /** 0 (default): greedy; > 0: sampling at this temperature */
  temperature?: number;
  /** keep the k most likely tokens (0: off) */
  topK?: number;
  /** nucleus sampling: keep the smallest set of tokens whose probability reaches p (1: off) */
  topP?: number;
  /** same seed, same tokens; default: a random seed per request */
  seed?: number | bigint;
  /** stop strings: generation ends before the first occurrence, which is not part of the text */
  stop?: string | string[];
  /** token ids that end the generation (besides the model's EOS); the id is the last one returned */
  stopTokenIds?: number[];
  /** keep generating past the model's EOS / end-of-turn tokens, up to maxTokens (stopTokenIds and stop strings
   * still end it): fixed-length runs for benchmarks, as vLLM's ignore_eos */
  ignoreEos?: boolean;
  signal?: AbortSignal;
}

export interface EmbedOptions {
  /** default: the model's sentence-transformers pooling (modules.json), else mean */
  pooling?: PoolingMode;
  /** default: whether the model's sentence-transformers pipeline normalizes, else false */
  normalize?: boolean;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
}

// ------------------------------------------------------------------------------------- one entry per option

/**
 * One option: how a given value is checked and normalized, its default, and where an OpenAI request body
 * carries it. `Ctx` is what a default may depend on (the model, for embed options).
 */
export interface OptionEntry<T, Ctx = void> {
  /** the value as the engine uses it, from a given (not undefined) value; ERR_GPUFORMER_INPUT naming `name` otherwise */
  check(value: unknown, name: string): T;
  /** the value when the caller gives none */
  default(ctx: Ctx): T;
  /** the request-body field of the OpenAI / vLLM API that carries this option (read by lib/server) */
  field?: string;
  /**
   * the wire's own form turned into the option's (top_k -1 means off), or refused where the OpenAI API is
   * narrower than the Engine (temperature at most 2); applied by the server before check
   */
  fromField?(value: unknown, field: string): unknown;
}

type Entries<O, Ctx = void> = { [K in keyof Required<O>]: OptionEntry<unknown, Ctx> };
export type Resolved<E> = { [K in keyof E]: E[K] extends OptionEntry<infer T, infer _C> ? T : never };

function numberIn(ok: (n: number) => boolean, what: string) {
  return (v: unknown, name: string): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw inputError(`${name} must be ${what}, got ${show(v)}`);
    return v;
  };
}

const boolean = (v: unknown, name: string): boolean => {
  if (typeof v !== 'boolean') throw inputError(`${name} must be a boolean, got ${show(v)}`);
  return v;
};

/** The OpenAI API's own bound on a field, refused before the Engine's check. */
const atMost = (max: number) => (v: unknown, field: string) => {
  if (typeof v === 'number' && v > max) throw inputError(`${field} must be at most ${max} in the OpenAI API, got ${v}`);
  return v;
};

/** A 64-bit seed from a safe integer or a bigint (taken modulo 2^64); absent: a random one per request. */
function seed(v: unknown, name: string): bigint {
  if (typeof v === 'bigint') return BigInt.asUintN(64, v);
  return BigInt.asUintN(64, BigInt(numberIn(Number.isSafeInteger, 'an integer')(v, name)));
}

const randomSeed = () => BigInt(Math.floor(Math.random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(Math.random() * 2 ** 32));

export const GENERATE_OPTIONS = {
  maxTokens: { check: (v, name) => checkPositiveInt(v, name), default: () => 256, field: 'max_tokens' } as OptionEntry<number>,
  temperature: { check: numberIn((n) => n >= 0, 'a number ≥ 0'), default: () => 0, field: 'temperature', fromField: atMost(2) } as OptionEntry<number>,
  topK: {
    check: numberIn((n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'), default: () => 0, field: 'top_k',
    fromField: (v) => (v === -1 ? 0 : v), // vLLM: -1 is off
  } as OptionEntry<number>,
  topP: { check: numberIn((n) => n > 0 && n <= 1, 'a number in (0, 1]'), default: () => 1, field: 'top_p' } as OptionEntry<number>,
  seed: { check: seed, default: randomSeed, field: 'seed' } as OptionEntry<bigint>,
  stop: {
    check: (v, name) => {
      const list = Array.isArray(v) ? v : [v];
      for (const s of list) if (typeof s !== 'string' || s.length === 0) throw inputError(`${name} must be non-empty strings, got ${show(s)}`);
      return list as string[];
    },
    default: () => [],
    field: 'stop',
    fromField: (v, field) => {
      if (Array.isArray(v) && v.length > 16) throw inputError(`${field} takes at most 16 strings in the OpenAI API, got ${v.length}`);
      return v;
    },
  } as OptionEntry<string[]>,
  stopTokenIds: {
    check: (v, name) => {
      if (!Array.isArray(v) || !v.every((id) => Number.isInteger(id) && id >= 0)) throw inputError(`${name} must be an array of token ids, got ${show(v)}`);
      return v as number[];
    },
    default: () => [],
  } as OptionEntry<number[]>,
  ignoreEos: { check: boolean, default: () => false, field: 'ignore_eos' } as OptionEntry<boolean>,
  signal: {
    check: (v, name) => {
      if (!(v !== null && typeof v === 'object' && 'aborted' in v)) throw inputError(`${name} must be an AbortSignal`);
      return v as AbortSignal;
    },
    default: () => undefined,
  } as OptionEntry<AbortSignal | undefined>,
} satisfies Entries<GenerateOptions>;

/** What embed()'s defaults come from: the model's sentence-transformers pooling, when it has one. */
type EmbedDefaults = Pick<ModelSource, 'pooling'>;

export const EMBED_OPTIONS = {
  pooling: { check: checkPooling, default: (m) => m.pooling?.mode ?? 'mean' } as OptionEntry<PoolingMode, EmbedDefaults>,
  normalize: { check: boolean, default: (m) => m.pooling?.normalize ?? false } as OptionEntry<boolean, EmbedDefaults>,
} satisfies Entries<EmbedOptions, EmbedDefaults>;

export type ResolvedGenerateOptions = Resolved<typeof GENERATE_OPTIONS>;
export type ResolvedEmbedOptions = Resolved<typeof EMBED_OPTIONS>;

/** Each entry's check on the given value, or its default where none is given. */
function resolveOptions<E extends Record<string, OptionEntry<unknown, Ctx>>, Ctx>(entries: E, given: unknown, what: string, ctx: Ctx): Resolved<E> {
  const o = given ?? {};
  if (o === null || typeof o !== 'object') throw inputError(`${what}: options must be an object, got ${typeof o}`);
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(entries)) {
    const v = (o as Record<string, unknown>)[name];
    out[name] = v === undefined ? entry.default(ctx) : entry.check(v, name);
  }
  return out as Resolved<E>;
}

/** generate()'s options, checked, with their defaults; `seed` becomes a 64-bit bigint, `stop` a list. */
export function resolveGenerateOptions(o: GenerateOptions | undefined): ResolvedGenerateOptions {
  return resolveOptions(GENERATE_OPTIONS, o, 'generate', undefined);
}

/** embed()'s options, checked, with the model's sentence-transformers pooling as the default. */
export function resolveEmbedOptions(o: EmbedOptions | undefined, model: EmbedDefaults): ResolvedEmbedOptions {
  return resolveOptions(EMBED_OPTIONS, o, 'embed', model);
}

// ------------------------------------------------------------------------------------- load options

const oneOf = (values: readonly string[]) => `${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`;

/** Engine.load's options, checked; the planner gives the defaults of those left out (lib/engine/plan.ts). */
export function resolveLoadOptions(o: LoadOptions | undefined): LoadOptions {
  if (o === undefined) return {};
  if (o === null || typeof o !== 'object') throw inputError(`Engine.load: options must be an object, got ${typeof o}`);
  const device = o.device ?? 'auto';
  if (typeof device !== 'string' || !DEVICE_OPTION.test(device)) {
    throw inputError(`device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got ${String(device)}`);
  }
  const dtype = o.dtype ?? 'auto';
  if (!DTYPE_CHOICES.includes(dtype)) throw inputError(`dtype must be ${oneOf(DTYPE_CHOICES)}, got ${String(dtype)}`);
  if (o.gpuMemoryUtilization !== undefined) {
    numberIn((n) => n > 0 && n <= 1, 'a number in (0, 1]')(o.gpuMemoryUtilization, 'gpuMemoryUtilization');
  }
  if (o.memoryBudgetBytes !== undefined) numberIn((n) => n > 0, 'a positive number')(o.memoryBudgetBytes, 'memoryBudgetBytes');
  for (const k of ['maxModelLen', 'maxNumBatchedTokens', 'maxNumSeqs', 'blockSize'] as const) {
    if (o[k] !== undefined) checkPositiveInt(o[k], k);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw inputError('onProgress must be a function');
  return { ...o, device: device as DeviceOption, dtype };
}
