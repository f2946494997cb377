/**
 * The measurements of committed.test.ts, run in a fresh process (test/helpers/fresh-process.ts) so no other
 * test's engines share the process's memory: SmolLM2-135M with every default (issue 15's case), its memory
 * report when loaded and after a generation, beside what the process holds (VmRSS) at those moments.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import type { MemoryReport } from '../../lib/memory/ledger';
import { native } from '../../lib/native';

const GGUF = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

/** The process's resident bytes (Linux), or null. */
function rssBytes(): number | null {
  const m = fs.existsSync('/proc/self/status') ? /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync('/proc/self/status', 'utf8')) : null;
  return m ? Number(m[1]) * 1024 : null;
}

export interface Commitment {
  plan: { kvBytes: number; blockBytes: number; blockSize: number; totalBytes: number; paramBytes: number };
  /** the KV cache's address space, as the allocator reserved it */
  allocatedKv: number;
  fresh: MemoryReport;
  used: MemoryReport;
  /** prompt + generated tokens of the generation */
  tokens: number;
  rss: { fresh: number | null; used: number | null };
}

export async function kvCommitment(): Promise<Commitment> {
  const engine = await Engine.load(GGUF, { device: 'cpu' }); // every default: the budget is half of this machine's memory
  try {
    const p = engine.plan();
    const fresh = engine.memory();
    const rssFresh = rssBytes();
    const r = await engine.complete('Tell me a story about a lighthouse keeper.', { maxTokens: 40 });
    return {
      plan: { kvBytes: p.kv.bytes, blockBytes: p.kv.blockBytes, blockSize: p.kv.blockSize, totalBytes: p.totalBytes, paramBytes: p.params.bytes },
      allocatedKv: native.memoryTotals('cpu').kv,
      fresh, used: engine.memory(), tokens: r.usage.totalTokens, rss: { fresh: rssFresh, used: rssBytes() },
    };
  } finally {
    await engine.dispose();
  }
}
