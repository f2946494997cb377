/**
 * The pool of KV-cache blocks (vLLM's BlockPool): reference counts, the free queue, and the prefix-cache
 * map from block hash to block. It knows nothing of sequences; the block manager (block-manager.ts) builds
 * block tables on top of it.
 *
 * Invariants (checked by test/kv):
 *  - A block is in the free queue exactly when its refCount is 0. Free blocks are either plain (hash null)
 *    or cached (hash set, still listed in `cached`): a cached free block keeps its keys and values until it
 *    is evicted, so a later sequence with the same prefix can take it back (touch) without recomputing.
 *  - The free queue is kept in eviction order: the head is evicted first. Blocks are appended when their
 *    last user frees them, so the queue runs from least to most recently used. Callers free a sequence's
 *    blocks tail first, so a sequence's last blocks (the least shareable) go before its first ones.
 *  - `cached` maps each hash to at most one block, and that block's `hash` is that key. Cached blocks are
 *    never de-duplicated: if a second block computes the same prefix, it simply stays uncached, so block
 *    tables never have to change under a running sequence (they stay append-only).
 *  - Allocation takes from the head; a cached block taken that way is evicted (dropped from `cached`).
 */
import { GpuformerError, inputError } from '../errors';
import type { BlockHash } from './block-hash';

interface Block {
  readonly id: number;
  refCount: number;
  hash: BlockHash | null;
  /** links of the doubly linked free queue (null when not queued, or at an end) */
  prev: Block | null;
  next: Block | null;
  queued: boolean;
}

export interface BlockPoolStats {
  total: number;
  /** blocks some sequence holds (refCount > 0) */
  used: number;
  /** free blocks that still hold a cached prefix (evictable) */
  cached: number;
  /** free blocks holding nothing */
  empty: number;
  /** cache entries evicted so far */
  evictions: number;
}

export class BlockPool {
  private readonly blocks: Block[];
  /** hash → the one block holding that prefix (in use or free) */
  private readonly cached = new Map<BlockHash, Block>();
  private head: Block | null = null;
  private tail: Block | null = null;
  private freeCount = 0;
  private cachedFreeCount = 0;
  private evictions = 0;

  constructor(readonly numBlocks: number, readonly enableCaching: boolean) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw inputError(`BlockPool: numBlocks must be a positive integer, got ${numBlocks}`);
    this.blocks = Array.from({ length: numBlocks }, (_, id) => ({ id, refCount: 0, hash: null, prev: null, next: null, queued: false }));
    for (const b of this.blocks) this.enqueue(b);
  }

  /** Blocks an allocation can take right now (plain free blocks plus evictable cached ones). */
  get numFree(): number {
    return this.freeCount;
  }

  /** The block holding the prefix with this hash, if cached (in use or not). */
  lookup(hash: BlockHash): number | undefined {
    return this.cached.get(hash)?.id;
  }

  /** Whether a block is in the free queue (a cache hit on it takes it out, so it costs a free block). */
  isFree(id: number): boolean {
    return this.block(id).refCount === 0;
  }

  refCount(id: number): number {
    return this.block(id).refCount;
  }

  hashOf(id: number): BlockHash | null {
    return this.block(id).hash;
  }

  /** Takes n blocks from the head of the free queue (evicting cached ones), each with refCount 1. */
  allocate(n: number): number[] {
    if (n > this.freeCount) {
      throw new GpuformerError('ERR_GPUFORMER_OOM', `BlockPool: ${n} blocks requested, ${this.freeCount} free`);
    }
    const out: number[] = [];
    for (let i = 0; i < n; i++) {
      const b = this.head!;
      this.dequeue(b);
      if (b.hash !== null) this.evict(b);
      b.refCount = 1;
      out.push(b.id);
    }
    return out;
  }

  /** Adds a user to each block (a prefix-cache hit); blocks with no user leave the free queue. */
  touch(ids: readonly number[]): void {
    for (const id of ids) {
      const b = this.block(id);
      if (b.refCount === 0) this.dequeue(b);
      b.refCount++;
    }
  }

  /**
   * Drops one user from each block, in the order given: blocks left with no user join the tail of the free
   * queue in that order (so pass a sequence's blocks last-first; its first blocks then outlive the rest).
   */
  free(ids: readonly number[]): void {
    for (const id of ids) {
      const b = this.block(id);
      if (b.refCount <= 0) throw inputError(`BlockPool: block ${id} freed more often than it was taken`);
      b.refCount--;
      if (b.refCount === 0) this.enqueue(b);
    }
  }

  /**
   * Records that a block in use now holds the full prefix `hash`. If another block already holds that
   * prefix, this one stays uncached (no de-duplication: see the invariants). Returns whether it was cached.
   */
  cache(id: number, hash: BlockHash): boolean {
    if (!this.enableCaching) return false;
    const b = this.block(id);
    if (b.refCount === 0) throw inputError(`BlockPool: block ${id} is free; only blocks in use can be cached`);
    if (b.hash !== null) return b.hash === hash;
    if (this.cached.has(hash)) return false;
    b.hash = hash;
    this.cached.set(hash, b);
    return true;
  }

  /** Drops every cached prefix (e.g. after the model's weights change); blocks in use are untouched. */
  resetCache(): void {
    for (const b of this.cached.values()) {
      if (b.refCount === 0) this.cachedFreeCount--;
      b.hash = null;
    }
    this.cached.clear();
  }

  stats(): BlockPoolStats {
    return {
      total: this.numBlocks,
      used: this.numBlocks - this.freeCount,
      cached: this.cachedFreeCount,
      empty: this.freeCount - this.cachedFreeCount,
      evictions: this.evictions,
    };
  }

  /** Free block ids from head (evicted next) to tail; for tests and debugging. */
  freeQueue(): number[] {
    const out: number[] = [];
    for (let b = this.head; b; b = b.next) out.push(b.id);
    return out;
  }

  // ------------------------------------------------------------------------------- internals

  private block(id: number): Block {
    const b = this.blocks[id];
    if (!b) throw inputError(`BlockPool: block id ${id} is not in [0, ${this.numBlocks})`);
    return b;
  }

  private evict(b: Block): void {
    this.cached.delete(b.hash!);
    b.hash = null;
    this.evictions++;
  }

  private enqueue(b: Block): void {
    b.prev = this.tail;
    b.next = null;
    if (this.tail) this.tail.next = b;
    else this.head = b;
    this.tail = b;
    b.queued = true;
    this.freeCount++;
    if (b.hash !== null) this.cachedFreeCount++;
  }

  private dequeue(b: Block): void {
    if (!b.queued) throw new Error(`BlockPool: block ${b.id} is not in the free queue`);
    if (b.prev) b.prev.next = b.next;
    else this.head = b.next;
    if (b.next) b.next.prev = b.prev;
    else this.tail = b.prev;
    b.prev = b.next = null;
    b.queued = false;
    this.freeCount--;
    if (b.hash !== null) this.cachedFreeCount--;
  }
}
