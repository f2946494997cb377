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
import { KvCacheShape, MAX_LOGIT_BIAS, MAX_TOP_LOGPROBS, PoolingMode, StepBudget } from '../core/step';
import type { OffloadOptions } from '../memory/offload';
import type { MemoryBudgetOptions } from '../memory/planner';
import { DTYPE_CHOICES, DtypeChoice } from '../models/precision';
import { ResponseFormat, StructuredFormat, checkResponseFormat, responseFormatFromWire } from '../structured/response-format';
import { EMBED_PRECISIONS, EmbedPrecision, QuantizationRanges } from './embedding-output';

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
 * the KV block size, the memory budget (gpuMemoryUtilization, memoryBudgetBytes: lib/memory/planner.ts) and the
 * offload split (gpuLayers, cpuOffloadBytes: lib/memory/offload.ts) are declared where they are decided; each
 * defaults to what the planner picks for the model and device.
 */
export interface LoadOptions extends Partial<StepBudget>, Partial<Pick<KvCacheShape, 'blockSize'>>,
  Omit<MemoryBudgetOptions, 'deviceTotalBytes'>, OffloadOptions {
  /** 'auto' (default): the first CUDA device when one is usable, else the CPU */
  device?: DeviceOption;
  /**
   * 'auto' (default): on the CPU activations are f32 and float weights stay as stored (f16/bf16 are read
   * directly), GGUF blocks stay quantized; on CUDA the checkpoint's f16/bf16, else f16. 'float32'
   * dequantizes and widens everything to f32; 'float16' / 'bfloat16' store float weights in that type.
   * 'q8_0' / 'q4_0' / 'q4_1' quantize a float checkpoint's matrices into GGUF blocks while loading (the layers'
   * matrices in that format, the LM head and a tied embedding in Q8_0; embeddings, norms and biases stay
   * float), so the quantized kernels serve it as they serve a GGUF file of that type.
   */
  dtype?: DtypeOption;
  /** share the KV blocks of a common prompt prefix between requests (vLLM's prefix caching); default true */
  enablePrefixCaching?: boolean;
  /**
   * Decoders: the same tokens however a request is batched, chunked or served from the prefix cache (issue 20).
   * Every matmul and attention then computes a row by arithmetic that does not depend on the rest of the step:
   * on CUDA the row kernels and the per-query attention kernels for every step (cuBLASLt, which chooses its
   * algorithm by the number of rows, and the prefill attention kernels are left out, so prefill is slower).
   * The CPU is batch invariant always (its linear and attention compute every row by one fixed sequence of
   * f32 operations whatever the batch), so there the option changes nothing. Default false.
   */
  batchInvariant?: boolean;
  onProgress?: (p: LoadProgress) => void;
}

/**
 * generate()'s options. The sampling controls mean what they mean in vLLM and are applied in its order: the
 * allowed tokens, the logit bias (and minTokens' ban on stop tokens) and the penalties change the logits, then
 * the temperature divides them, minP, topK and topP cut the candidates, and the seeded draw picks a token
 * (greedy: the largest processed logit). Each request in a batch has its own.
 */
