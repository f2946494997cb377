/**
 * The offload split (lib/memory/offload.ts, planned by lib/memory/planner.ts), checked against bytes computed by
 * hand for a Llama-2-7B-shaped model in f16: every split gpuLayers can ask for (which layers stay, which stream,
 * the bytes on the device, in host memory and in the staging slots, the KV cache left, the transfer per step),
 * the split the planner picks by itself (as many layers as fit beside the KV cache the configuration needs),
 * cpuOffloadBytes, the coded errors (conflicting or impossible overrides, not even one layer fits, host memory
 * too small), and the report inspect prints. Planning only: nothing is allocated.
 */
import { specFromConfig } from '../../lib/loader/config';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { formatPlan } from '../../lib/memory/plan-report';
import { DEFAULT_HOST_TO_DEVICE } from '../../lib/memory/offload';
import { MemoryPlanOptions, computeMemoryPlan, planMemory, weightEntriesFromSpec } from '../../lib/memory/planner';
import { expectCoded, fixture } from '../loader/helpers';

const spec = specFromConfig({
  architectures: ['LlamaForCausalLM'], vocab_size: 32000, hidden_size: 4096, num_hidden_layers: 32, num_attention_heads: 32,
  num_key_value_heads: 32, intermediate_size: 11008, max_position_embeddings: 4096, rms_norm_eps: 1e-5, tie_word_embeddings: false,
});
const weights = weightEntriesFromSpec(spec, 'f16');
const L = 32;
/** one layer: q, k, v, o (4096²), gate, up, down (4096 × 11008), two norms — f16 */
const LAYER = 2 * (4 * 4096 * 4096 + 3 * 4096 * 11008 + 2 * 4096);
/** embeddings and head (32000 × 4096 each) and the final norm */
const OUTSIDE = 2 * (2 * 32000 * 4096 + 4096);
/** a GPU of that size, and host memory that holds any split (unless a test says otherwise) */
const cuda = (deviceTotalBytes: number, more: Partial<MemoryPlanOptions> = {}): MemoryPlanOptions =>
  ({ device: 'cuda:0', activationDtype: 'f16', deviceTotalBytes, hostBudgetBytes: 1e12, ...more });
/** device bytes of a split keeping g layers and streaming the rest through two slots */
const deviceBytes = (g: number) => OUTSIDE + g * LAYER + Math.min(2, L - g) * LAYER;
const gb = (bytes: number) => `${(bytes / 1e9).toFixed(1)} GB`;

describe('the split gpuLayers asks for', () => {
  it('the hand-computed layer and outside bytes add up to the model', () => {
    expect(OUTSIDE + L * LAYER).toBe(weights.reduce((a, w) => a + w.bytes, 0));
  });

  it.each(Array.from({ length: L + 1 }, (_, g) => g))('gpuLayers %i: layers, bytes per place, KV left, transfer per step', (g) => {
    const plan = computeMemoryPlan(spec, weights, cuda(80e9, { gpuLayers: g }));
    const total = OUTSIDE + L * LAYER;
    if (g === L) {
      expect(plan.offload).toBeUndefined();
      expect(plan.params.deviceBytes).toBe(total);
    } else {
      const streamed = L - g;
      const slots = Math.min(2, streamed);
      expect(plan.offload).toEqual({
        layers: L, gpuLayers: g, hostLayers: Array.from({ length: streamed }, (_, i) => g + i), from: 'gpuLayers',
        hostBytes: streamed * LAYER, slots, slotBytes: LAYER, stagingBytes: slots * LAYER,
        hostToDevice: DEFAULT_HOST_TO_DEVICE, transferSecondsPerStep: (streamed * LAYER) / 25e9,
      });
      expect(plan.params.deviceBytes).toBe(OUTSIDE + g * LAYER + slots * LAYER);
    }
    expect(plan.params.bytes).toBe(total); // every weight is counted once, wherever it lives
    expect(plan.kv.blocks).toBe(Math.floor((72e9 - plan.params.deviceBytes - plan.workspace.bytes) / plan.kv.blockBytes));
    expect(plan.totalBytes).toBe(plan.params.deviceBytes + plan.workspace.bytes + plan.kv.bytes);
    expect(plan.fits).toBe(true);
  });

  it('the runner streams exactly the planned layers (the plan every later floor takes its part of)', async () => {
    const source = await openModel(fixture('llama-gqa')); // 2 layers
    const none = planForSource(source, { device: 'cuda:0', deviceTotalBytes: 1e9, maxModelLen: 64 });
    expect(none.memory.offload).toBeUndefined();
    expect(none.runner.streamedLayers).toBeUndefined();
    const one = planForSource(source, { device: 'cuda:0', deviceTotalBytes: 1e9, maxModelLen: 64, gpuLayers: 1 });
    expect(one.runner.streamedLayers).toEqual([1]);
    const all = planForSource(source, { device: 'cuda:0', deviceTotalBytes: 1e9, maxModelLen: 64, gpuLayers: 0 });
    expect(all.runner.streamedLayers).toEqual([0, 1]);
    expect(all.memory.offload).toMatchObject({ slots: 2, hostToDevice: DEFAULT_HOST_TO_DEVICE }); // no GPU here to measure
  });
});

