/**
 * A strict reader of GGUF files (versions 2 and 3, little-endian; the layout of ggml-org/ggml docs/gguf.md):
 * header, metadata key/values of every type, tensor infos, alignment and the tensor data section. It reads the
 * header region through a buffered window (never the whole file) and checks every count, length, offset and
 * size against the file before using it. Anything malformed is ERR_GPUFORMER_BAD_WEIGHTS naming the problem.
 * It knows nothing about models: gguf-model.ts turns what it returns into a ModelSpec and tensor sources.
 */
import { open } from 'fs/promises';
import { badWeights, unsupported } from '../errors';
import { BufferedReader, ByteSource } from './gguf-buffered-reader';
import { ggmlType, type GgmlType } from './gguf-ggml-types';

/** A metadata value: 64-bit integers are numbers when exactly representable, else bigints. */
export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensorInfo {
  name: string;
  /** ggml's ne: innermost dimension first */
  dims: number[];
  type: GgmlType;
  /** offset relative to the data section, as stored */
  relativeOffset: number;
  /** absolute byte offset in the file */
  fileOffset: number;
  nbytes: number;
  numElements: number;
}

export interface GgufFile {
  path: string;
  fileSize: number;
  version: number;
  alignment: number;
  /** absolute offset of the tensor data section */
  dataOffset: number;
  metadata: Map<string, GgufValue>;
  /** each key's stored type: 'uint32', 'string', 'array[string]', 'array[array[int32]]'… */
  metadataTypes: Map<string, string>;
  /** in file order */
  tensors: GgufTensorInfo[];
}

const MAGIC = 'GGUF';
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4;
/** ggml's GGML_MAX_NAME includes the terminating NUL */
const MAX_NAME_BYTES = 63;
const MAX_KEY_BYTES = 65535;
/** arrays of arrays of … deeper than this are refused rather than recursed into */
const MAX_NESTING = 8;

enum ValueType {
  UINT8 = 0,
  INT8 = 1,
  UINT16 = 2,
  INT16 = 3,
  UINT32 = 4,
  INT32 = 5,
  FLOAT32 = 6,
  BOOL = 7,
  STRING = 8,
  ARRAY = 9,
  UINT64 = 10,
  INT64 = 11,
  FLOAT64 = 12,
}

const TYPE_NAMES: Record<number, string> = {
  [ValueType.UINT8]: 'uint8',
  [ValueType.INT8]: 'int8',
  [ValueType.UINT16]: 'uint16',
  [ValueType.INT16]: 'int16',
  [ValueType.UINT32]: 'uint32',
  [ValueType.INT32]: 'int32',
  [ValueType.FLOAT32]: 'float32',
  [ValueType.BOOL]: 'bool',
  [ValueType.STRING]: 'string',
  [ValueType.ARRAY]: 'array',
  [ValueType.UINT64]: 'uint64',
  [ValueType.INT64]: 'int64',
  [ValueType.FLOAT64]: 'float64',
};

/** Bytes of a fixed-size value; for strings and arrays, the least they can occupy (their length fields). */
function minBytes(type: ValueType): number {
  switch (type) {
    case ValueType.UINT8: case ValueType.INT8: case ValueType.BOOL: return 1;
    case ValueType.UINT16: case ValueType.INT16: return 2;
    case ValueType.UINT32: case ValueType.INT32: case ValueType.FLOAT32: return 4;
    case ValueType.UINT64: case ValueType.INT64: case ValueType.FLOAT64: case ValueType.STRING: return 8;
    case ValueType.ARRAY: return 12;
  }
}

function asNumberIfSafe(v: bigint): number | bigint {
  return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
}

const alignUp = (x: number, a: number) => Math.ceil(x / a) * a;

/** Parses a GGUF file's header, metadata and tensor infos, checking them against the file. */
export async function readGguf(path: string): Promise<GgufFile> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    throw badWeights(`cannot open GGUF file ${path}: ${(e as Error).message}`);
  }
  try {
    const { size } = await fh.stat();
    return await readGgufFrom(fh, size, path);
  } finally {
    await fh.close();
  }
}

