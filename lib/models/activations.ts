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
 * The views of a device buffer handed out during one step. A view keeps its storage alive, so each is
 * disposed by release() once the step's program has run.
 */
export class StepViews {
  private views: Tensor[] = [];

  /** Remembers `v` for release() and returns it. */
  take(v: Tensor): Tensor {
    this.views.push(v);
    return v;
  }

  release(): void {
    for (const v of this.views) v.dispose();
    this.views = [];
  }
}

export class Arena {
  private buffer: Tensor | null;
  private readonly regions: Map<string, [number, number]>;
  private readonly stepViews = new StepViews();
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
    return this.stepViews.take(this.buffer.view(region[0], shape));
  }

  /** Disposes the views handed out so far (call once the program that used them has finished). */
  release(): void {
    this.stepViews.release();
  }

  dispose(): void {
    this.release();
    this.buffer?.dispose();
    this.buffer = null;
  }
}
