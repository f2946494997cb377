/**
 * The paged KV block manager: one block table per sequence over a shared BlockPool, with prefix caching.
 * The scheduler asks it for room before scheduling tokens (allocate), tells it which blocks a finished step
 * filled (commit), and hands blocks back when a sequence ends or is preempted (free).
 *
 * Invariants (checked by test/kv and the randomized scheduler tests):
 *  - tables.get(seq)[i] holds the keys and values of token positions [i·blockSize, (i+1)·blockSize).
 *    A table only grows while its sequence lives (append-only); free() drops it whole.
 *  - Each block in a table counts one reference in the pool; a block appears in several tables only when it
 *    is a cached full block, i.e. all those sequences share the whole token prefix up to its end.
 *  - committed.get(seq) = how many leading blocks of the table are full, computed, and offered to the cache.
 */
import { inputError } from '../errors';
import { checkPositiveInt } from '../core/checks';
import type { KvCacheShape } from '../core/step';
import type { BlockHash } from './block-hash';
import { BlockPool } from './block-pool';

export interface BlockManagerOptions extends KvCacheShape {
  enablePrefixCaching: boolean;
}

export interface PrefixHit {
  /** cached blocks holding the sequence's first blocks.length · blockSize tokens */
  blocks: number[];
  numTokens: number;
  /** tokens the lookup was for (the sequence's length when it was looked up) */
  queriedTokens: number;
}

export interface KvStats {
  blockSize: number;
  total: number;
  used: number;
  /** free blocks still holding a cached prefix */
  cached: number;
  free: number;
  evictions: number;
  /** prompt tokens looked up in the prefix cache on admission, and how many were found */
  queriedTokens: number;
  hitTokens: number;
  /** hitTokens / queriedTokens (0 before any lookup) */
  hitRate: number;
}

export class BlockManager {
  readonly blockSize: number;
  readonly numBlocks: number;
  private readonly pool: BlockPool;
  private readonly tables = new Map<number, number[]>();
  private readonly committed = new Map<number, number>();
  private queriedTokens = 0;
  private hitTokens = 0;

  constructor(readonly options: BlockManagerOptions) {
    const { numBlocks, blockSize } = options;
    checkPositiveInt(blockSize, 'BlockManager: blockSize');
    this.blockSize = blockSize;
    this.numBlocks = numBlocks;
    this.pool = new BlockPool(numBlocks, options.enablePrefixCaching);
  }

  /** Blocks needed to hold n tokens. */
  blocksFor(numTokens: number): number {
    return Math.ceil(numTokens / this.blockSize);
  }

  get numFree(): number {
    return this.pool.numFree;
  }

  /** The block table of a sequence (empty if it holds none). */
  table(seqId: number): readonly number[] {
    return this.tables.get(seqId) ?? [];
  }

  has(seqId: number): boolean {
    return this.tables.has(seqId);
  }

  /**
   * The longest run of leading full blocks of a new sequence that the cache holds. `hashes` are the chained
   * hashes of its full blocks; at least one of its numTokens tokens is always left to compute, since the
   * step that computes it is the one that yields the logits to sample from.
   */
  lookupPrefix(hashes: readonly BlockHash[], numTokens: number): PrefixHit {
    const blocks: number[] = [];
    if (!this.options.enablePrefixCaching) return { blocks, numTokens: 0, queriedTokens: 0 };
    const maxBlocks = Math.min(hashes.length, Math.floor((numTokens - 1) / this.blockSize));
    for (let i = 0; i < maxBlocks; i++) {
      const id = this.pool.lookup(hashes[i]);
      if (id === undefined) break;
      blocks.push(id);
    }
    return { blocks, numTokens: blocks.length * this.blockSize, queriedTokens: numTokens };
  }

  /**
   * Grows a sequence's table to hold `numTokens` tokens. A sequence that holds no blocks yet may start from
   * a prefix hit (`hit` from lookupPrefix, taken in the same scheduling pass). Returns false, changing
   * nothing, when the free blocks do not suffice.
   */
  allocate(seqId: number, numTokens: number, hit?: PrefixHit): boolean {
    let table = this.tables.get(seqId);
    const hitBlocks = hit?.blocks ?? [];
    if (table && hitBlocks.length > 0) throw inputError(`BlockManager: sequence ${seqId} already holds blocks; prefix hits are for new sequences`);
    const have = (table?.length ?? 0) + hitBlocks.length;
    const need = Math.max(0, this.blocksFor(numTokens) - have);
    // hit blocks nobody uses sit in the free queue: taking them costs free blocks too
    const hitFromFree = hitBlocks.reduce((n, id) => n + (this.pool.isFree(id) ? 1 : 0), 0);
    if (need + hitFromFree > this.pool.numFree) return false;
    if (!table) {
      table = [];
      this.tables.set(seqId, table);
      this.committed.set(seqId, hitBlocks.length);
      if (hit) {
        this.queriedTokens += hit.queriedTokens;
        this.hitTokens += hit.numTokens;
      }
    }
    if (hitBlocks.length) {
      this.pool.touch(hitBlocks);
      table.push(...hitBlocks);
    }
    if (need) table.push(...this.pool.allocate(need));
    return true;
  }

  /**
   * After a step: the sequence's first numComputedTokens tokens are in the cache, and `hashes` are the
   * chained hashes of its full blocks. Offers each newly filled and computed block to the prefix cache.
   */
  commit(seqId: number, hashes: readonly BlockHash[], numComputedTokens: number): void {
    const table = this.tables.get(seqId);
    if (!table) return;
    const full = Math.min(Math.floor(numComputedTokens / this.blockSize), hashes.length, table.length);
    let done = this.committed.get(seqId) ?? 0;
    for (; done < full; done++) this.pool.cache(table[done], hashes[done]);
    this.committed.set(seqId, done);
  }

  /** Gives back every block of a sequence, last block first (so its prefix stays cached the longest). */
  free(seqId: number): void {
    const table = this.tables.get(seqId);
    if (!table) return;
    this.tables.delete(seqId);
    this.committed.delete(seqId);
    this.pool.free([...table].reverse());
  }

  /** Forgets every cached prefix (blocks in use keep their contents). */
  resetPrefixCache(): void {
    this.pool.resetCache();
  }

  stats(): KvStats {
    const p = this.pool.stats();
    return {
      blockSize: this.blockSize,
      total: p.total,
      used: p.used,
      cached: p.cached,
      free: p.empty,
      evictions: p.evictions,
      queriedTokens: this.queriedTokens,
      hitTokens: this.hitTokens,
      hitRate: this.queriedTokens ? this.hitTokens / this.queriedTokens : 0,
    };
  }

  /** Reference count of a block (tests check sharing against it). */
  refCount(blockId: number): number {
    return this.pool.refCount(blockId);
  }

  /** The prefix hash a block is cached under, or null. */
  hashOf(blockId: number): BlockHash | null {
    return this.pool.hashOf(blockId);
  }

  /** The pool's free queue, head (next evicted) first. */
  freeQueue(): number[] {
    return this.pool.freeQueue();
  }
}
