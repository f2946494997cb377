/**
 * The options of the public Engine (DESIGN section 7), their defaults, and their validation: a bad value
 * is an ERR_GPUFORMER_INPUT naming the option and the value, before any work starts.
 */
import { inputError } from '../errors';
import type { PoolingMode } from '../core/step';

export type DeviceOption = 'auto' | 'cpu' | 'cuda' | `cuda:${number}`;
export type DtypeOption = 'auto' | 'float32' | 'float16' | 'bfloat16';

export interface LoadProgress {
  /** 'download' (hub ids), 'weights' (reading and converting tensors onto the device) */
  phase: string;
  bytesDone: number;
  bytesTotal: number;
}

export interface LoadOptions {
  /** 'auto' (default): the first CUDA device when one is usable, else the CPU */
  device?: DeviceOption;
  /**
   * 'auto' (default): on the CPU activations are f32 and float weights stay as stored (f16/bf16 are read
   * directly), GGUF blocks stay quantized; on CUDA the checkpoint's f16/bf16, else f16. 'float32'
   * dequantizes and widens everything to f32; 'float16' / 'bfloat16' store float weights in that type.
   */
  dtype?: DtypeOption;
  /** share of the GPU's memory the engine may use (weights + KV cache + workspace); default 0.9 */
  gpuMemoryUtilization?: number;
  /** an explicit byte budget (the CPU's default is a share of system memory) */
  memoryBudgetBytes?: number;
  /** longest sequence, prompt + generation; default the model's max_position_embeddings, capped at what fits */
  maxModelLen?: number;
  /** most tokens one forward step processes; default max(2048, maxModelLen) for decoders, 16384 for encoders */
  maxNumBatchedTokens?: number;
  /** most sequences in one step; default 256 on CUDA, 64 on the CPU */
  maxNumSeqs?: number;
  /** tokens per KV-cache block; default 16 */
  blockSize?: number;
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

export interface ResolvedGenerateOptions {
  maxTokens: number;
  temperature: number;
  topK: number;
  topP: number;
  seed: bigint;
  stop: string[];
  stopTokenIds: number[];
  ignoreEos: boolean;
  signal?: AbortSignal;
}

const isObject = (v: unknown) => v !== null && typeof v === 'object';

function checkNumber(name: string, v: unknown, ok: (n: number) => boolean, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || !ok(v)) throw inputError(`${name} must be ${what}, got ${String(v)}`);
  return v;
}

const positiveInt = (name: string, v: unknown) => checkNumber(name, v, (n) => Number.isInteger(n) && n >= 1, 'a positive integer');

export function resolveLoadOptions(o: LoadOptions | undefined): LoadOptions {
  if (o === undefined) return {};
  if (!isObject(o)) throw inputError(`Engine.load: options must be an object, got ${typeof o}`);
  const device = o.device ?? 'auto';
  if (typeof device !== 'string' || !/^(auto|cpu|cuda(:\d+)?)$/.test(device)) {
    throw inputError(`device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got ${String(device)}`);
  }
  const dtype = o.dtype ?? 'auto';
  if (!['auto', 'float32', 'float16', 'bfloat16'].includes(dtype)) {
    throw inputError(`dtype must be 'auto', 'float32', 'float16' or 'bfloat16', got ${String(dtype)}`);
  }
  if (o.gpuMemoryUtilization !== undefined) {
    checkNumber('gpuMemoryUtilization', o.gpuMemoryUtilization, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  }
  if (o.memoryBudgetBytes !== undefined) checkNumber('memoryBudgetBytes', o.memoryBudgetBytes, (n) => n > 0, 'a positive number');
  for (const k of ['maxModelLen', 'maxNumBatchedTokens', 'maxNumSeqs', 'blockSize'] as const) {
    if (o[k] !== undefined) positiveInt(k, o[k]);
  }
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw inputError('onProgress must be a function');
  return { ...o, device: device as DeviceOption, dtype: dtype as DtypeOption };
}

/** Fills defaults and checks each option; `seed` becomes a 64-bit bigint. */
export function resolveGenerateOptions(o: GenerateOptions | undefined): ResolvedGenerateOptions {
  const opts = o ?? {};
  if (!isObject(opts)) throw inputError(`generate: options must be an object, got ${typeof opts}`);
  const maxTokens = opts.maxTokens === undefined ? 256 : positiveInt('maxTokens', opts.maxTokens);
  const temperature = opts.temperature === undefined ? 0 : checkNumber('temperature', opts.temperature, (n) => n >= 0, 'a number ≥ 0');
  const topK = opts.topK === undefined ? 0 : checkNumber('topK', opts.topK, (n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0');
  const topP = opts.topP === undefined ? 1 : checkNumber('topP', opts.topP, (n) => n > 0 && n <= 1, 'a number in (0, 1]');
  let seed: bigint;
  if (opts.seed === undefined) {
    seed = BigInt(Math.floor(Math.random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(Math.random() * 2 ** 32));
  } else if (typeof opts.seed === 'bigint') {
    seed = BigInt.asUintN(64, opts.seed);
  } else {
    seed = BigInt(checkNumber('seed', opts.seed, (n) => Number.isSafeInteger(n), 'an integer'));
    seed = BigInt.asUintN(64, seed);
  }
  const stopRaw = opts.stop === undefined ? [] : Array.isArray(opts.stop) ? opts.stop : [opts.stop];
  for (const s of stopRaw) {
    if (typeof s !== 'string' || s.length === 0) throw inputError(`stop must be non-empty strings, got ${JSON.stringify(s)}`);
  }
  const stopTokenIds = opts.stopTokenIds ?? [];
  if (!Array.isArray(stopTokenIds) || !stopTokenIds.every((id) => Number.isInteger(id) && id >= 0)) {
    throw inputError(`stopTokenIds must be an array of token ids, got ${JSON.stringify(opts.stopTokenIds)}`);
  }
  if (opts.signal !== undefined && !(isObject(opts.signal) && 'aborted' in opts.signal)) {
    throw inputError('signal must be an AbortSignal');
  }
  if (opts.ignoreEos !== undefined && typeof opts.ignoreEos !== 'boolean') {
    throw inputError(`ignoreEos must be a boolean, got ${JSON.stringify(opts.ignoreEos)}`);
  }
  return { maxTokens, temperature, topK, topP, seed, stop: stopRaw, stopTokenIds, ignoreEos: opts.ignoreEos ?? false, signal: opts.signal };
}

export function resolveEmbedOptions(o: EmbedOptions | undefined, model: { pooling?: { mode: PoolingMode; normalize: boolean } }):
  { pooling: PoolingMode; normalize: boolean } {
  const opts = o ?? {};
  if (!isObject(opts)) throw inputError(`embed: options must be an object, got ${typeof opts}`);
  const pooling = opts.pooling ?? model.pooling?.mode ?? 'mean';
  if (!['mean', 'cls', 'last'].includes(pooling)) throw inputError(`pooling must be 'mean', 'cls' or 'last', got ${String(pooling)}`);
  const normalize = opts.normalize ?? model.pooling?.normalize ?? false;
  if (typeof normalize !== 'boolean') throw inputError(`normalize must be a boolean, got ${String(normalize)}`);
  return { pooling, normalize };
}