export interface GenerateOptions {
  /** most tokens to generate; default 256, never past maxModelLen */
  maxTokens?: number;
  /** 0 (default): greedy; > 0: sampling at this temperature */
  temperature?: number;
  /** keep the k most likely tokens (0: off) */
  topK?: number;
  /** nucleus sampling: keep the smallest set of tokens whose probability reaches p (1: off) */
  topP?: number;
  /** drop the tokens whose probability is below minP × the most likely token's, after the temperature (0: off) */
  minP?: number;
  /**
   * vLLM's repetition penalty (> 0; 1, the default, is off): the logit of every token already in the prompt or
   * the output is divided by it when positive and multiplied by it when negative
   */
  repetitionPenalty?: number;
  /** OpenAI's frequency penalty in [-2, 2] (0: off): subtracted from a token's logit once per time it occurs in the output */
  frequencyPenalty?: number;
  /** OpenAI's presence penalty in [-2, 2] (0: off): subtracted from the logit of every token the output already holds */
  presencePenalty?: number;
  /**
   * added to the logits of these tokens before sampling ({ tokenId: bias } as an object or a Map, or [tokenId,
   * bias] pairs; at most 1024 tokens): -100 and 100 in effect ban or force a token
   */
  logitBias?: Record<number, number> | Map<number, number> | ReadonlyArray<readonly [number, number]>;
  /** only these token ids may be generated (vLLM's allowed_token_ids) */
  allowedTokenIds?: number[];
  /** EOS and the stop tokens cannot end the generation before this many tokens, nor stop strings (vLLM's min_tokens); default 0 */
  minTokens?: number;
  /**
   * return each generated token's log-probability in the chunks (`logprobs`): the log-softmax of the model's
   * logits as they came (vLLM's default raw_logprobs: before the bias, penalties and temperature)
   */
  logprobs?: boolean;
  /** with logprobs: the topLogprobs most likely tokens at each position too (0 to 20; default 0) */
  topLogprobs?: number;
  /** same seed, same tokens; default: a random seed per request */
  seed?: number | bigint;
  /** stop strings: generation ends before the first occurrence, which is not part of the text */
  stop?: string | string[];
  /** the stop string that ended the generation stays at the end of the text (vLLM's include_stop_str_in_output) */
  includeStopStrInOutput?: boolean;
  /** token ids that end the generation (besides the model's EOS); the id is the last one returned */
  stopTokenIds?: number[];
  /** keep generating past the model's EOS / end-of-turn tokens, up to maxTokens (stopTokenIds and stop strings
   * still end it): fixed-length runs for benchmarks, as vLLM's ignore_eos */
  ignoreEos?: boolean;
  /** leave special tokens (EOS, end-of-turn…) out of the text; default true (vLLM's skip_special_tokens) */
  skipSpecialTokens?: boolean;
  /** keep only the last n tokens of the prompt (vLLM's truncate_prompt_tokens) */
  truncatePromptTokens?: number;
  /**
   * structured output (OpenAI's response_format): { type: 'json_object' } for any JSON object, or
   * { type: 'json_schema', jsonSchema: { name, schema, strict } } for JSON that validates against `schema`
   * (the keywords lib/structured/json-schema.ts lists; any other is refused); { type: 'text' } or null, the
   * default, leave the text free. Every step's logits are masked to the tokens that keep the output valid;
   * the stop tokens are allowed once it is a whole document, and the generation ends where nothing more can
   * follow. maxTokens can still cut it short (finish reason 'length'). (A StructuredFormat is one already
   * checked, as resolveGenerateOptions gives it back.)
   */
  responseFormat?: ResponseFormat | StructuredFormat | null;
  signal?: AbortSignal;
}

export interface EmbedOptions {
  /** default: the model's sentence-transformers pooling (modules.json), else mean */
  pooling?: PoolingMode;
  /** default: whether the model's sentence-transformers pipeline normalizes, else false */
  normalize?: boolean;
  /**
   * Matryoshka embeddings: keep the first `dimensions` components (at most the model's width), L2-normalized
   * again when the embedding is normalized; default: all of them
   */
  dimensions?: number;
  /**
   * 'float32' (default): Float32Array; 'int8' / 'uint8': one byte per dimension, Int8Array / Uint8Array (scalar
   * codes over `ranges`); 'binary' / 'ubinary': the signs packed eight dimensions to a byte, Int8Array /
   * Uint8Array: sentence-transformers' quantize_embeddings (lib/engine/embedding-output.ts)
   */
  precision?: EmbedPrecision;
  /**
   * int8 / uint8: each dimension's lowest and highest value, [min[], max[]] (sentence-transformers' ranges);
   * default: from calibrationEmbeddings, else from this call's own embeddings (the codes then depend on the batch)
   */
  ranges?: readonly [ArrayLike<number>, ArrayLike<number>];
  /** int8 / uint8: embeddings (of the output's width) whose per-dimension min and max become the ranges */
  calibrationEmbeddings?: ReadonlyArray<ArrayLike<number>>;
  /** cancels the request: its inputs not yet embedded are dropped, and embed() rejects with ERR_GPUFORMER_ABORTED */
  signal?: AbortSignal;
}

export interface RerankOptions {
  /** keep the best topN documents (default: all of them) */
  topN?: number;
  /** put each document's text in its result (default false) */
  returnDocuments?: boolean;
  /** cancels the request (ERR_GPUFORMER_ABORTED) */
  signal?: AbortSignal;
}

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant' | 'tool' | string;
  content: string;
}

// ------------------------------------------------------------------------------------- one entry per option

