/**
 * The ledger against the plan: after loading a fixture model the allocator's 'weights' tag equals the
 * plan's weight bytes, the runner's KV cache and step buffers equal the plan's KV and workspace, and after
 * dispose — or after a failed load — every tag is back where it was. (What memory() reports is the part
 * of those allocations the OS backs: test/memory/committed.test.ts.)
 */
import * as fs from 'fs';
import * as path from 'path';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { loadWeights } from '../../lib/loader/weights';
import { MEMORY_TAGS, memoryReport } from '../../lib/memory/ledger';
import { createRunner } from '../../lib/models/runner';
import { MemoryTotals, native } from '../../lib/native';
import { GGUF_FILE, MODELS, expectCoded, fixture, fixtureCopy, removeTempDirs } from '../loader/helpers';

afterAll(removeTempDirs);

const totals = () => native.memoryTotals('cpu');
const delta = (a: MemoryTotals, b: MemoryTotals) => Object.fromEntries(MEMORY_TAGS.map((t) => [t, b[t] - a[t]]));
const zero = Object.fromEntries(MEMORY_TAGS.map((t) => [t, 0]));

describe('loaded weights match the plan, and dispose returns every byte', () => {
  it.each([
    ['gpt2', fixture('gpt2')],
    ['qwen2-bias-bf16', fixture('qwen2-bias-bf16')],
    ['llama3-rope-scaled-sharded', fixture('llama3-rope-scaled-sharded')],
    ['all-MiniLM-L6-v2', path.join(MODELS, 'all-MiniLM-L6-v2')],
    ['SmolLM2 GGUF (quantized blocks kept)', GGUF_FILE],
  ])('%s', async (_name, where) => {
    const source = await openModel(where);
    const before = totals();
    const plan = planForSource(source, { device: 'cpu', memoryBudgetBytes: 2e9, maxNumSeqs: 4, maxNumBatchedTokens: 128, maxModelLen: 128 });
    expect(delta(before, totals())).toEqual(zero); // planning allocates nothing
    const loaded = await loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' });
    const report = memoryReport('cpu', plan.memory);
    expect(report.weightsBytes - before.weights).toBe(plan.memory.params.bytes);
    expect(report.budgetBytes).toBe(2e9);
    expect(report.device).toBe('cpu');
    expect(report.kv).toEqual({ blocks: plan.memory.kv.blocks, usedBlocks: 0, cachedBlocks: 0, blockBytes: plan.memory.kv.blockBytes, bytes: before.kv });
    expect(report.peakBytes).toBeGreaterThanOrEqual(report.weightsBytes);
    loaded.forEach((t) => t.dispose());
    expect(delta(before, totals())).toEqual(zero);
  });
});

describe('a whole runner against the plan', () => {
  it.each(['llama-gqa', 'gpt2', 'bert'])('%s: weights, KV cache and workspace as planned; all back to zero after dispose', async (name) => {
    const source = await openModel(fixture(name));
    const before = totals();
    const plan = planForSource(source, { device: 'cpu', memoryBudgetBytes: 64e6, maxNumSeqs: 4, maxNumBatchedTokens: 128 });
    const m = plan.memory;
    const loaded = await loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' });
    const runner = createRunner(source.spec, plan.weightPlan, loaded, {
      device: 'cpu', activationDtype: plan.precision.activation, maxNumBatchedTokens: m.workspace.maxNumBatchedTokens,
      maxNumSeqs: m.workspace.maxNumSeqs, maxModelLen: m.maxModelLen, blockSize: m.kv.blockSize, numBlocks: m.kv.blocks,
    });
    const d = delta(before, totals());
    expect(d.weights).toBe(m.params.bytes);
    expect(d.kv).toBe(m.kv.bytes);
    expect(d.workspace + d.activations).toBe(m.workspace.bytes);
    // RoPE tables and the like: small, and not part of the plan's three big parts
    expect(d.other).toBeLessThan(64 * 1024);
    const used = d.weights + d.kv + d.workspace + d.activations + d.other;
    expect(used).toBeLessThanOrEqual(m.budget.bytes);
    if (source.spec.causal) expect(m.kv.blocks).toBe(4 * Math.ceil(m.maxModelLen / 16)); // CPU: maxNumSeqs sequences
    const report = memoryReport('cpu', m, { usedBlocks: 3, cachedBlocks: 1 });
    expect(report.kv).toMatchObject({ usedBlocks: 3, cachedBlocks: 1, blocks: m.kv.blocks });
    // the bytes held: on the CPU the pages written so far, at most what was reserved (test/memory/committed.test.ts)
    expect(report.kv.bytes).toBeLessThanOrEqual(before.kv + m.kv.bytes);
    runner.dispose();
    expect(delta(before, totals())).toEqual(zero);
  });
});

describe('failed loads leave nothing allocated', () => {
  it('a shard that turns out truncated while streaming', async () => {
    // the header is intact, so opening succeeds; the bytes of the last tensors are gone
    const src = path.join(fixture('llama-gqa'), 'model.safetensors');
    const bytes = fs.readFileSync(src);
    const dir = fixtureCopy(fixture('llama-gqa'), { 'model.safetensors': bytes });
    const source = await openModel(dir);
    fs.truncateSync(path.join(dir, 'model.safetensors'), bytes.length - 4096);
    const before = totals();
    const plan = planForSource(source, { device: 'cpu', memoryBudgetBytes: 64e6, maxNumSeqs: 2, maxNumBatchedTokens: 64 });
    await expectCoded(loadWeights(source.tensors, plan.weightPlan.requests, { device: 'cpu' }), 'ERR_GPUFORMER_BAD_WEIGHTS', /truncated/);
    expect(delta(before, totals())).toEqual(zero);
    expect(totals().allocations).toBe(before.allocations);
  });

  it('a plan that does not fit allocates nothing at all', async () => {
    const source = await openModel(fixture('llama-gqa'));
    const before = totals();
    await expectCoded(() => planForSource(source, { device: 'cpu', memoryBudgetBytes: 1e6 }), 'ERR_GPUFORMER_OOM');
    expect(totals().allocations).toBe(before.allocations);
  });
});
