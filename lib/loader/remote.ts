/**
 * Planning a hub model before downloading it (gpuformer inspect on 'org/name'): the repository's metadata
 * files come into the cache (config.json, tokenizer, sharded index, sentence-transformers files: kilobytes),
 * and each weight file's header is read with HTTP range requests: a safetensors file's 8-byte length and its
 * JSON header, a GGUF file's header and tensor infos. The weights themselves are never fetched, so a user
 * learns whether Llama-3-70B fits before fetching 140 GB. The result is a ModelSource marked planOnly 'hub':
 * its tensors' sources are URLs.
 */
import * as path from 'path';
import { badWeights } from '../errors';
import type { ModelSource, TensorSource } from '../core/source';
import { openModelDirectory } from './directory';
import { ggufSource } from './gguf';
import { readGgufFrom } from './gguf-reader';
import { PullOptions, RemoteWeightFile, describeRemote } from './hub';
import { MAX_HEADER_BYTES, parseSafetensorsHeader, readShardedSafetensors } from './safetensors';

/** A remote safetensors file's tensors, from its header alone (two range requests). */
async function remoteSafetensors(f: RemoteWeightFile): Promise<TensorSource[]> {
  if (f.size < 8) throw badWeights(`'${f.url}' is ${f.size} bytes, too short for the 8-byte safetensors header length`);
  const length = (await f.read(0, 8)).readBigUInt64LE(0);
  if (length > BigInt(MAX_HEADER_BYTES) || 8 + Number(length) > f.size) {
    throw badWeights(`'${f.url}': the safetensors header claims ${length} bytes, more than the file (${f.size} bytes) or the ` +
      `${MAX_HEADER_BYTES}-byte limit allow`);
  }
  return parseSafetensorsHeader(f.url, f.size, await f.read(8, 8 + Number(length))).tensors;
}

/**
 * Opens a hub model for planning without downloading its weights (see the file comment). Offline, or when
 * the hub cannot be reached, the cached snapshot is planned instead (from its weights if they are there,
 * else from config.json's shapes): `openCached` opens it.
 */
export async function openRemoteForPlanning(id: string, opts: PullOptions, openCached: (dir: string) => Promise<ModelSource>): Promise<ModelSource> {
  const d = await describeRemote(id, opts);
  if (!d.weights) return openCached(d.dir);
  const weights = d.weights;
  const gguf = weights.filter((f) => f.path.endsWith('.gguf'));
  if (gguf.length === 1 && !d.files.includes('config.json')) {
    const f = gguf[0];
    const source = ggufSource(await readGgufFrom({
      read: async (buffer, offset, length, position) => {
        const bytes = await f.read(position, Math.min(position + length, f.size));
        bytes.copy(buffer, offset);
        return { bytesRead: bytes.length };
      },
    }, f.size, f.url));
    return { ...source, planOnly: 'hub' };
  }
  const byName = new Map(weights.map((f) => [path.basename(f.path), f]));
  const shard = (file: string) => {
    const f = byName.get(path.basename(file));
    if (!f) throw badWeights(`'${id}': no weight file '${path.basename(file)}' in the repository`);
    return remoteSafetensors(f);
  };
  return openModelDirectory(d.dir, {
    planOnly: 'hub',
    tensors: async (dir) => {
      if (d.files.includes('model.safetensors.index.json')) return readShardedSafetensors(path.join(dir, 'model.safetensors.index.json'), shard);
      const tensors = await remoteSafetensors(weights[0]);
      return new Map(tensors.map((t) => [t.name, t]));
    },
  });
}
