/**
 * The paged KV block manager and its pool: allocation and reference counts, prefix caching by chained block
 * hashes (hits, the one-token-left rule, no de-duplication), LRU eviction of cached blocks nobody uses,
 * and the statistics.
 */
import { hashBlock, extendBlockHashes, BlockHash } from '../../lib/kv/block-hash';
import { BlockManager } from '../../lib/kv/block-manager';
import { BlockPool } from '../../lib/kv/block-pool';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => from + i);
const hashesOf = (tokens: number[], bs: number) => extendBlockHashes([], tokens, bs);

describe('block hashes', () => {
  it('chain the whole prefix: equal blocks under different parents differ', () => {
    const a = hashBlock(null, [1, 2, 3, 4]);
    expect(hashBlock(null, [1, 2, 3, 4])).toBe(a);
    expect(hashBlock(null, [1, 2, 3, 5])).not.toBe(a);
    const childOfA = hashBlock(a, [9, 9, 9, 9]);
    const childOfB = hashBlock(hashBlock(null, [4, 3, 2, 1]), [9, 9, 9, 9]);
    expect(childOfA).not.toBe(childOfB);
    expect(a).toMatch(/^[0-9a-f]{32}$/);
  });

  it('extend only full blocks, incrementally', () => {
    const tokens = range(0, 10);
    const h = hashesOf(tokens, 4);
    expect(h).toHaveLength(2);
    tokens.push(10, 11);
    extendBlockHashes(h, tokens, 4);
    expect(h).toEqual(hashesOf(range(0, 12), 4));
    expect(h[2]).toBe(hashBlock(h[1], [8, 9, 10, 11]));
  });
});