/**
 * One option: how a given value is checked and normalized, its default, and where an OpenAI request body
 * carries it. `Ctx` is what a check or a default may depend on (the model: its vocabulary, its pooling).
 */
export interface OptionEntry<T, Ctx = void> {
  /** the value as the engine uses it, from a given (not undefined) value; ERR_GPUFORMER_INPUT naming `name` otherwise */
  check(value: unknown, name: string, ctx: Ctx): T;
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
/** What generate()'s checks need of the model. */
export interface GenerateContext {
  vocabSize: number;
}
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

/** Token ids of the vocabulary. */
function tokenIdList(v: unknown, name: string, ctx: GenerateContext, nonEmpty: boolean): number[] {
  if (!Array.isArray(v) || (nonEmpty && v.length === 0)) throw inputError(`${name} must be ${nonEmpty ? 'a non-empty' : 'an'} array of token ids, got ${show(v)}`);
  v.forEach((id, i) => {
    if (!Number.isInteger(id) || id < 0 || id >= ctx.vocabSize) throw inputError(`${name}[${i}] = ${show(id)} is not a token id of [0, ${ctx.vocabSize})`);
  });
  return v as number[];
}

/** { tokenId: bias } (an object, as JSON has it, or a Map) or [id, bias] pairs → distinct [id, bias] pairs sorted by id. */
function logitBias(v: unknown, name: string, ctx: GenerateContext): Array<[number, number]> {
  const pairs = Array.isArray(v) && v.every((e) => Array.isArray(e) && e.length === 2);
  if (!(v instanceof Map || pairs || (v !== null && typeof v === 'object' && !Array.isArray(v)))) {
    throw inputError(`${name} must be an object { tokenId: bias }, a Map or [tokenId, bias] pairs, got ${show(v)}`);
  }
  const entries: Array<[unknown, unknown]> = v instanceof Map ? [...v.entries()] : pairs ? (v as Array<[unknown, unknown]>) : Object.entries(v as object);
  if (entries.length > MAX_LOGIT_BIAS) throw inputError(`${name} has ${entries.length} tokens; at most ${MAX_LOGIT_BIAS} are allowed`);
  const out = entries.map(([k, b]): [number, number] => {
    const id = typeof k === 'string' && /^\d+$/.test(k) ? Number(k) : k;
    if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= ctx.vocabSize) {
      throw inputError(`${name}: key ${show(k)} is not a token id of [0, ${ctx.vocabSize})`);
    }
    if (typeof b !== 'number' || !Number.isFinite(b)) throw inputError(`${name}[${id}] must be a finite number, got ${show(b)}`);
    return [id, b];
  });
  out.sort((a, b) => a[0] - b[0]);
  out.forEach(([id], i) => { if (i > 0 && out[i - 1][0] === id) throw inputError(`${name} gives token ${id} twice`); });
  return out;
}

/** The OpenAI API's own range of a field, refused before the Engine's check. */
const within = (min: number, max: number) => (v: unknown, field: string) => {
  if (typeof v === 'number' && (v < min || v > max)) throw inputError(`${field} must be in [${min}, ${max}] in the OpenAI API, got ${v}`);
  return v;
};

const oneOf = (values: readonly string[]) => `${values.slice(0, -1).map((v) => `'${v}'`).join(', ')} or '${values[values.length - 1]}'`;

/** A request's AbortSignal (generate and embed alike). */
function abortSignal<Ctx>(): OptionEntry<AbortSignal | undefined, Ctx> {
  return {
    check: (v, name) => {
      if (!(v !== null && typeof v === 'object' && 'aborted' in v)) throw inputError(`${name} must be an AbortSignal`);
      return v as AbortSignal;
    },
    default: () => undefined,
  };
}

const randomSeed = () => BigInt(Math.floor(Math.random() * 2 ** 32)) * 2n ** 32n + BigInt(Math.floor(Math.random() * 2 ** 32));