describe('the split the planner picks', () => {
  it('every layer stays when the model fits with a step of KV cache', () => {
    const plan = computeMemoryPlan(spec, weights, cuda(24e9));
    expect(plan.offload).toBeUndefined();
    expect(plan.fits).toBe(true);
  });

  it('as many layers as fit beside the workspace and one sequence of maxModelLen, the rest streamed', () => {
    for (const [total, maxModelLen] of [[12e9, undefined], [12e9, 4096], [8e9, 1024], [4e9, undefined]] as const) {
      const plan = computeMemoryPlan(spec, weights, cuda(total, { maxModelLen }));
      const context = maxModelLen ?? 2048; // default: one step of maxNumBatchedTokens
      const budget = 0.9 * total;
      const need = (g: number) => deviceBytes(g) + plan.workspace.bytes + Math.ceil(context / 16) * plan.kv.blockBytes;
      const g = plan.offload!.gpuLayers;
      expect(plan.offload!.from).toBe('memory');
      expect(need(g)).toBeLessThanOrEqual(budget);
      expect(need(g + 1)).toBeGreaterThan(budget); // one more layer would not fit
      expect(plan.offload!.hostLayers).toEqual(Array.from({ length: L - g }, (_, i) => g + i));
      expect(plan.fits).toBe(true);
      // the KV cache takes what is left: at least the one sequence, less than one more layer's worth beyond it
      expect(plan.kv.tokens).toBeGreaterThanOrEqual(context);
      expect(plan.kv.bytes).toBeLessThan(Math.ceil(context / 16) * plan.kv.blockBytes + LAYER + plan.kv.blockBytes);
    }
  });

  it('the measured host → device bandwidth prices the transfers when there is one', () => {
    const h2d = { bytesPerSecond: 50e9, source: 'measured on cuda:0' };
    const plan = computeMemoryPlan(spec, weights, cuda(12e9, { hostToDevice: () => h2d }));
    expect(plan.offload!.hostToDevice).toBe(h2d);
    expect(plan.offload!.transferSecondsPerStep).toBe(plan.offload!.hostBytes / 50e9);
    // and it is not even asked when nothing streams
    expect(computeMemoryPlan(spec, weights, cuda(80e9, { hostToDevice: () => { throw new Error('asked'); } })).offload).toBeUndefined();
  });

  it('cpuOffloadBytes streams the fewest trailing layers that hold that many bytes', () => {
    const streamedFor = (bytes: number) => computeMemoryPlan(spec, weights, cuda(80e9, { cpuOffloadBytes: bytes })).offload?.hostLayers.length ?? 0;
    expect(streamedFor(0)).toBe(0);
    expect(streamedFor(1)).toBe(1);
    expect(streamedFor(3 * LAYER)).toBe(3);
    expect(streamedFor(3 * LAYER + 1)).toBe(4);
    expect(streamedFor(L * LAYER)).toBe(L);
    expect(computeMemoryPlan(spec, weights, cuda(80e9, { cpuOffloadBytes: 5e9 })).offload!.from).toBe('cpuOffloadBytes');
  });
});