describe('BlockPool', () => {
  it('allocates from the head, frees to the tail, counts references', () => {
    const pool = new BlockPool(4, true);
    expect(pool.allocate(2)).toEqual([0, 1]);
    expect(pool.stats()).toMatchObject({ total: 4, used: 2, cached: 0, empty: 2 });
    pool.touch([1]);
    expect(pool.refCount(1)).toBe(2);
    pool.free([1, 0]);
    expect(pool.refCount(1)).toBe(1);
    expect(pool.freeQueue()).toEqual([2, 3, 0]);
    pool.free([1]);
    expect(pool.freeQueue()).toEqual([2, 3, 0, 1]);
    expect(() => pool.free([1])).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' }));
    expect(() => pool.allocate(5)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_OOM' }));
    expect(() => pool.touch([7])).toThrow(/block id 7/);
  });

  it('keeps freed cached blocks until they reach the head, then evicts them', () => {
    const pool = new BlockPool(3, true);
    const [a, b] = pool.allocate(2);
    expect(pool.cache(a, 'ha')).toBe(true);
    expect(pool.cache(b, 'ha')).toBe(false); // never de-duplicated: b stays uncached
    pool.free([b, a]);
    expect(pool.stats()).toMatchObject({ used: 0, cached: 1, empty: 2 });
    expect(pool.lookup('ha')).toBe(a);
    // the queue is [2, b, a]: two allocations leave the cached block alone, the third evicts it
    pool.allocate(2);
    expect(pool.lookup('ha')).toBe(a);
    pool.allocate(1);
    expect(pool.lookup('ha')).toBeUndefined();
    expect(pool.stats()).toMatchObject({ used: 3, cached: 0, evictions: 1 });
  });

  it('a touched cached block leaves the free queue and is not evicted', () => {
    const pool = new BlockPool(2, true);
    const [a] = pool.allocate(1);
    pool.cache(a, 'h');
    pool.free([a]);
    pool.touch([a]);
    expect(pool.freeQueue()).toEqual([1]);
    pool.allocate(1);
    expect(pool.lookup('h')).toBe(a);
    expect(() => pool.allocate(1)).toThrow(/1 blocks requested, 0 free/);
  });

  it('caches nothing when caching is off', () => {
    const pool = new BlockPool(2, false);
    const [a] = pool.allocate(1);
    expect(pool.cache(a, 'h')).toBe(false);
    expect(pool.lookup('h')).toBeUndefined();
  });
});

describe('BlockManager', () => {
  const bs = 4;
  const make = (numBlocks: number, enablePrefixCaching = true) => new BlockManager({ numBlocks, blockSize: bs, enablePrefixCaching });

  it('grows a table as tokens arrive and frees it whole', () => {
    const m = make(8);
    expect(m.allocate(1, 5)).toBe(true);
    expect(m.table(1)).toHaveLength(2);
    expect(m.allocate(1, 8)).toBe(true);
    expect(m.table(1)).toHaveLength(2);
    expect(m.allocate(1, 9)).toBe(true);
    expect(m.table(1)).toHaveLength(3);
    expect(m.stats()).toMatchObject({ total: 8, used: 3, free: 5, cached: 0 });
    m.free(1);
    expect(m.table(1)).toEqual([]);
    expect(m.stats()).toMatchObject({ used: 0, free: 8 });
  });

  it('refuses an allocation that does not fit and changes nothing', () => {
    const m = make(3);
    expect(m.allocate(1, 8)).toBe(true);
    expect(m.allocate(2, 8)).toBe(false);
    expect(m.has(2)).toBe(false);
    expect(m.allocate(1, 13)).toBe(false);
    expect(m.table(1)).toHaveLength(2);
    expect(m.numFree).toBe(1);
  });

  it('shares the cached blocks of a common prefix and reports the hit rate', () => {
    const m = make(10);
    const a = [...range(100, 8), 1, 2, 3];          // 2 full blocks + 3 tokens
    const b = [...range(100, 8), 7, 7, 7, 7, 7];    // same first 2 blocks, then 2 blocks of its own
    const ha = hashesOf(a, bs);
    const missA = m.lookupPrefix(ha, a.length);
    expect(missA.blocks).toEqual([]);
    expect(m.allocate(1, a.length, missA)).toBe(true);
    m.commit(1, ha, a.length); // the step computed all of a
    const hitB = m.lookupPrefix(hashesOf(b, bs), b.length);
    expect(hitB.blocks).toEqual(m.table(1).slice(0, 2));
    expect(hitB.numTokens).toBe(8);
    expect(m.allocate(2, b.length, hitB)).toBe(true);
    expect(m.table(2).slice(0, 2)).toEqual(m.table(1).slice(0, 2));
    expect(m.table(2)[2]).not.toBe(m.table(1)[2]);
    for (const id of m.table(2).slice(0, 2)) expect(m.refCount(id)).toBe(2);
    expect(m.stats()).toMatchObject({ used: 5, queriedTokens: a.length + b.length, hitTokens: 8 });
    expect(m.stats().hitRate).toBeCloseTo(8 / (a.length + b.length), 12);
  });

  it('a different token anywhere in the prefix means no hit from there on', () => {
    const m = make(10);
    const a = range(0, 12);
    const ha = hashesOf(a, bs);
    m.allocate(1, 12, m.lookupPrefix(ha, 12));
    m.commit(1, ha, 12);
    const b = [...range(0, 5), 99, ...range(6, 7)]; // differs in block 1
    expect(m.lookupPrefix(hashesOf(b, bs), b.length).blocks).toEqual([m.table(1)[0]]);
  });

  it('always leaves a token to compute: a fully cached prompt reuses all but its last block', () => {
    const m = make(10);
    const a = range(0, 8);
    const ha = hashesOf(a, bs);
    m.allocate(1, 9);
    m.commit(1, ha, 8);
    const hit = m.lookupPrefix(ha, 8);
    expect(hit.blocks).toEqual([m.table(1)[0]]);
    expect(hit.numTokens).toBe(4);
    // one more token: both full blocks can be reused
    expect(m.lookupPrefix(hashesOf(range(0, 9), bs), 9).blocks).toEqual(m.table(1).slice(0, 2));
  });

  it('counts hit blocks that sit in the free queue against the free blocks', () => {
    const m = make(3);
    const a = range(0, 8);
    const ha = hashesOf(a, bs);
    m.allocate(1, 8);
    m.commit(1, ha, 8);
    m.free(1);
    expect(m.stats()).toMatchObject({ used: 0, cached: 2, free: 1 });
    const b = range(0, 9);
    const hit = m.lookupPrefix(hashesOf(b, bs), 9);
    expect(hit.blocks).toHaveLength(2);
    // 2 hit blocks (free, cached) + 1 new block = all 3
    expect(m.allocate(2, 9, hit)).toBe(true);
    expect(m.numFree).toBe(0);
    expect(m.stats()).toMatchObject({ used: 3, cached: 0 });
  });

  it('evicts the least recently used cached blocks first, a sequence\'s tail before its head', () => {
    const m = make(4);
    const a = range(0, 8);
    const ha = hashesOf(a, bs);
    m.allocate(1, 8);
    m.commit(1, ha, 8);
    const [a0, a1] = m.table(1);
    m.free(1); // queue: [2, 3, a1, a0]
    expect(m.freeQueue()).toEqual([2, 3, a1, a0]);
    m.allocate(2, 12); // takes 2, 3 and evicts a1
    expect(m.hashOf(a1)).toBeNull();
    expect(m.hashOf(a0)).toBe(ha[0]);
    expect(m.lookupPrefix(ha, 9).blocks).toEqual([a0]);
    expect(m.stats()).toMatchObject({ used: 3, cached: 1, evictions: 1 });
  });

  it('caches only blocks that are full and computed, once', () => {
    const m = make(6);
    const toks = range(0, 10);
    const h: BlockHash[] = hashesOf(toks, bs);
    m.allocate(1, 10);
    m.commit(1, h, 6); // only block 0 is computed and full
    expect(m.hashOf(m.table(1)[0])).toBe(h[0]);
    expect(m.hashOf(m.table(1)[1])).toBeNull();
    m.commit(1, h, 10);
    expect(m.hashOf(m.table(1)[1])).toBe(h[1]);
    expect(m.hashOf(m.table(1)[2])).toBeNull(); // 2 tokens: not full
  });

  it('with prefix caching off, nothing is looked up or cached', () => {
    const m = make(6, false);
    const toks = range(0, 9);
    const h = hashesOf(toks, bs);
    m.allocate(1, 9);
    m.commit(1, h, 9);
    expect(m.lookupPrefix(h, 9).blocks).toEqual([]);
    m.free(1);
    expect(m.stats()).toMatchObject({ cached: 0, free: 6, hitRate: 0 });
  });
});