/**
 * readGguf over any source of bytes of `size` bytes (`path` names it: a path or a URL). The header is read in
 * windows of a megabyte, so up to that much past the tensor infos (the start of the tensor data) is read too.
 */
export function readGgufFrom(source: ByteSource, size: number, path: string): Promise<GgufFile> {
  return new Parser(new BufferedReader(source, size, path), path).parse();
}

class Parser {
  private readonly metadata = new Map<string, GgufValue>();
  private readonly metadataTypes = new Map<string, string>();

  constructor(private readonly r: BufferedReader, private readonly path: string) {}

  private bad(message: string): Error {
    return badWeights(`${this.path}: ${message}`);
  }

  async parse(): Promise<GgufFile> {
    const r = this.r;
    await r.need(4, 'the magic number');
    const magic = String.fromCharCode(r.u8(), r.u8(), r.u8(), r.u8());
    if (magic !== MAGIC) {
      throw this.bad(`not a GGUF file: bad magic ${JSON.stringify(magic)} (expected "GGUF")`);
    }
    await r.need(4 + 8 + 8, 'the header');
    const version = r.u32();
    if (version === 0x02000000 || version === 0x03000000) {
      throw unsupported(`${this.path}: big-endian GGUF files are not supported`);
    }
    if (version !== 2 && version !== 3) {
      throw this.bad(`unsupported GGUF version ${version} (supported: 2, 3)`);
    }
    const tensorCount = this.count(r.u64(), 'tensor count', 8 + 4 + 8 + 4 + 8);
    const kvCount = this.count(r.u64(), 'metadata key/value count', 8 + 1 + 4 + 1);

    for (let i = 0; i < kvCount; i++) await this.readKeyValue(i);

    const alignment = this.alignment();
    const infos: Array<Omit<GgufTensorInfo, 'fileOffset'>> = [];
    const names = new Set<string>();
    for (let i = 0; i < tensorCount; i++) {
      const info = await this.readTensorInfo(i, alignment);
      if (names.has(info.name)) throw this.bad(`tensor '${info.name}' is declared twice`);
      names.add(info.name);
      infos.push(info);
    }
    const dataOffset = alignUp(r.offset, alignment);
    const tensors = infos.map((t) => ({ ...t, fileOffset: dataOffset + t.relativeOffset }));
    this.checkExtents(tensors, dataOffset);
    return {
      path: this.path, fileSize: r.fileSize, version, alignment, dataOffset,
      metadata: this.metadata, metadataTypes: this.metadataTypes, tensors,
    };
  }

  /** A u64 count as a number, refused when the file cannot hold that many items of at least minItemBytes. */
  private count(v: bigint, what: string, minItemBytes: number): number {
    if (v * BigInt(minItemBytes) > BigInt(this.r.remaining)) {
      throw this.bad(`${what} ${v} cannot fit in the ${this.r.remaining} bytes left in the file (truncated or corrupt)`);
    }
    return Number(v);
  }

  private async readString(what: string, strict: boolean): Promise<string> {
    const r = this.r;
    await r.need(8, `the length of ${what}`);
    const len = r.u64();
    if (len > BigInt(r.remaining)) {
      throw this.bad(`truncated file: ${what} is ${len} bytes long at offset ${r.offset}, but only ` +
        `${r.remaining} bytes are left`);
    }
    const n = Number(len);
    await r.need(n, what);
    const s = r.utf8(n, strict);
    if (s === undefined) throw this.bad(`${what} is not valid UTF-8`);
    return s;
  }

