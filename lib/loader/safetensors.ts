/**
 * A strict safetensors reader. The format: an 8-byte little-endian header length N, N bytes of JSON
 * ({ name: { dtype, shape, data_offsets: [begin, end] }, __metadata__?: {...} }), then the data section that
 * the offsets index. Only the header is read (never the tensor bytes); every claim it makes is checked
 * against the file before anything trusts it, so a damaged or hostile file fails here with
 * ERR_GPUFORMER_BAD_WEIGHTS naming the tensor, instead of as a crash or garbage later.
 *
 * Sharded checkpoints (model.safetensors.index.json + model-0000k-of-0000n.safetensors) are read by
 * readShardedSafetensors: every shard the index names must exist and hold the tensors it says it holds.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { badWeights, unsupported } from '../errors';
import type { DType } from '../native';
import type { TensorSource } from '../core/source';

/** A header longer than this is not a real checkpoint (the largest real ones are a few MB). */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

/** safetensors dtype names gpuformer reads, with their element size. */
const DTYPES: Record<string, { dtype: DType; bytes: number }> = {
  F32: { dtype: 'f32', bytes: 4 },
  F16: { dtype: 'f16', bytes: 2 },
  BF16: { dtype: 'bf16', bytes: 2 },
  I8: { dtype: 'i8', bytes: 1 },
  // integer buffers appear beside weights (BERT's position_ids): readable, never converted to floats
  I32: { dtype: 'i32', bytes: 4 },
  I64: { dtype: 'i64', bytes: 8 },
};

export interface SafetensorsFile {
  /** absolute path */
  file: string;
  fileBytes: number;
  /** absolute offset of the data section (8 + header length) */
  dataStart: number;
  /** the header's __metadata__ (string → string by the format's rules) */
  metadata: Record<string, string>;
  /** in header order; offsets are absolute file offsets */
  tensors: TensorSource[];
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

/** Reads and validates the header of one .safetensors file. */
export async function readSafetensors(file: string): Promise<SafetensorsFile> {
  const abs = path.resolve(file);
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(abs, 'r');
  } catch (e) {
    throw badWeights(`cannot open '${abs}': ${(e as Error).message}`);
  }
  try {
    const fileBytes = (await fh.stat()).size;
    if (fileBytes < 8) {
      throw badWeights(`'${abs}' is truncated: ${fileBytes} bytes, too short for the 8-byte safetensors header length`);
    }
    const lenBuf = Buffer.alloc(8);
    await readExact(fh, lenBuf, 0, abs);
    const headerLen = lenBuf.readBigUInt64LE(0);
    if (headerLen > BigInt(MAX_HEADER_BYTES)) {
      throw badWeights(`'${abs}': the safetensors header claims ${headerLen} bytes, more than the ${MAX_HEADER_BYTES}-byte ` +
        'limit (this is not a safetensors file, or it is damaged)');
    }
    const n = Number(headerLen);
    if (8 + n > fileBytes) {
      throw badWeights(`'${abs}': the safetensors header length (${n} bytes) runs past the end of the file ` +
        `(${fileBytes} bytes): the file is truncated or not safetensors`);
    }
    const headerBuf = Buffer.alloc(n);
    await readExact(fh, headerBuf, 8, abs);
    return parseSafetensorsHeader(abs, fileBytes, headerBuf);
  } finally {
    await fh.close();
  }
}

async function readExact(fh: fsp.FileHandle, buf: Buffer, position: number, file: string): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesRead } = await fh.read(buf, done, buf.length - done, position + done);
    if (bytesRead === 0) throw badWeights(`'${file}' ended after ${position + done} bytes while reading its header`);
    done += bytesRead;
  }
}

/**
 * Parses and checks a safetensors header (the JSON after the 8-byte length) of a file of `fileBytes` bytes;
 * `file` names it in errors and in the tensors' sources (a path, or the URL of a remote file).
 */
