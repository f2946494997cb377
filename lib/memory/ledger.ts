/**
 * The ledger: what is allocated right now, read from the native allocator's totals by tag (every device
 * byte goes through one tagged allocator, DESIGN section 3), next to the plan's budget and the KV cache's
 * use. This is what engine.memory() returns (DESIGN section 7).
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
  budgetBytes: number;
  weightsBytes: number;
  kv: { blocks: number; usedBlocks: number; cachedBlocks: number; blockBytes: number; bytes: number };
  workspaceBytes: number;
  activationsBytes: number;
  otherBytes: number;
  /** highest live total seen on this device kind (all tags) */
  peakBytes: number;
}

export const MEMORY_TAGS: MemoryTag[] = ['weights', 'kv', 'workspace', 'activations', 'other'];

/** The allocator's live bytes by tag on a device kind ('cpu', or all CUDA devices together). */
export function memoryTotals(device: DeviceName): MemoryTotals {
  return native.memoryTotals(device);
}

/**
 * engine.memory(): the allocator's totals by tag, the plan's budget and KV geometry, and the KV cache's use
 * (from the block manager). Note the totals are per device kind: two engines on one device are summed.
 */
export function memoryReport(device: DeviceName, plan: MemoryPlan | null, kv: KvUsage = { usedBlocks: 0 }): MemoryReport {
  const t = memoryTotals(device);
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
  };
}
