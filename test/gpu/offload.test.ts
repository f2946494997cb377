/**
 * Offload on the device (issue 17): layers whose weights stay in pinned host memory and stream in through two
 * staging slots on a copy stream (native/cuda/copy_queue.cc, lib/models/offload.ts).
 * - Runner level, on the device under test (the CPU in stand-in mode): streamed layers give bit for bit the
 *   logits and greedy ids of the runner with every layer in place — the same kernels read the same bytes,
 *   only from a slot — in prefill, in eager decode steps and in decode steps replayed as CUDA graphs (whose
 *   copy nodes and event edges are captured with them).
 * - Engine level (CUDA only): gpuLayers and a budget too small for every layer plan a split, the streamed
 *   layers' bytes are pinned host memory, greedy ids equal those of the engine without offload, and a bench
 *   line reports decode speed against the bytes each step moves over the host link (and the link's measured
 *   bandwidth): offloaded decode is bound by that link, so tokens/s × bytes per step should approach it.
 * - Pageable host memory is refused as a copy source; the bandwidth is measured.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { openModel } from '../../lib/loader/open';
import { CopyQueue, Tensor, native } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { FIXTURES, MODELS, readCases } from '../models/golden';
import { expectStreamedAsInPlace } from '../models/streamed-cases';
import { DEVICE, describeCuda, describeGpu } from './both-devices';

describeGpu.each([
  ['llama3-rope-scaled-sharded', [[2], [1, 2], [0, 1, 2]]],
  ['gpt2', [[1], [0, 1]]],
] as const)('%s with streamed layers, on the device', (name, splits) => {
  const prompts = readCases(name).map((c) => c.input_ids.slice(0, 40));

  test.each(['auto', 'q8_0'] as const)('the logits and greedy ids of the runner with every layer in place (%s)',
    (dtype) => expectStreamedAsInPlace(path.join(FIXTURES, name), DEVICE, dtype, splits, prompts, 8));
});

const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
/** the real model when this machine has it, else the largest fixture */
const MODEL = fs.existsSync(GGUF) ? GGUF : path.join(FIXTURES, 'llama3-rope-scaled-sharded');
const SIZES = { device: 'cuda:0' as const, maxModelLen: 256, maxNumSeqs: 4, maxNumBatchedTokens: 256 };

describeCuda('offload through the engine', () => {
  const prompt = Array.from({ length: 24 }, (_, i) => 1 + ((i * 37) % 400));

  /** greedy ids, and decode tokens per second after the first token */
  async function run(engine: Engine, tokens: number): Promise<{ ids: number[]; tokPerS: number }> {
    const at: number[] = [];
    const ids: number[] = [];
    for await (const c of engine.generate(prompt, { maxTokens: tokens, temperature: 0, ignoreEos: true })) {
      for (const id of c.tokenIds) {
        ids.push(id);
        at.push(performance.now());
      }
    }
    return { ids, tokPerS: ((at.length - 1) * 1e3) / (at[at.length - 1] - at[0]) };
  }

  it('gpuLayers: the streamed layers in pinned host memory, the greedy ids of the engine without offload, and the decode rate against the bytes moved', async () => {
    const L = (await openModel(MODEL)).spec.numLayers;
    const plain = await Engine.load(MODEL, { ...SIZES, memoryBudgetBytes: 2 ** 31 });
    let want: { ids: number[]; tokPerS: number };
    try {
      expect(plain.plan().offload).toBeUndefined();
      await run(plain, 8); // warm-up: programs prepared, graphs captured
      want = await run(plain, 64);
    } finally {
      await plain.dispose();
    }
    const gpuLayers = Math.floor(L / 3);
    const engine = await Engine.load(MODEL, { ...SIZES, memoryBudgetBytes: 2 ** 31, gpuLayers });
    try {
      const o = engine.plan().offload!;
      expect(o).toMatchObject({ gpuLayers, from: 'gpuLayers', slots: 2 });
      expect(o.hostLayers).toEqual(Array.from({ length: L - gpuLayers }, (_, i) => gpuLayers + i));
      expect(o.hostToDevice.source).toBe('measured on cuda:0');
      expect(engine.memory().hostWeightsBytes).toBeGreaterThanOrEqual(o.hostBytes);
      await run(engine, 8);
      const got = await run(engine, 64);
      expect(got.ids).toEqual(want.ids);
      const gbps = (got.tokPerS * o.hostBytes) / 1e9;
      // the bench line: decode streams o.hostBytes per token over the host link
      console.log(`offload decode (${path.basename(MODEL)}, ${L - gpuLayers} of ${L} layers streamed, ${(o.hostBytes / 1e6).toFixed(1)} MB per step): ` +
        `${got.tokPerS.toFixed(1)} tok/s = ${gbps.toFixed(1)} GB/s over the host link, measured ${(o.hostToDevice.bytesPerSecond / 1e9).toFixed(1)} GB/s ` +
        `(${((100 * gbps * 1e9) / o.hostToDevice.bytesPerSecond).toFixed(0)} %); every layer on the GPU: ${want.tokPerS.toFixed(1)} tok/s`);
    } finally {
      await engine.dispose();
    }
  });

  it('a budget too small for every layer streams the rest by itself, with the same greedy ids', async () => {
    const plain = await Engine.load(MODEL, { ...SIZES, memoryBudgetBytes: 2 ** 31 });
    const weights = plain.plan().params.bytes;
    const want = await run(plain, 16);
    await plain.dispose();
    // room for the weights minus a third, plus the workspace and KV the configuration needs
    const tight = Math.floor(weights * 0.67) + 2 ** 27;
    const engine = await Engine.load(MODEL, { ...SIZES, memoryBudgetBytes: tight });
    try {
      expect(engine.plan().offload).toMatchObject({ from: 'memory' });
      expect(engine.plan().totalBytes).toBeLessThanOrEqual(tight);
      expect((await run(engine, 16)).ids).toEqual(want.ids);
    } finally {
      await engine.dispose();
    }
  });
});

describeCuda('the copy queue on CUDA', () => {
  it('copies only from pinned host memory; the host link is measured', () => {
    const dst = Tensor.empty(DEVICE, 'f32', [1024], 'other');
    const pageable = Tensor.empty('cpu', 'f32', [1024], 'other');
    const pinned = Tensor.empty('cpu', 'f32', [1024], 'other', { pinned: true });
    const queue: CopyQueue = new native.CopyQueue(DEVICE, 2);
    try {
      expect(() => runSync([ops.fetchSlot({ queue, slot: 0, src: [pageable], dst: [dst] })])).toThrow(/must be pinned host memory/);
      pinned.write(Float32Array.from({ length: 1024 }, (_, i) => i));
      runSync([ops.releaseSlot({ queue, slot: 0 }), ops.fetchSlot({ queue, slot: 0, src: [pinned], dst: [dst] }), ops.waitSlot({ queue, slot: 0 })]);
      expect(Array.from(new Float32Array(dst.read()))).toEqual(Array.from({ length: 1024 }, (_, i) => i));
      expect(() => runSync([ops.waitSlot({ queue, slot: 2 })])).toThrow(/'slot' 2 is not a slot of the queue \(0\.\.1\)/);
      expect(native.hostToDeviceBandwidth(DEVICE)).toBeGreaterThan(1e9);
    } finally {
      dst.dispose();
      pageable.dispose();
      pinned.dispose();
    }
  });
});
