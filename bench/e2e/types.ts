/**
 * What the benchmark runner hands a worker process (a Job) and what comes back (a JobResult), and the
 * interface each engine adapter meets, gpuformer's and its peers' alike, so that one set of scenarios
 * (bench/e2e/scenarios.ts) measures all of them the same way.
 */
import type { KvWasteSummary } from './kv-waste';
import type { InputLength, RequestSpec } from './inputs';
import type { RepeatPolicy } from './repeat';
import type { Summary } from './stats';

export type EngineName = 'gpuformer' | 'transformers.js' | 'node-llama-cpp' | 'pytorch';
export type Device = 'cpu' | 'cuda';

/** One model as one engine loads it. */
export interface ModelTarget {
  /** the catalog id (same for every engine on the same weights) */
  id: string;
  kind: 'encoder' | 'decoder';
  /** a Hugging Face directory or a GGUF file */
  path: string;
  /** weight storage: 'f32' | 'f16' | 'q4_1' … */
  weights: string;
  /** where the tokenizer.json for counting tokens is (encoders) */
  tokenizerDir?: string;
}

export interface EmbedScenario {
  batchSizes: number[];
  lengths: InputLength[];
}

export interface GenerateScenario {
  prefillLens: number[];
  /** null: skip the single-stream decode run */
  decode: { promptLen: number; tokens: number } | null;
  /** concurrent streams for the TTFT / ITL / batched-throughput runs */
  concurrency: number[];
  /** prompt and generation length ranges of the concurrency runs' requests */
  mix: { promptRange: [number, number]; genRange: [number, number] };
  vocabSize: number;
  /** the context each sequence may reach (gpuformer's maxModelLen, llama.cpp's per-sequence context) */
  maxModelLen: number;
}

export interface Job {
  engine: EngineName;
  device: Device;
  threads: number;
  model: ModelTarget;
  policy: RepeatPolicy;
  embed?: EmbedScenario;
  generate?: GenerateScenario;
}

export interface EmbedPoint {
  batch: number;
  length: InputLength;
  /** tokens in one batch, special tokens included, after truncation */
  tokensPerBatch: number;
  seconds: Summary;
  sentencesPerSec: number;
  tokensPerSec: number;
}

export interface PrefillPoint {
  promptLen: number;
  /** time to the first token of a one-token generation */
  seconds: Summary;
  tokensPerSec: number;
}

export interface DecodePoint {
  promptLen: number;
  /** tokens generated per repetition (the asked length: decode runs ignore EOS; older records may hold fewer) */
  tokens: number;
  /** decode tokens/s per repetition: (tokens − 1) ÷ (last token time − first token time) */
  tokensPerSec: Summary;
  interTokenMs: Summary;
}

export interface ConcurrencyPoint {
  concurrency: number;
  requests: number;
  generatedTokens: number;
  wallSeconds: number;
  /** generated tokens ÷ wall time, all streams together */
  tokensPerSec: number;
  ttftMs: Summary;
  interTokenMs: Summary;
  kv?: KvWasteSummary;
  /** the bytes the engine's KV cache holds reserved during the run, where it says */
  kvReservedBytes?: number;
}

export interface RssReport {
  /** the worker before loading anything engine-specific */
  baselineBytes: number;
  afterLoadBytes: number;
  /** getrusage maxrss of the worker process */
  peakBytes: number;
}

export interface JobResult {
  engine: EngineName;
  engineVersion: string;
  device: Device;
  threads: number;
  model: ModelTarget;
  ok: boolean;
  error?: string;
  loadSeconds?: number;
  rss?: RssReport;
  /** the engine's own memory report (gpuformer: engine.memory()) */
  engineMemory?: unknown;
  embed?: EmbedPoint[];
  prefill?: PrefillPoint[];
  decode?: DecodePoint;
  concurrency?: ConcurrencyPoint[];
  notes: string[];
  wallSeconds: number;
  /** share of the machine's CPU time other processes used while this job ran (0: it had the machine alone) */
  otherCpuShare?: number;
}

// -------------------------------------------------------------------------------------- adapters

export interface EmbedAdapter {
  readonly version: string;
  embed(texts: string[]): Promise<void>;
  memory?(): unknown;
  dispose(): Promise<void>;
}

export interface TokenTiming {
  /** process.hrtime.bigint() at each generated token */
  at: bigint[];
}

export interface KvProbe {
  /** bytes per cached token and the per-sequence maximum, for the waste accounting */
  geometry: { bytesPerToken: number; blockSize: number; maxModelLen: number };
  /** what the engine says its KV cache holds reserved right now (blocks in use × block bytes) */
  reservedBytes(): number;
}

export interface GenerateAdapter {
  readonly version: string;
  /**
   * Generates up to maxTokens greedily from promptIds (ids, so every engine sees the same prompt),
   * calling onToken as each token arrives. Resolves with the token times. With ignoreEos the run goes on
   * past end-of-sequence tokens to exactly maxTokens (vLLM's ignore_eos): fixed-length decode runs.
   */
  generate(promptIds: number[], maxTokens: number, onToken?: () => void, opts?: { ignoreEos?: boolean }): Promise<TokenTiming>;
  /** makes room for n concurrent generations (llama.cpp: a context with n sequences) */
  setParallelism(n: number): Promise<void>;
  kv?(): KvProbe | undefined;
  memory?(): unknown;
  dispose(): Promise<void>;
}

export type { RequestSpec };
