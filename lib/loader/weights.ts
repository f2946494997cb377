/**
 * Materializes weights: TensorSources (bytes in files) + WeightRequests (what each forward pass wants) →
 * device tensors tagged 'weights'. Plain requests stream straight from the file into the tensor through
 * the native loader (off the event loop, converting dtypes while streaming, in chunks so progress and
 * abort are seen during big tensors). Sliced or transposed requests (GPT-2's Conv1D) read just that one
 * tensor's bytes into JS, rearrange them, and write() the result. Any failure disposes everything this
 * call allocated: a failed load leaves nothing behind.
 */
import { promises as fsp } from 'fs';
import { GpuformerError, badWeights, inputError, unsupported } from '../errors';
import { DType, DeviceName, Tensor } from '../native';
import { QUANTIZED, QUANT_BLOCK, dtypeNbytes, elementBytes } from '../core/dtype';
import type { TensorSource, WeightRequest } from '../core/source';

export interface WeightProgress {
  /** source bytes read so far (of the requested tensors) */
  bytesDone: number;
  bytesTotal: number;
  /** the tensor being (or just) loaded */
  tensor: string;
}

export interface LoadWeightsOptions {
  device: DeviceName;
  /** called after each tensor, and after each chunk of a large one */
  onProgress?: (p: WeightProgress) => void;
  /** aborting stops between chunks; everything loaded so far is disposed */
  signal?: AbortSignal;
  /** source bytes per native read of a large tensor (progress and abort are seen between them); default 64 MiB */
  chunkBytes?: number;
  /**
   * requests whose tensors stay in host memory (the streamed layers of an offload split), pinned when `device`
   * is a GPU so its copy engine reads them directly
   */
  host?: ReadonlySet<string>;
}

/** The shape and dtype a request produces from its source (what the planner counts, what load allocates). */
export function requestedLayout(src: TensorSource, req: WeightRequest): { dtype: DType; shape: number[] } {
  const dtype = req.dtype === 'keep' ? src.dtype : req.dtype;
  if (!req.cols && !req.rows && !req.transpose) return { dtype, shape: [...src.shape] };
  if (src.shape.length !== 2) throw inputError(`weight '${src.name}': rows/cols/transpose need a 2-D tensor, its shape is [${src.shape}]`);
  let [r, c] = src.shape;
  if (req.cols) c = checkRange(src, 'cols', req.cols, c);
  if (req.rows) r = checkRange(src, 'rows', req.rows, r);
  return { dtype, shape: req.transpose ? [c, r] : [r, c] };
}

function checkRange(src: TensorSource, what: string, [a, b]: [number, number], n: number): number {
  if (!(Number.isInteger(a) && Number.isInteger(b) && 0 <= a && a < b && b <= n)) {
    throw inputError(`weight '${src.name}': ${what} [${a}, ${b}) is not a range inside [0, ${n})`);
  }
  return b - a;
}

const numelOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Elements per native loadFile call: about chunkBytes of source, whole quantization blocks. */
function chunkElements(src: TensorSource, chunkBytes: number): number {
  const perElement = src.nbytes / Math.max(1, numelOf(src.shape));
  const n = Math.floor(chunkBytes / Math.max(perElement, 1e-9));
  return Math.max(QUANT_BLOCK, Math.floor(n / QUANT_BLOCK) * QUANT_BLOCK);
}

/**
 * Loads every requested tensor onto `device` (those of opts.host into host memory). Returns name → tensor (tag
 * 'weights'); the caller owns them.
 * A request for a name the sources lack is ERR_GPUFORMER_BAD_WEIGHTS.
 */