export const GENERATE_OPTIONS = {
  maxTokens: { check: (v, name) => checkPositiveInt(v, name), default: () => 256, field: 'max_tokens' } as OptionEntry<number, GenerateContext>,
  temperature: { check: numberIn((n) => n >= 0, 'a number ≥ 0'), default: () => 0, field: 'temperature', fromField: atMost(2) } as OptionEntry<number, GenerateContext>,
  topK: {
    check: numberIn((n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'), default: () => 0, field: 'top_k',
    fromField: (v) => (v === -1 ? 0 : v), // vLLM: -1 is off
  } as OptionEntry<number, GenerateContext>,
  topP: { check: numberIn((n) => n > 0 && n <= 1, 'a number in (0, 1]'), default: () => 1, field: 'top_p' } as OptionEntry<number, GenerateContext>,
  minP: { check: numberIn((n) => n >= 0 && n <= 1, 'a number in [0, 1]'), default: () => 0, field: 'min_p' } as OptionEntry<number, GenerateContext>,
  repetitionPenalty: {
    check: numberIn((n) => n > 0, 'a number > 0'), default: () => 1, field: 'repetition_penalty',
  } as OptionEntry<number, GenerateContext>,
  frequencyPenalty: {
    check: numberIn((n) => n >= -2 && n <= 2, 'a number in [-2, 2]'), default: () => 0, field: 'frequency_penalty',
  } as OptionEntry<number, GenerateContext>,
  presencePenalty: {
    check: numberIn((n) => n >= -2 && n <= 2, 'a number in [-2, 2]'), default: () => 0, field: 'presence_penalty',
  } as OptionEntry<number, GenerateContext>,
  logitBias: {
    check: logitBias, default: () => [], field: 'logit_bias',
    // OpenAI: each bias in [-100, 100]
    fromField: (v, field) => {
      if (v !== null && typeof v === 'object') {
        for (const [k, b] of Object.entries(v)) within(-100, 100)(b, `${field}[${k}]`);
      }
      return v;
    },
  } as OptionEntry<Array<[number, number]>, GenerateContext>,
  allowedTokenIds: {
    check: (v, name, ctx) => tokenIdList(v, name, ctx, true), default: () => undefined, field: 'allowed_token_ids',
  } as OptionEntry<number[] | undefined, GenerateContext>,
  minTokens: {
    check: numberIn((n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0'), default: () => 0, field: 'min_tokens',
  } as OptionEntry<number, GenerateContext>,
  logprobs: { check: boolean, default: () => false } as OptionEntry<boolean, GenerateContext>,
  topLogprobs: {
    check: numberIn((n) => Number.isInteger(n) && n >= 0 && n <= MAX_TOP_LOGPROBS, `an integer in [0, ${MAX_TOP_LOGPROBS}]`), default: () => 0,
  } as OptionEntry<number, GenerateContext>,
  seed: { check: seed, default: randomSeed, field: 'seed' } as OptionEntry<bigint, GenerateContext>,
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
  } as OptionEntry<string[], GenerateContext>,
  includeStopStrInOutput: { check: boolean, default: () => false, field: 'include_stop_str_in_output' } as OptionEntry<boolean, GenerateContext>,
  stopTokenIds: {
    check: (v, name, ctx) => {
      const ids = tokenIdList(v, name, ctx, false);
      if (ids.length > MAX_LOGIT_BIAS) throw inputError(`${name} has ${ids.length} ids; at most ${MAX_LOGIT_BIAS} are allowed`);
      return ids;
    },
    default: () => [], field: 'stop_token_ids',
  } as OptionEntry<number[], GenerateContext>,
  ignoreEos: { check: boolean, default: () => false, field: 'ignore_eos' } as OptionEntry<boolean, GenerateContext>,
  skipSpecialTokens: { check: boolean, default: () => true, field: 'skip_special_tokens' } as OptionEntry<boolean, GenerateContext>,
  responseFormat: {
    check: checkResponseFormat, default: () => null, field: 'response_format', fromField: responseFormatFromWire,
  } as OptionEntry<StructuredFormat | null, GenerateContext>,
  truncatePromptTokens: {
    check: (v, name) => checkPositiveInt(v, name), default: () => undefined, field: 'truncate_prompt_tokens',
    fromField: (v) => (v === -1 ? undefined : v), // vLLM: -1 keeps the model's whole context, which a prompt may fill anyway
  } as OptionEntry<number | undefined, GenerateContext>,
  signal: abortSignal<GenerateContext>(),
} satisfies Entries<GenerateOptions, GenerateContext>;

/**
 * The rules between options, after each option's own check: topLogprobs needs logprobs, minTokens may not
 * pass maxTokens. `nameOf` gives the name an error uses (the option's, or the request field's in the server).
 */
export function checkGenerateCombination(o: Partial<ResolvedGenerateOptions>, nameOf: (option: keyof GenerateOptions) => string = (k) => k): void {
  if ((o.topLogprobs ?? 0) > 0 && !o.logprobs) {
    throw inputError(`${nameOf('topLogprobs')} = ${o.topLogprobs} needs ${nameOf('logprobs')} to be true`);
  }
  if (o.minTokens !== undefined && o.maxTokens !== undefined && o.minTokens > o.maxTokens) {
    throw inputError(`${nameOf('minTokens')} = ${o.minTokens} must be at most ${nameOf('maxTokens')} = ${o.maxTokens}`);
  }
}

/** What embed()'s defaults and checks depend on: the model's sentence-transformers pooling, its width. */
export interface EmbedContext extends Pick<ModelSource, 'pooling'> {
  /** the model's embedding width (hidden size) */
  width: number;
}

/** finite numbers, as float64 */
function numbers(v: unknown, name: string): Float64Array {
  const ok = (Array.isArray(v) || ArrayBuffer.isView(v)) && !(v instanceof DataView) && (v as ArrayLike<unknown>).length > 0;
  if (!ok) throw inputError(`${name} must be a non-empty array of numbers, got ${show(v)}`);
  const a = v as ArrayLike<unknown>;
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    if (typeof x !== 'number' || !Number.isFinite(x)) throw inputError(`${name}[${i}] must be a finite number, got ${show(x)}`);
    out[i] = x;
  }
  return out;
}

export const EMBED_OPTIONS = {
  pooling: { check: checkPooling, default: (m) => m.pooling?.mode ?? 'mean' } as OptionEntry<PoolingMode, EmbedContext>,
  normalize: { check: boolean, default: (m) => m.pooling?.normalize ?? false } as OptionEntry<boolean, EmbedContext>,
  dimensions: { check: (v, name) => checkPositiveInt(v, name), default: () => undefined, field: 'dimensions' } as OptionEntry<number | undefined, EmbedContext>,
  precision: {
    check: (v, name) => {
      if (!EMBED_PRECISIONS.includes(v as EmbedPrecision)) throw inputError(`${name} must be ${oneOf(EMBED_PRECISIONS)}, got ${show(v)}`);
      return v as EmbedPrecision;
    },
    default: () => 'float32', field: 'precision',
  } as OptionEntry<EmbedPrecision, EmbedContext>,
  ranges: {
    check: (v, name): QuantizationRanges => {
      if (!Array.isArray(v) || v.length !== 2) throw inputError(`${name} must be [min[], max[]], two arrays of one number per dimension, got ${show(v)}`);
      const min = numbers(v[0], `${name}[0]`);
      const max = numbers(v[1], `${name}[1]`);
      if (min.length !== max.length) throw inputError(`${name}: min has ${min.length} dimensions, max ${max.length}`);
      const bad = min.findIndex((x, j) => x > max[j]);
      if (bad >= 0) throw inputError(`${name}: dimension ${bad} has min ${min[bad]} above max ${max[bad]}`);
      return [min, max];
    },
    default: () => undefined, field: 'ranges',
  } as OptionEntry<QuantizationRanges | undefined, EmbedContext>,
  calibrationEmbeddings: {
    check: (v, name) => {
      if (!Array.isArray(v) || v.length === 0) throw inputError(`${name} must be a non-empty array of embeddings, got ${show(v)}`);
      const rows = v.map((r, i) => numbers(r, `${name}[${i}]`));
      const bad = rows.findIndex((r) => r.length !== rows[0].length);
      if (bad >= 0) throw inputError(`${name}[${bad}] has ${rows[bad].length} dimensions, ${name}[0] has ${rows[0].length}`);
      return rows;
    },
    default: () => undefined,
  } as OptionEntry<Float64Array[] | undefined, EmbedContext>,
  signal: abortSignal<EmbedContext>(),
} satisfies Entries<EmbedOptions, EmbedContext>;

/**
 * The rules between embed options and against the model, after each option's own check: dimensions at most
 * the model's width; ranges and calibrationEmbeddings only for int8 / uint8, one of them, and as wide as the
 * output. `fail` reports a broken rule, naming the option at fault (the server turns it into a 400 naming
 * the request field); by default an ERR_GPUFORMER_INPUT.
 */
export function checkEmbedCombination(o: Partial<ResolvedEmbedOptions>, width: number,
  fail: (option: keyof EmbedOptions, message: string) => never = (_k, m) => { throw inputError(m); }): void {
  if (o.dimensions !== undefined && o.dimensions > width) fail('dimensions', `dimensions = ${o.dimensions} is more than the model's ${width} dimensions`);
  const dims = o.dimensions ?? width;
  const precision = o.precision ?? 'float32';
  const scalar = precision === 'int8' || precision === 'uint8';
  for (const k of ['ranges', 'calibrationEmbeddings'] as const) {
    if (o[k] !== undefined && !scalar) fail(k, `${k} applies to precision 'int8' or 'uint8' only, not '${precision}'`);
  }
  if (o.ranges && o.calibrationEmbeddings) fail('ranges', 'give ranges or calibrationEmbeddings, not both');
  const given = o.ranges?.[0].length ?? o.calibrationEmbeddings?.[0].length;
  if (given !== undefined && given !== dims) {
    const k = o.ranges ? 'ranges' : 'calibrationEmbeddings';
    fail(k, `${k} has ${given} dimensions; the embeddings have ${dims}${o.dimensions !== undefined ? ' (dimensions)' : ''}`);
  }
}

export const RERANK_OPTIONS = {
  topN: { check: (v, name) => checkPositiveInt(v, name), default: () => undefined, field: 'top_n' } as OptionEntry<number | undefined>,
  returnDocuments: { check: boolean, default: () => false, field: 'return_documents' } as OptionEntry<boolean>,
  signal: abortSignal<void>(),
} satisfies Entries<RerankOptions>;

export type ResolvedRerankOptions = Resolved<typeof RERANK_OPTIONS>;
export type ResolvedGenerateOptions = Resolved<typeof GENERATE_OPTIONS>;
export type ResolvedEmbedOptions = Resolved<typeof EMBED_OPTIONS>;

/** Each entry's check on the given value, or its default where none is given; an option no entry knows is refused. */
function resolveOptions<E extends Record<string, OptionEntry<unknown, Ctx>>, Ctx>(entries: E, given: unknown, what: string, ctx: Ctx): Resolved<E> {
  const o = given ?? {};
  if (o === null || typeof o !== 'object') throw inputError(`${what}: options must be an object, got ${typeof o}`);
  for (const name of Object.keys(o)) {
    if (!(name in entries) && (o as Record<string, unknown>)[name] !== undefined) {
      throw inputError(`${what}: unknown option '${name}' (the options are ${Object.keys(entries).join(', ')})`);
    }
  }
  const out: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(entries)) {
    const v = (o as Record<string, unknown>)[name];
    out[name] = v === undefined ? entry.default(ctx) : entry.check(v, name, ctx);
  }
  return out as Resolved<E>;
}

/**
 * generate()'s options, checked against the model (`ctx`), with their defaults: `seed` becomes a 64-bit
 * bigint, `stop` a list, `logitBias` [id, bias] pairs sorted by id.
 */
export function resolveGenerateOptions(o: GenerateOptions | undefined, ctx: GenerateContext): ResolvedGenerateOptions {
  const r = resolveOptions(GENERATE_OPTIONS, o, 'generate', ctx);
  checkGenerateCombination(r);
  return r;
}

/** rerank()'s options, checked, with their defaults. */
export function resolveRerankOptions(o: RerankOptions | undefined): ResolvedRerankOptions {
  return resolveOptions(RERANK_OPTIONS, o, 'rerank', undefined);
}

/** embed()'s options, checked against the model, with its sentence-transformers pooling as the default. */
export function resolveEmbedOptions(o: EmbedOptions | undefined, model: EmbedContext): ResolvedEmbedOptions {
  const r = resolveOptions(EMBED_OPTIONS, o, 'embed', model);
  checkEmbedCombination(r, model.width);
  return r;
}

// ------------------------------------------------------------------------------------- load options

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
  if (o.enablePrefixCaching !== undefined) boolean(o.enablePrefixCaching, 'enablePrefixCaching');
  if (o.gpuLayers !== undefined) numberIn((n) => Number.isInteger(n) && n >= 0, 'an integer ≥ 0')(o.gpuLayers, 'gpuLayers');
  if (o.cpuOffloadBytes !== undefined) numberIn((n) => n >= 0, 'a number of bytes ≥ 0')(o.cpuOffloadBytes, 'cpuOffloadBytes');
  if (o.batchInvariant !== undefined) boolean(o.batchInvariant, 'batchInvariant');
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function') throw inputError('onProgress must be a function');
  return { ...o, device: device as DeviceOption, dtype };
}
