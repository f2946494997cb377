/**
 * Prefix-cache keys. A full KV block is identified by the hash of its WHOLE token prefix, computed as a
 * chain: hash(block i) = H(hash(block i-1), tokens of block i). Two blocks get the same key only when every
 * token before and inside them matches, so a cached block can stand in for any sequence whose prefix
 * hashes to it (vLLM's kv_cache_utils.hash_block_tokens follows the same scheme).
 *
 * H is SHA-256 truncated to 128 bits: a collision would silently hand one sequence another's keys and
 * values, so a cryptographic hash is worth its ~1 µs per block (hashing happens once per filled block).
 */
import { createHash } from 'crypto';

/** 32 hex characters (128 bits of SHA-256) */
export type BlockHash = string;

/** Hash of one full block given its parent's hash (null for the first block of a sequence). */
export function hashBlock(parent: BlockHash | null, tokens: ArrayLike<number>): BlockHash {
  const bytes = Buffer.alloc(4 * tokens.length);
  for (let i = 0; i < tokens.length; i++) bytes.writeInt32LE(tokens[i], 4 * i);
  const h = createHash('sha256');
  h.update(parent ?? 'root');
  h.update(bytes);
  return h.digest('hex').slice(0, 32);
}

/**
 * Extends `hashes` (the chained hashes of the first hashes.length full blocks of `tokens`) to cover every
 * full block `tokens` now holds. Returns the same array, for chaining.
 */
export function extendBlockHashes(hashes: BlockHash[], tokens: readonly number[], blockSize: number): BlockHash[] {
  const full = Math.floor(tokens.length / blockSize);
  for (let i = hashes.length; i < full; i++) {
    hashes.push(hashBlock(i === 0 ? null : hashes[i - 1], tokens.slice(i * blockSize, (i + 1) * blockSize)));
  }
  return hashes;
}
