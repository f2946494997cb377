/**
 * Running an offload split (planned by lib/memory/offload.ts): the weights of the streamed layers stay in host
 * memory (pinned, for CUDA), and two slots of device tensors take them in turn. Streamed layer j (the j-th of
 * the streamed ones) uses slot j % 2; while the GPU computes it, the copy engine fills the other slot with layer
 * j + 1. In each program (every forward pass, prefill or decode, graphed or not):
 *
 *   release every slot; fetch the first two streamed layers          (start: after the previous step's use)
 *   … resident layers …                                             (the first transfers overlap them)
 *   wait slot(j); layer j; release slot(j); fetch layer j + 2 → slot(j)
 *
 * Forward passes read a streamed layer's weights from its slot's tensors, so they stay as they are: they only
 * call the hooks (LayerHooks) around each layer.
 */
import { badWeights } from '../errors';
import { Command, CopyQueue, DeviceName, Tensor, native } from '../native';
import { ops } from '../ops';
import { layerKey, layerOf } from '../core/layers';
import type { LayerHooks } from './forward';

/** The requests whose weights live in host memory under a split: every weight of the streamed layers. */
export function streamedNames(names: Iterable<string>, streamedLayers: readonly number[]): Set<string> {
  const layers = new Set(streamedLayers);
  return new Set([...names].filter((n) => layers.has(layerOf(n) ?? -1)));
}

export class LayerStream implements LayerHooks {
  private readonly queue: CopyQueue;
  /** per slot: the device tensor for each layer key */
  private readonly slots: Array<Map<string, Tensor>> = [];
  /** per streamed layer, in order: its host tensors and the keys they fill */
  private readonly host: Array<{ layer: number; keys: string[]; tensors: Tensor[] }> = [];
  /** layer index → its position among the streamed layers */
  private readonly order = new Map<number, number>();

  /**
   * `loaded`: every weight by name, the streamed layers' in host memory. Allocates the slots on `device` (two,
   * or one when one layer streams); the streamed layers must hold the same weights (names, dtypes, shapes).
   */
  constructor(device: DeviceName, streamedLayers: readonly number[], loaded: Map<string, Tensor>) {
    const byLayer = new Map<number, Array<[string, Tensor]>>(streamedLayers.map((l) => [l, []]));
    for (const [name, t] of loaded) byLayer.get(layerOf(name) ?? -1)?.push([layerKey(name), t]);
    streamedLayers.forEach((layer, j) => {
      const entries = byLayer.get(layer)!.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      this.host.push({ layer, keys: entries.map(([k]) => k), tensors: entries.map(([, t]) => t) });
      this.order.set(layer, j);
    });
    const first = this.host[0];
    for (const h of this.host) {
      const same = h.keys.length === first.keys.length && h.keys.every((k, i) => k === first.keys[i] &&
        h.tensors[i].dtype === first.tensors[i].dtype && String(h.tensors[i].shape) === String(first.tensors[i].shape));
      if (!same) throw badWeights(`layer ${h.layer} holds other weights than layer ${first.layer}: streamed layers share their slots`);
    }
    this.queue = new native.CopyQueue(device, Math.min(2, this.host.length));
    try {
      for (let s = 0; s < this.queue.slots; s++) {
        this.slots.push(new Map(first.keys.map((k, i) => [k, Tensor.empty(device, first.tensors[i].dtype, first.tensors[i].shape, 'weights')])));
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  /** What the forward passes read: the resident weights as loaded, a streamed layer's names as its slot's tensors. */
  views(loaded: Map<string, Tensor>): Map<string, Tensor> {
    const out = new Map(loaded);
    for (const [name] of loaded) {
      const j = this.order.get(layerOf(name) ?? -1);
      if (j !== undefined) out.set(name, this.slots[j % this.slots.length].get(layerKey(name))!);
    }
    return out;
  }

  begin(prog: Command[]): void {
    for (let s = 0; s < this.slots.length; s++) prog.push(ops.releaseSlot({ queue: this.queue, slot: s }));
    for (let j = 0; j < this.slots.length; j++) this.fetch(prog, j);
  }

  enter(prog: Command[], layer: number): void {
    const j = this.order.get(layer);
    if (j !== undefined) prog.push(ops.waitSlot({ queue: this.queue, slot: j % this.slots.length }));
  }

  leave(prog: Command[], layer: number): void {
    const j = this.order.get(layer);
    if (j === undefined) return;
    prog.push(ops.releaseSlot({ queue: this.queue, slot: j % this.slots.length }));
    if (j + this.slots.length < this.host.length) this.fetch(prog, j + this.slots.length);
  }

  /** The slots' device tensors (the runner owns and frees them with the weights). */
  slotTensors(): Tensor[] {
    return this.slots.flatMap((slot) => [...slot.values()]);
  }

  /** Frees the slots (the host tensors belong to the runner, with the other weights). */
  dispose(): void {
    for (const slot of this.slots.splice(0)) for (const t of slot.values()) t.dispose();
  }

  private fetch(prog: Command[], j: number): void {
    const slot = j % this.slots.length;
    const h = this.host[j];
    prog.push(ops.fetchSlot({ queue: this.queue, slot, src: h.tensors, dst: h.keys.map((k) => this.slots[slot].get(k)!) }));
  }
}
