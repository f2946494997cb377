/**
 * Memory that tells the truth: engine.memory() (and /metrics) count bytes really held. On the CPU the KV cache
 * is sized for what the configuration can use (maxNumSeqs sequences of maxModelLen tokens, capped by the
 * budget) and the OS backs it page by page as blocks are first written, so a fresh engine's cache holds
 * nothing, grows with the blocks a generation uses, and the total reported never exceeds what the process
 * holds (VmRSS). The case from issue 15: SmolLM2-135M with every default reported 12 GB of "kv" while the
 * process held 190 MB.
 */
import * as fs from 'fs';
import { Engine } from '../../lib/engine/engine';
import { native } from '../../lib/native';
import { GGUF_FILE } from '../loader/helpers';

/** The process's resident bytes (Linux), or undefined. */
function rssBytes(): number | undefined {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.existsSync('/proc/self/status') ? fs.readFileSync('/proc/self/status', 'utf8') : '');
  return m ? Number(m[1]) * 1024 : undefined;
}

let engine: Engine;
beforeAll(async () => {
  engine = await Engine.load(GGUF_FILE, { device: 'cpu' }); // every default: the budget is half of this machine's memory
});
afterAll(async () => engine?.dispose());

it('a KV cache nobody has used holds nothing; it grows with the blocks a generation writes', async () => {
  const plan = engine.plan();
  const allocated = native.memoryTotals('cpu');
  expect(allocated.kv).toBeGreaterThanOrEqual(plan.kv.bytes); // the address space is reserved for the whole cache
  expect(plan.kv.bytes).toBeGreaterThan(256 * 2 ** 20);
  const fresh = engine.memory();
  expect(fresh.kv.bytes).toBeLessThan(plan.kv.blockBytes);
  expect(fresh.weightsBytes).toBeGreaterThanOrEqual(plan.params.bytes); // every weight byte was written

  const r = await engine.complete('Tell me a story about a lighthouse keeper.', { maxTokens: 40 });
  const tokens = r.usage.totalTokens;
  const used = engine.memory();
  const blocks = Math.ceil(tokens / plan.kv.blockSize);
  // the last token sampled is never written: the first tokens − 1 slots are
  expect(used.kv.bytes).toBeGreaterThanOrEqual(Math.floor((tokens - 1) / plan.kv.blockSize) * plan.kv.blockBytes);
  expect(used.kv.bytes).toBeLessThanOrEqual(2 * (blocks + 1) * plan.kv.blockBytes); // whole pages around the blocks written
  expect(used.peakBytes).toBeGreaterThanOrEqual(used.weightsBytes + used.kv.bytes);
});

it('never reports more than the process holds', async () => {
  const m = engine.memory();
  const held = m.weightsBytes + m.kv.bytes + m.workspaceBytes + m.activationsBytes + m.otherBytes;
  const rss = rssBytes();
  if (rss !== undefined) expect(held).toBeLessThanOrEqual(rss);
  expect(held).toBeLessThan(engine.plan().totalBytes);
});
