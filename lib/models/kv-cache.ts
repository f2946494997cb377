/**
 * The paged KV cache of a decoder: per layer, K and V each [numBlocks, blockSize, Hkv, D] (DESIGN section
 * 4). Slot s = block · blockSize + offset holds one token's keys and values; the loop's block manager decides
 * which blocks a sequence owns, the runner only writes and reads slots through block tables.
 */
import { DType, DeviceName, Tensor } from '../native';
import type { ModelSpec } from '../core/spec';

export class KvCache {
  readonly k: Tensor[];
  readonly v: Tensor[];

  constructor(
    readonly device: DeviceName,
    readonly dtype: DType,
    spec: ModelSpec,
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    const shape = [numBlocks, blockSize, spec.numKvHeads, spec.headDim];
    this.k = [];
    this.v = [];
    try {
      for (let l = 0; l < spec.numLayers; l++) {
        this.k.push(Tensor.empty(device, dtype, shape, 'kv'));
        this.v.push(Tensor.empty(device, dtype, shape, 'kv'));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  dispose(): void {
    for (const t of [...this.k, ...this.v]) t.dispose();
    this.k.length = 0;
    this.v.length = 0;
  }
}
