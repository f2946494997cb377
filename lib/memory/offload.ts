/**
 * Offload: when a model's weights do not fit the GPU budget, whole layers live in pinned host memory and are
 * streamed to the GPU ahead of their use (vLLM's cpu-offload-gb, llama.cpp's n_gpu_layers). This file is the
 * arithmetic of a split, computed before anything is allocated: which layers stay resident (the first ones:
 * the streamed ones come last, so their first transfers overlap the resident layers' work), the bytes in host
 * memory, the GPU staging they need (two slots, each the size of the largest streamed layer: while the GPU
 * computes one streamed layer the copy engine fills the other slot with the next), and what the transfers cost
 * per forward step. The planner (planner.ts) decides how many layers stay; models/offload.ts runs the split.
 */
import { inputError } from '../errors';
import { layerOf } from '../core/layers';
import { formatBytes } from './format';

/** How fast host memory reaches the device, and where that number comes from. */
export interface HostToDevice {
  bytesPerSecond: number;
  /** 'measured on cuda:0', or the default's reason */
  source: string;
}

/** When the device cannot be measured (planning for an absent GPU): a PCIe 4.0 x16 link's practical rate. */
export const DEFAULT_HOST_TO_DEVICE: HostToDevice = { bytesPerSecond: 25e9, source: 'default for PCIe 4.0 x16 (no device to measure)' };

/** The overrides of the planner's split (Engine.load options; CLI --gpu-layers, --cpu-offload-gb). */
export interface OffloadOptions {
  /** layers kept on the GPU (0 … numLayers); the rest stream from pinned host memory (llama.cpp's n_gpu_layers) */
  gpuLayers?: number;
  /** stream at least this many bytes of layer weights from pinned host memory (vLLM's cpu_offload_gb, in bytes) */
  cpuOffloadBytes?: number;
}

export interface OffloadPlan {
  /** the model's layers, and how many stay on the GPU (the first ones) */
  layers: number;
  gpuLayers: number;
  /** the layers whose weights stream from host memory, in order */
  hostLayers: number[];
  /** what chose the split: the budget, or an override */
  from: 'memory' | 'gpuLayers' | 'cpuOffloadBytes';
  /** weight bytes in pinned host memory (the streamed layers'), moved to the GPU once per forward step */
  hostBytes: number;
  /** GPU staging: `slots` slots of slotBytes each (the largest streamed layer) */
  slots: number;
  slotBytes: number;
  stagingBytes: number;
  hostToDevice: HostToDevice;
  /** hostBytes ÷ bandwidth: the least time a forward step spends waiting for its streamed layers */
  transferSecondsPerStep: number;
}

/** Weight bytes per layer, and outside the layers (embeddings, final norm, LM head). */
export function bytesByLayer(weights: Array<{ name: string; bytes: number }>, layers: number): { perLayer: number[]; outside: number } {
  const perLayer = new Array<number>(layers).fill(0);
  let outside = 0;
  for (const w of weights) {
    const l = layerOf(w.name);
    if (l !== undefined && l < layers) perLayer[l] += w.bytes;
    else outside += w.bytes;
  }
  return { perLayer, outside };
}

/** A split before its transfers are priced. */
export type Split = Omit<OffloadPlan, 'hostToDevice' | 'transferSecondsPerStep'>;

/** The split that keeps the first `gpuLayers` layers on the GPU and streams the rest. */
export function splitAt(perLayer: number[], gpuLayers: number, from: OffloadPlan['from']): Split {
  const hostLayers = perLayer.map((_, i) => i).slice(gpuLayers);
  const hostBytes = hostLayers.reduce((a, i) => a + perLayer[i], 0);
  const slots = Math.min(2, hostLayers.length);
  const slotBytes = hostLayers.reduce((a, i) => Math.max(a, perLayer[i]), 0);
  return { layers: perLayer.length, gpuLayers, hostLayers, from, hostBytes, slots, slotBytes, stagingBytes: slots * slotBytes };
}

/** A split with the time its transfers take per forward step at `h2d`. */
export function priced(split: Split, h2d: HostToDevice): OffloadPlan {
  return { ...split, hostToDevice: h2d, transferSecondsPerStep: split.hostBytes / h2d.bytesPerSecond };
}

/** Weight bytes on the device under a split: the resident layers and the rest of the model, plus the staging. */
export const deviceWeightBytes = (weightBytes: number, split?: Split): number =>
  split ? weightBytes - split.hostBytes + split.stagingBytes : weightBytes;

/** The GPU layers that cpuOffloadBytes leaves: the fewest trailing layers whose bytes reach it are streamed. */
export function gpuLayersForOffloadBytes(perLayer: number[], cpuOffloadBytes: number): number {
  const total = perLayer.reduce((a, b) => a + b, 0);
  if (cpuOffloadBytes > total) {
    throw inputError(`cpuOffloadBytes ${cpuOffloadBytes} (${formatBytes(cpuOffloadBytes)}) is more than the ${perLayer.length} ` +
      `layers hold (${formatBytes(total)}); the embeddings and the LM head stay on the GPU`);
  }
  let streamed = 0;
  let g = perLayer.length;
  while (streamed < cpuOffloadBytes) streamed += perLayer[--g];
  return g;
}

/** Checks the overrides against the model and the device; returns the override split's GPU layers, if any. */
export function overriddenGpuLayers(o: OffloadOptions, perLayer: number[], device: string): number | undefined {
  if (o.gpuLayers === undefined && o.cpuOffloadBytes === undefined) return undefined;
  if (device === 'cpu') {
    throw inputError(`${o.gpuLayers !== undefined ? 'gpuLayers' : 'cpuOffloadBytes'}: offload keeps layers in host memory for a ` +
      'CUDA device; on the cpu every layer is in host memory already');
  }
  if (o.gpuLayers !== undefined && o.cpuOffloadBytes !== undefined) {
    throw inputError(`gpuLayers ${o.gpuLayers} and cpuOffloadBytes ${o.cpuOffloadBytes} both set the split: give one of them`);
  }
  if (o.gpuLayers !== undefined) {
    if (o.gpuLayers > perLayer.length) throw inputError(`gpuLayers ${o.gpuLayers} is more than the model's ${perLayer.length} layers`);
    return o.gpuLayers;
  }
  return gpuLayersForOffloadBytes(perLayer, o.cpuOffloadBytes!);
}