export async function loadWeights(
  sources: Map<string, TensorSource>,
  requests: Map<string, WeightRequest>,
  opts: LoadWeightsOptions,
): Promise<Map<string, Tensor>> {
  const plan: Array<{ src: TensorSource; req: WeightRequest }> = [];
  for (const [name, req] of requests) {
    const src = sources.get(name);
    if (!src) throw badWeights(`the checkpoint has no tensor '${name}'`);
    requestedLayout(src, req); // validates slices before anything is allocated
    plan.push({ src, req });
  }
  const bytesTotal = plan.reduce((a, p) => a + p.src.nbytes, 0);
  let bytesDone = 0;
  const report = (tensor: string) => opts.onProgress?.({ bytesDone, bytesTotal, tensor });

  const loaded = new Map<string, Tensor>();
  let current: Tensor | null = null;
  try {
    for (const { src, req } of plan) {
      checkAborted(opts.signal);
      const { dtype, shape } = requestedLayout(src, req);
      current = opts.host?.has(src.name)
        ? Tensor.empty('cpu', dtype, shape, 'weights', { pinned: opts.device !== 'cpu' })
        : Tensor.empty(opts.device, dtype, shape, 'weights');
      try {
        if (req.rows || req.cols || req.transpose) {
          await loadRearranged(current, src, req);
          bytesDone += src.nbytes;
        } else {
          const count = numelOf(src.shape);
          const step = chunkElements(src, opts.chunkBytes ?? 64 * 2 ** 20);
          for (let i = 0; i < count; i += step) {
            checkAborted(opts.signal);
            const n = Math.min(step, count - i);
            await current.loadFile(src.file, src.offset + dtypeNbytes(src.dtype, i), src.dtype, i, n);
            bytesDone += dtypeNbytes(src.dtype, n);
            if (i + n < count) report(src.name);
          }
        }
      } catch (e) {
        // what the conversion refused (a value blocks cannot hold) is the checkpoint's: name the tensor
        if (e instanceof GpuformerError && e.code === 'ERR_GPUFORMER_INPUT') {
          throw badWeights(`weight '${src.name}' (${src.dtype} → ${dtype}): ${e.message}`);
        }
        throw e;
      }
      // a CPU engine's linear weights in the layout its kernels read fastest (no-op where none is faster)
      if (req.packable && opts.device === 'cpu' && !opts.host?.has(src.name)) current.packForLinear();
      loaded.set(src.name, current);
      current = null;
      report(src.name);
    }
    return loaded;
  } catch (e) {
    current?.dispose();
    for (const t of loaded.values()) t.dispose();
    throw e instanceof GpuformerError ? e : badWeights(`loading weights failed: ${(e as Error).message}`);
  }
}

function checkAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new GpuformerError('ERR_GPUFORMER_ABORTED', 'loading weights was aborted');
}

/** Reads one tensor's bytes (and nothing else of the file). */
async function readSourceBytes(src: TensorSource): Promise<Buffer> {
  const fh = await fsp.open(src.file, 'r');
  try {
    const buf = Buffer.alloc(src.nbytes);
    let done = 0;
    while (done < buf.length) {
      const { bytesRead } = await fh.read(buf, done, buf.length - done, src.offset + done);
      if (bytesRead === 0) {
        throw badWeights(`'${src.file}' is truncated: tensor '${src.name}' needs ${src.nbytes} bytes at offset ${src.offset}`);
      }
      done += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

/** An array type with the element width of a dtype, so elements move as opaque bit patterns. */
function elementView(buf: ArrayBuffer, bytesPerElement: number): { [i: number]: number | bigint; length: number } {
  switch (bytesPerElement) {
    case 1: return new Uint8Array(buf);
    case 2: return new Uint16Array(buf);
    case 4: return new Uint32Array(buf);
    case 8: return new BigUint64Array(buf);
    default: throw new Error(`no element view for ${bytesPerElement}-byte elements`);
  }
}

/** cols, then rows, then transpose of a 2-D source; done in the source dtype, converted by write(). */
async function loadRearranged(dst: Tensor, src: TensorSource, req: WeightRequest): Promise<void> {
  if (QUANTIZED.has(src.dtype)) {
    throw unsupported(`weight '${src.name}': ${src.dtype} blocks cannot be sliced or transposed`);
  }
  const es = elementBytes(src.dtype);
  const [R, C] = src.shape;
  const [c0, c1] = req.cols ?? [0, C];
  const [r0, r1] = req.rows ?? [0, R];
  const rows = r1 - r0;
  const cols = c1 - c0;
  const bytes = await readSourceBytes(src);
  // copy into an aligned ArrayBuffer so the typed views line up
  const aligned = new Uint8Array(bytes.length);
  aligned.set(bytes);
  const from = elementView(aligned.buffer, es);
  const out = new ArrayBuffer(rows * cols * es);
  const to = elementView(out, es);
  for (let r = 0; r < rows; r++) {
    const base = (r0 + r) * C + c0;
    if (req.transpose) {
      for (let c = 0; c < cols; c++) to[c * rows + r] = from[base + c];
    } else {
      for (let c = 0; c < cols; c++) to[r * cols + c] = from[base + c];
    }
  }
  dst.write(out, 0, src.dtype);
}