  private async readKeyValue(index: number): Promise<void> {
    const r = this.r;
    const key = await this.readString(`metadata key #${index}`, true);
    if (key.length === 0 || key.length > MAX_KEY_BYTES || !/^[\x21-\x7e]+$/.test(key)) {
      throw this.bad(`metadata key #${index} ${JSON.stringify(key.slice(0, 80))} is not a valid key ` +
        `(printable ASCII without spaces, 1–${MAX_KEY_BYTES} bytes)`);
    }
    if (this.metadata.has(key)) throw this.bad(`metadata key '${key}' appears twice`);
    await r.need(4, `the value type of '${key}'`);
    const type = r.u32();
    const { value, typeName } = await this.readValue(type, `metadata '${key}'`, 0);
    this.metadata.set(key, value);
    this.metadataTypes.set(key, typeName);
  }

  private checkType(type: number, what: string): ValueType {
    if (!(type in TYPE_NAMES)) throw this.bad(`${what} has unknown value type ${type}`);
    return type as ValueType;
  }

  private async readValue(rawType: number, what: string, depth: number): Promise<{ value: GgufValue; typeName: string }> {
    const type = this.checkType(rawType, what);
    if (type === ValueType.ARRAY) return this.readArray(what, depth);
    if (type === ValueType.STRING) return { value: await this.readString(what, false), typeName: 'string' };
    await this.r.need(minBytes(type), what);
    return { value: this.scalar(type, what), typeName: TYPE_NAMES[type] };
  }

  /** One fixed-size value (element `index` of an array, if given); its bytes must be buffered. */
  private scalar(type: ValueType, what: string, index?: number): number | bigint | boolean {
    const r = this.r;
    switch (type) {
      case ValueType.UINT8: return r.u8();
      case ValueType.INT8: return r.i8();
      case ValueType.UINT16: return r.u16();
      case ValueType.INT16: return r.i16();
      case ValueType.UINT32: return r.u32();
      case ValueType.INT32: return r.i32();
      case ValueType.FLOAT32: return r.f32();
      case ValueType.FLOAT64: return r.f64();
      case ValueType.UINT64: return asNumberIfSafe(r.u64());
      case ValueType.INT64: return asNumberIfSafe(r.i64());
      case ValueType.BOOL: {
        const b = r.u8();
        if (b > 1) throw this.bad(`${what}${index === undefined ? '' : `[${index}]`}: a bool must be 0 or 1, found ${b}`);
        return b === 1;
      }
      default: throw this.bad(`${what}: value type ${TYPE_NAMES[type]} is not a scalar`);
    }
  }

  private async readArray(what: string, depth: number): Promise<{ value: GgufValue[]; typeName: string }> {
    const r = this.r;
    if (depth >= MAX_NESTING) throw this.bad(`${what}: arrays nested deeper than ${MAX_NESTING} levels`);
    await r.need(4 + 8, `the element type and length of ${what}`);
    const itemType = this.checkType(r.u32(), `the elements of ${what}`);
    const n = this.count(r.u64(), `${what}: array length`, minBytes(itemType));
    const out: GgufValue[] = new Array(n);
    if (itemType === ValueType.STRING) {
      for (let i = 0; i < n; i++) out[i] = r.bufferedString() ?? await this.readString(`${what}[${i}]`, false);
      return { value: out, typeName: 'array[string]' };
    }
    if (itemType === ValueType.ARRAY) {
      let inner = 'array[?]';
      for (let i = 0; i < n; i++) {
        const item = await this.readArray(`${what}[${i}]`, depth + 1);
        out[i] = item.value;
        inner = item.typeName;
      }
      return { value: out, typeName: `array[${inner}]` };
    }
    // fixed-size elements: buffered a window at a time, so a long array never needs one huge buffer
    const size = minBytes(itemType);
    const perWindow = Math.max(1, Math.floor((1 << 20) / size));
    for (let i = 0; i < n;) {
      const take = Math.min(perWindow, n - i);
      await r.need(take * size, `${what}[${i}…${i + take - 1}]`);
      for (const stop = i + take; i < stop; i++) out[i] = this.scalar(itemType, what, i);
    }
    return { value: out, typeName: `array[${TYPE_NAMES[itemType]}]` };
  }