describe('what cannot be split', () => {
  it('conflicting or impossible overrides are ERR_GPUFORMER_INPUT naming them', async () => {
    await expectCoded(() => computeMemoryPlan(spec, weights, cuda(80e9, { gpuLayers: 10, cpuOffloadBytes: 1e9 })), 'ERR_GPUFORMER_INPUT',
      /gpuLayers 10 and cpuOffloadBytes 1000000000 both set the split: give one of them/);
    await expectCoded(() => computeMemoryPlan(spec, weights, cuda(80e9, { gpuLayers: 33 })), 'ERR_GPUFORMER_INPUT',
      /gpuLayers 33 is more than the model's 32 layers/);
    await expectCoded(() => computeMemoryPlan(spec, weights, cuda(80e9, { cpuOffloadBytes: 20e9 })), 'ERR_GPUFORMER_INPUT',
      `cpuOffloadBytes 20000000000 (20.0 GB) is more than the 32 layers hold (${gb(L * LAYER)})`);
    await expectCoded(() => computeMemoryPlan(spec, weights, { device: 'cpu', activationDtype: 'f32', gpuLayers: 4, memoryBudgetBytes: 1e12 }),
      'ERR_GPUFORMER_INPUT', /gpuLayers: offload keeps layers in host memory for a CUDA device; on the cpu every layer is in host memory/);
  });

  it('not even one layer fits: ERR_GPUFORMER_OOM saying what every layer streamed would still need', async () => {
    const o = cuda(1.5e9);
    const plan = computeMemoryPlan(spec, weights, o);
    expect(plan.fits).toBe(false);
    expect(plan.offload).toBeUndefined(); // the plan shows the model as it is; the advice says what streaming gives
    const need = deviceBytes(0) + plan.workspace.bytes + (2048 / 16) * plan.kv.blockBytes;
    await expectCoded(() => planMemory(spec, weights, o), 'ERR_GPUFORMER_OOM',
      `offload: even with every layer streamed from host memory (gpuLayers 0) the GPU needs ${gb(need)}`);
  });

  it('a split the GPU cannot hold says how many layers would fit', async () => {
    const plan = computeMemoryPlan(spec, weights, cuda(12e9, { gpuLayers: 30 }));
    expect(plan.fits).toBe(false);
    const best = computeMemoryPlan(spec, weights, cuda(12e9)).offload!.gpuLayers;
    await expectCoded(() => planMemory(spec, weights, cuda(12e9, { gpuLayers: 30 })), 'ERR_GPUFORMER_OOM',
      /weights 13\.5 GB \(f16\), of which .* on the device \(30 of 32 layers, and 2 staging slots for the 2 streamed from host memory\)/,
      new RegExp(`gpuLayers: at most ${best} of 32 layers fit on the GPU with the rest streamed`));
  });

  it('streamed layers past the host memory allowed: ERR_GPUFORMER_OOM', async () => {
    const o = cuda(80e9, { gpuLayers: 0, hostBudgetBytes: 4e9 });
    expect(computeMemoryPlan(spec, weights, o).fits).toBe(false);
    await expectCoded(() => planMemory(spec, weights, o), 'ERR_GPUFORMER_OOM',
      `the device has room, but the streamed layers' ${gb(L * LAYER)} do not fit in host memory`,
      `host memory: the 32 streamed layers take ${gb(L * LAYER)} of pinned memory, more than the 4.0 GB allowed`);
    expect(computeMemoryPlan(spec, weights, o).advice).not.toContainEqual(expect.stringMatching(/gpuMemoryUtilization/));
  });
});

it('inspect shows the split, the bytes in each place and the transfer per step', () => {
  const text = formatPlan(computeMemoryPlan(spec, weights, cuda(12e9, { gpuLayers: 20 })));
  const per = (12 * LAYER) / 1e9;
  expect(text).toContain(`offload     20 of 32 layers on the GPU (gpuLayers); layers 20–31 (${per.toFixed(1)} GB) stream from pinned host ` +
    `memory through 2 staging slots of ${(LAYER / 1e6).toFixed(1)} MB`);
  expect(text).toContain(`per step ${per.toFixed(1)} GB host → device ÷ 25.0 GB/s (default for PCIe 4.0 x16 (no device to measure)) = ` +
    `${((12 * LAYER) / 25e9 * 1e3).toFixed(1)} ms of transfers`);
  expect(text).toMatch(/on the device, and 4\.\d GB of pinned host memory/);
});
