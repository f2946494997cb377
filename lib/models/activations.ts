/**
 * Pre-allocated buffers for a runner's forward passes. A runner reserves, once, the largest size each named
 * buffer can need (for maxNumBatchedTokens tokens and maxNumSeqs sequences) inside ONE device allocation;
 * every step then works on views of the size it needs. Nothing is allocated per step or per token.
 */
import { DType, DeviceName, MemoryTag, Tensor } from '../native';
import { elementBytes } from '../core/dtype';

// Each region starts on a 256-byte boundary, so every view is aligned for vector loads on both backends.
const ALIGN_BYTES = 256;

/** Element offsets of each named region inside one buffer (computed without allocating: the planner uses it too). */
export function layoutRegions(sizes: Record<string, number>, dtype: DType): { offsets: Map<string, [number, number]>; numel: number } {
  const align = ALIGN_BYTES / elementBytes(dtype);
  const offsets = new Map<string, [number, number]>();
  let next = 0;
  for (const [name, numel] of Object.entries(sizes)) {
    offsets.set(name, [next, numel]);
    next += Math.ceil(numel / align) * align;
  }
  return { offsets, numel: Math.max(next, 1) };
}

/**
 * The views of device buffers that steps use, made once per (buffer, offset, shape) and kept: a step's layout
 * repeats (every decode step of a batch bucket has the same index and sampling views; a forward pass asks for
 * the same activation views layer after layer), so a step finds its views made already instead of making
 * and disposing a native tensor per use (two dozen per decode step at ~2 µs each, cold, with their garbage).
 * A view keeps its storage alive, which is the buffer's owner's anyway; all are disposed with the owner.
 * release(), between steps, starts afresh once more than `max` are kept (prefill steps of ever new lengths),
 * never during a step, whose program may still be built from views handed out earlier in it.
 */
export class ViewCache {
  private readonly views = new Map<Tensor, Map<string, Tensor>>();
  private count = 0;

  constructor(private readonly max = 512) {}

  /** buffer.view(offset, shape), the same tensor for the same arguments until release() starts afresh. */
  view(buffer: Tensor, offset: number, shape: number[]): Tensor {
    let ofBuffer = this.views.get(buffer);
    if (!ofBuffer) this.views.set(buffer, (ofBuffer = new Map()));
    const key = `${offset}:${shape.join(',')}`;
    let v = ofBuffer.get(key);
    if (!v) {
      v = buffer.view(offset, shape);
      ofBuffer.set(key, v);
      this.count++;
    }
    return v;
  }

  /** Between steps: forgets every view once more than `max` are kept. */
  release(): void {
    if (this.count > this.max) this.dispose();
  }

  dispose(): void {
    for (const ofBuffer of this.views.values()) for (const v of ofBuffer.values()) v.dispose();
    this.views.clear();
    this.count = 0;
  }
}

export class Arena {
  private buffer: Tensor | null;
  private readonly regions: Map<string, [number, number]>;
  private readonly views = new ViewCache();
  readonly bytes: number;

  constructor(readonly device: DeviceName, readonly dtype: DType, tag: MemoryTag, sizes: Record<string, number>) {
    const { offsets, numel } = layoutRegions(sizes, dtype);
    this.regions = offsets;
    this.buffer = Tensor.empty(device, dtype, [numel], tag);
    this.bytes = this.buffer.nbytes;
  }

  /** A view of region `name` with `shape` (its numel must fit the region's reservation). */
  view(name: string, shape: number[]): Tensor {
    const region = this.regions.get(name);
    if (!region || !this.buffer) throw new Error(`Arena: no region '${name}'${this.buffer ? '' : ' (disposed)'}`);
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel > region[1]) throw new Error(`Arena: region '${name}' holds ${region[1]} elements, asked for [${shape}]`);
    return this.views.view(this.buffer, region[0], shape);
  }

  /** Between steps (once the program that used the views has been handed to exec). */
  release(): void {
    this.views.release();
  }

  dispose(): void {
    this.views.dispose();
    this.buffer?.dispose();
    this.buffer = null;
  }
}
