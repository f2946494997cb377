/**
 * The ledger: the memory held right now, read from the native allocator by tag (every device byte goes
 * through one tagged allocator, DESIGN section 3), next to the plan's budget and the KV cache's use. This
 * is what engine.memory() and /metrics report (DESIGN section 7).
 *
 * Every byte count is memory really held. On CUDA an allocation is backed when it is made. On the CPU an
 * allocation is address space the OS backs page by page as it is first written: a KV cache is sized for
 * maxNumSeqs sequences of maxModelLen tokens (the plan's kv.bytes, at most what the budget leaves) and
 * grows into that as its blocks are first used, so the report reads each allocation's resident pages
 * (native committedBytes) instead of the sizes asked for.
 */
import { DeviceName, MemoryTag, MemoryTotals, native } from '../native';
import type { MemoryPlan } from './planner';

export interface KvUsage {
  /** blocks held by running sequences */
  usedBlocks: number;
  /** free blocks that still hold a cached prefix */
  cachedBlocks?: number;
}

export interface MemoryReport {
  device: DeviceName;
  /** what the load may use (the plan's budget: a limit, not memory held) */
  budgetBytes: number;
  weightsBytes: number;
  /** blocks: the cache's capacity in blocks of blockBytes; bytes: the memory it holds (CPU: the blocks used so far) */
  kv: { blocks: number; usedBlocks: number; cachedBlocks: number; blockBytes: number; bytes: number };
  workspaceBytes: number;
  activationsBytes: number;
  otherBytes: number;
  /** the highest total held seen on this device kind (all tags; on the CPU, over the reports so far) */
  peakBytes: number;
  /** with offload: weight bytes in (pinned) host memory, counted on the cpu (all engines together) */
  hostWeightsBytes?: number;
}

export const MEMORY_TAGS: MemoryTag[] = ['weights', 'kv', 'workspace', 'activations', 'other'];

/** The allocator's live bytes by tag on a device kind ('cpu', or all CUDA devices together). */
export function memoryTotals(device: DeviceName): MemoryTotals {
  return native.memoryTotals(device);
}

/** The bytes held by tag on a device kind (see the file comment), and the highest total seen. */
export function committedBytes(device: DeviceName): Record<MemoryTag, number> & { peak: number } {
  return native.committedBytes(device);
}

/**
 * engine.memory(): the memory held by tag, the plan's budget and KV geometry, and the KV cache's use (from
 * the block manager). Note the totals are per device kind: two engines on one device are summed.
 */
export function memoryReport(device: DeviceName, plan: MemoryPlan | null, kv: KvUsage = { usedBlocks: 0 }): MemoryReport {
  const t = committedBytes(device);
  return {
    device,
    budgetBytes: plan?.budget.bytes ?? 0,
    weightsBytes: t.weights,
    kv: {
      blocks: plan?.kv.blocks ?? 0,
      usedBlocks: kv.usedBlocks,
      cachedBlocks: kv.cachedBlocks ?? 0,
      blockBytes: plan?.kv.blockBytes ?? 0,
      bytes: t.kv,
    },
    workspaceBytes: t.workspace,
    activationsBytes: t.activations,
    otherBytes: t.other,
    peakBytes: t.peak,
    ...(plan?.offload ? { hostWeightsBytes: memoryTotals('cpu').weights } : {}),
  };
}
