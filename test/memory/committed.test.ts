/**
 * Memory that tells the truth: engine.memory() (and /metrics) count bytes really held. On the CPU the KV cache
 * is sized for what the configuration can use (maxNumSeqs sequences of maxModelLen tokens, capped by the
 * budget) and the OS backs it page by page as blocks are first written, so a fresh engine's cache holds
 * nothing, grows with the blocks a generation uses, and what is reported never exceeds what the process
 * holds (VmRSS). The case from issue 15: SmolLM2-135M with every default reported 12 GB of "kv" while the
 * process held 190 MB. Measured in a fresh process (committed-cases.ts): the report is per process.
 */
import * as path from 'path';
import { runInFreshProcess } from '../helpers/fresh-process';
import type { Commitment } from './committed-cases';

const m = runInFreshProcess<Commitment>(path.join(__dirname, 'committed-cases.ts'), 'kvCommitment', null);
const held = (r: Commitment['fresh']) => r.weightsBytes + r.kv.bytes + r.workspaceBytes + r.activationsBytes + r.otherBytes;

it('a KV cache nobody has used holds nothing; it grows with the blocks a generation writes', () => {
  const { plan } = m;
  expect(m.allocatedKv).toBeGreaterThanOrEqual(plan.kvBytes); // the address space is reserved for the whole cache
  expect(plan.kvBytes).toBeGreaterThan(256 * 2 ** 20);
  expect(m.fresh.kv.bytes).toBeLessThan(plan.blockBytes);
  expect(m.fresh.weightsBytes).toBe(plan.paramBytes); // every weight byte was written
  // the last token sampled is never written: the first tokens − 1 slots are, whole pages around them
  expect(m.used.kv.bytes).toBeGreaterThanOrEqual(Math.floor((m.tokens - 1) / plan.blockSize) * plan.blockBytes);
  expect(m.used.kv.bytes).toBeLessThanOrEqual(2 * (Math.ceil(m.tokens / plan.blockSize) + 1) * plan.blockBytes);
  expect(m.used.peakBytes).toBeGreaterThanOrEqual(held(m.used));
});

it('never reports more than the process holds', () => {
  for (const [report, rss] of [[m.fresh, m.rss.fresh], [m.used, m.rss.used]] as const) {
    if (rss !== null) expect(held(report)).toBeLessThanOrEqual(rss);
    expect(held(report)).toBeLessThan(m.plan.totalBytes);
  }
});
