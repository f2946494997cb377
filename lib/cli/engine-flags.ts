/** The flags every command that loads a model shares, and their translation into Engine.load options. */
import { DEVICE_OPTION, LoadOptions } from '../engine/options';
import { DTYPE_CHOICES, DtypeChoice } from '../models/precision';
import { FlagSpec, Parsed, UsageError, bytes, choices, flag, int, num, str } from './args';
import type { CliIO } from './io';
import { ProgressBar } from './progress';

export const ENGINE_FLAGS: FlagSpec = {
  model: { type: 'string', short: 'm' },
  device: { type: 'string' },
  dtype: { type: 'string' },
  'max-model-len': { type: 'string' },
  'max-num-seqs': { type: 'string' },
  'max-num-batched-tokens': { type: 'string' },
  'gpu-memory-utilization': { type: 'string' },
  'memory-budget': { type: 'string' },
  'block-size': { type: 'string' },
  'enable-prefix-caching': { type: 'boolean' },
  'no-enable-prefix-caching': { type: 'boolean' },
  'gpu-layers': { type: 'string' },
  'cpu-offload-gb': { type: 'string' },
  'batch-invariant': { type: 'boolean' },
};

export const ENGINE_USAGE = `model and engine:
  -m, --model DIR|FILE.gguf|ORG/NAME   a model directory, a GGUF file, or a hub id (downloaded to the HF cache)
  --device auto|cpu|cuda|cuda:N        where to run (default auto: the first GPU, else the CPU)
  --dtype auto|float32|float16|bfloat16|q8_0|q4_0|q4_1   q*: quantize a float checkpoint's matrices while loading
  --max-model-len N                    longest sequence, prompt + generated
  --max-num-seqs N                     most sequences in one step
  --max-num-batched-tokens N           most tokens in one step
  --gpu-memory-utilization F           share of GPU memory to use (default 0.9)
  --memory-budget SIZE                 an explicit byte budget, e.g. 4GiB
  --block-size N                       tokens per KV-cache block (default 16)
  --[no-]enable-prefix-caching         share KV blocks of common prompt prefixes between requests (default on)
  --gpu-layers N                       offload: keep N layers on the GPU, stream the rest from pinned host memory
                                       (default: as many as fit, all when the model fits)
  --cpu-offload-gb F                   offload: stream at least F GiB of layer weights from host memory (as vLLM's)
  --batch-invariant                    the same tokens however requests are batched, chunked or cached
                                       (slower prefill; see Engine.load's batchInvariant)`;

export function requireModel(p: Parsed): string {
  const m = str(p, 'model') ?? p.positionals[0];
  if (!m) throw new UsageError('--model is required (a model directory, a .gguf file or a hub id)');
  return m;
}

/** The planning options (device, dtype, sizes) both `inspect` and Engine.load take, validated. */
export function planFlags(p: Parsed) {
  const device = str(p, 'device');
  if (device !== undefined && !DEVICE_OPTION.test(device)) throw new UsageError(`--device must be auto, cpu, cuda or cuda:N, got '${device}'`);
  const dtype = str(p, 'dtype');
  if (dtype !== undefined && !DTYPE_CHOICES.includes(dtype as DtypeChoice)) {
    throw new UsageError(`--dtype must be ${choices(DTYPE_CHOICES)}, got '${dtype}'`);
  }
  const options = {
    device: device as LoadOptions['device'],
    dtype: dtype as LoadOptions['dtype'],
    maxModelLen: int(p, 'max-model-len'),
    maxNumSeqs: int(p, 'max-num-seqs'),
    maxNumBatchedTokens: int(p, 'max-num-batched-tokens'),
    gpuMemoryUtilization: num(p, 'gpu-memory-utilization', 0.01, 1),
    memoryBudgetBytes: bytes(p, 'memory-budget'),
    blockSize: int(p, 'block-size'),
    gpuLayers: int(p, 'gpu-layers', 0),
    cpuOffloadBytes: gib(num(p, 'cpu-offload-gb', 0, 1e6)),
    batchInvariant: flag(p, 'batch-invariant') || undefined,
  };
  return dropUndefined(options);
}

/** GiB → bytes (vLLM's --cpu-offload-gb counts GiB). */
const gib = (x: number | undefined) => (x === undefined ? undefined : Math.round(x * 2 ** 30));

/** A copy without the keys whose value is undefined (so library defaults apply). */
export function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

/** --enable-prefix-caching / --no-enable-prefix-caching (vLLM's pair): true, false, or undefined for the default. */
function prefixCachingFlag(p: Parsed): boolean | undefined {
  const on = flag(p, 'enable-prefix-caching'), off = flag(p, 'no-enable-prefix-caching');
  if (on && off) throw new UsageError('--enable-prefix-caching and --no-enable-prefix-caching contradict each other');
  return on ? true : off ? false : undefined;
}

/** Engine.load options from the flags, with a progress bar for downloading and loading on a terminal. */
export function loadOptions(p: Parsed, io: CliIO): { options: LoadOptions; done: () => void } {
  const bar = new ProgressBar(io.stderr, 'loading');
  const options: LoadOptions = {
    ...planFlags(p),
    ...dropUndefined({ enablePrefixCaching: prefixCachingFlag(p) }),
    onProgress: (x) => bar.update(x.bytesDone, x.bytesTotal, x.phase === 'download' ? 'downloading' : 'loading weights'),
  };
  return { options, done: () => bar.finish() };
}