export function parseSafetensorsHeader(file: string, fileBytes: number, headerBuf: Buffer): SafetensorsFile {
  let header: unknown;
  try {
    header = JSON.parse(headerBuf.toString('utf8'));
  } catch (e) {
    throw badWeights(`'${file}': the safetensors header is not valid JSON (${(e as Error).message})`);
  }
  if (!isPlainObject(header)) throw badWeights(`'${file}': the safetensors header must be a JSON object`);

  const dataStart = 8 + headerBuf.length;
  const dataBytes = fileBytes - dataStart;
  let metadata: Record<string, string> = {};
  const tensors: TensorSource[] = [];
  const spans: Array<{ name: string; begin: number; end: number }> = [];

  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') {
      if (!isPlainObject(entry)) throw badWeights(`'${file}': __metadata__ must be an object`);
      metadata = Object.fromEntries(Object.entries(entry).map(([k, v]) => [k, String(v)]));
      continue;
    }
    const where = `'${file}': tensor '${name}'`;
    if (!isPlainObject(entry)) throw badWeights(`${where}: its header entry must be an object`);
    const { dtype, shape, data_offsets: offsets } = entry;
    if (typeof dtype !== 'string') throw badWeights(`${where}: dtype must be a string, got ${JSON.stringify(dtype)}`);
    const known = DTYPES[dtype];
    if (!known) {
      throw unsupported(`${where} has dtype ${dtype}; gpuformer reads ${Object.keys(DTYPES).join(', ')} ` +
        '(convert the checkpoint, e.g. to float16 or bfloat16)');
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw badWeights(`${where}: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
      throw badWeights(`${where}: data_offsets must be [begin, end] with 0 ≤ begin ≤ end, got ${JSON.stringify(offsets)}`);
    }
    const [begin, end] = offsets as [number, number];
    if (end > dataBytes) {
      throw badWeights(`${where}: data_offsets [${begin}, ${end}] end past the data section (${dataBytes} bytes): ` +
        'the file is truncated or its header is wrong');
    }
    const numel = (shape as number[]).reduce((a, b) => a * b, 1);
    const expected = numel * known.bytes;
    if (end - begin !== expected) {
      throw badWeights(`${where}: data_offsets [${begin}, ${end}] hold ${end - begin} bytes, but shape [${shape}] of ` +
        `${dtype} needs ${numel} × ${known.bytes} = ${expected} bytes`);
    }
    tensors.push({ name, file, offset: dataStart + begin, dtype: known.dtype, shape: [...(shape as number[])], nbytes: expected });
    spans.push({ name, begin, end });
  }

  // Two tensors must never share bytes: writing one would silently change the other.
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < spans.length; i++) {
    const prev = spans[i - 1];
    const cur = spans[i];
    if (cur.begin < prev.end && cur.end > cur.begin) {
      throw badWeights(`'${file}': tensors '${prev.name}' [${prev.begin}, ${prev.end}) and '${cur.name}' ` +
        `[${cur.begin}, ${cur.end}) overlap in the data section`);
    }
  }
  return { file, fileBytes, dataStart, metadata, tensors };
}

/** How a shard's tensors are read: from the file (the default), or from elsewhere (a remote header, for planning). */
export type ShardReader = (shard: string) => Promise<TensorSource[]>;

async function readLocalShard(shard: string): Promise<TensorSource[]> {
  try {
    await fsp.access(shard);
  } catch {
    throw badWeights(`'${path.join(path.dirname(shard), 'model.safetensors.index.json')}' names shard '${path.basename(shard)}', which is missing from ${path.dirname(shard)}`);
  }
  return (await readSafetensors(shard)).tensors;
}

/**
 * Reads a sharded checkpoint from its index (model.safetensors.index.json): the union of the shards'
 * tensors, each found in the shard the index names. A shard outside the index's directory is refused.
 * `readShard` reads one shard's tensors (given its path beside the index).
 */
export async function readShardedSafetensors(indexFile: string, readShard: ShardReader = readLocalShard): Promise<Map<string, TensorSource>> {
  const abs = path.resolve(indexFile);
  const dir = path.dirname(abs);
  let index: unknown;
  try {
    index = JSON.parse(await fsp.readFile(abs, 'utf8'));
  } catch (e) {
    throw badWeights(`'${abs}' is not readable JSON: ${(e as Error).message}`);
  }
  const weightMap = isPlainObject(index) ? index.weight_map : undefined;
  if (!isPlainObject(weightMap)) throw badWeights(`'${abs}' has no weight_map object`);

  const shardOf = new Map<string, string>();
  for (const [name, shard] of Object.entries(weightMap)) {
    if (typeof shard !== 'string' || shard === '') throw badWeights(`'${abs}': weight_map['${name}'] must be a file name`);
    const shardPath = path.resolve(dir, shard);
    if (path.dirname(shardPath) !== dir) {
      throw badWeights(`'${abs}': weight_map['${name}'] = '${shard}' points outside the model directory`);
    }
    shardOf.set(name, shardPath);
  }

  const tensors = new Map<string, TensorSource>();
  const foundIn = new Map<string, string>();
  for (const shard of new Set(shardOf.values())) {
    for (const t of await readShard(shard)) {
      const other = tensors.get(t.name);
      if (other) throw badWeights(`tensor '${t.name}' is stored twice: in '${other.file}' and in '${t.file}'`);
      tensors.set(t.name, t);
      foundIn.set(t.name, shard);
    }
  }
  for (const [name, shard] of shardOf) {
    if (foundIn.get(name) !== shard) {
      throw badWeights(`'${abs}' says tensor '${name}' is in '${path.basename(shard)}', but that shard does not hold it`);
    }
  }
  return tensors;
}

/** Reads one unsharded checkpoint as a name → source map (a duplicate name is impossible in JSON objects). */
export async function readSafetensorsTensors(file: string): Promise<Map<string, TensorSource>> {
  const st = await readSafetensors(file);
  return new Map(st.tensors.map((t) => [t.name, t]));
}