  private alignment(): number {
    const v = this.metadata.get('general.alignment');
    if (v === undefined) return DEFAULT_ALIGNMENT;
    const type = this.metadataTypes.get('general.alignment');
    if (type !== 'uint32' || typeof v !== 'number' || v === 0 || (v & (v - 1)) !== 0) {
      throw this.bad(`general.alignment must be a uint32 power of two, found ${type} ${String(v)}`);
    }
    return v;
  }

  private async readTensorInfo(index: number, alignment: number): Promise<Omit<GgufTensorInfo, 'fileOffset'>> {
    const r = this.r;
    const name = await this.readString(`the name of tensor #${index}`, true);
    if (name.length === 0 || Buffer.byteLength(name) > MAX_NAME_BYTES) {
      throw this.bad(`tensor #${index} has a name of ${Buffer.byteLength(name)} bytes (allowed: 1–${MAX_NAME_BYTES})`);
    }
    await r.need(4, `the dimension count of tensor '${name}'`);
    const nDims = r.u32();
    if (nDims < 1 || nDims > MAX_DIMS) throw this.bad(`tensor '${name}' has ${nDims} dimensions (allowed: 1–${MAX_DIMS})`);
    await r.need(8 * nDims + 4 + 8, `the shape, type and offset of tensor '${name}'`);
    const dims: number[] = [];
    let numElements = 1;
    for (let d = 0; d < nDims; d++) {
      const ne = r.u64();
      if (ne === 0n || ne > BigInt(Number.MAX_SAFE_INTEGER)) throw this.bad(`tensor '${name}' has dimension ${d} = ${ne}`);
      dims.push(Number(ne));
      numElements *= Number(ne);
      if (!Number.isSafeInteger(numElements)) throw this.bad(`tensor '${name}' has too many elements (${dims.join('×')}…)`);
    }
    const typeId = r.u32();
    const type = ggmlType(typeId);
    if (!type) throw this.bad(`tensor '${name}' has unknown ggml type ${typeId}`);
    if (dims[0] % type.blockSize !== 0) {
      throw this.bad(`tensor '${name}': its innermost dimension ${dims[0]} is not a multiple of the ` +
        `${type.name} block size ${type.blockSize}`);
    }
    const offset = r.u64();
    // the precise extent check comes once the data section's start is known; this one keeps Number() exact
    if (offset > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw this.bad(`tensor '${name}' has data offset ${offset}, past the end of the file (${r.fileSize} bytes)`);
    }
    const relativeOffset = Number(offset);
    if (relativeOffset % alignment !== 0) {
      throw this.bad(`tensor '${name}' has data offset ${relativeOffset}, not a multiple of the alignment ${alignment}`);
    }
    const nbytes = (numElements / type.blockSize) * type.blockBytes;
    return { name, dims, type, relativeOffset, nbytes, numElements };
  }

  /** Every tensor's bytes inside the file, and no two tensors sharing bytes. */
  private checkExtents(tensors: GgufTensorInfo[], dataOffset: number): void {
    const fileSize = this.r.fileSize;
    if (tensors.length > 0 && dataOffset > fileSize) {
      throw this.bad(`the tensor data section starts at ${dataOffset}, past the end of the file (${fileSize} bytes)`);
    }
    for (const t of tensors) {
      if (t.fileOffset + t.nbytes > fileSize) {
        throw this.bad(`tensor '${t.name}' (${t.type.name} [${t.dims.join(', ')}]) has data at ` +
          `[${t.fileOffset}, ${t.fileOffset + t.nbytes}), past the end of the file (${fileSize} bytes)`);
      }
    }
    const byOffset = [...tensors].sort((a, b) => a.fileOffset - b.fileOffset);
    for (let i = 1; i < byOffset.length; i++) {
      const prev = byOffset[i - 1];
      const cur = byOffset[i];
      if (cur.fileOffset < prev.fileOffset + prev.nbytes) {
        throw this.bad(`tensors '${prev.name}' [${prev.fileOffset}, ${prev.fileOffset + prev.nbytes}) and ` +
          `'${cur.name}' [${cur.fileOffset}, ${cur.fileOffset + cur.nbytes}) overlap`);
      }
    }
  }
}
