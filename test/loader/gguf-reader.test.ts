/**
 * The GGUF reader: the real SmolLM2 file (header, metadata, tensor infos, data that decodes to sane values),
 * synthetic files with every metadata value type, and truncated / corrupted copies of the real file's header
 * region written to a temp dir (sparse-extended to the real size where the data section matters), each
 * refused with ERR_GPUFORMER_BAD_WEIGHTS (or ERR_GPUFORMER_UNSUPPORTED) naming what is wrong.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { readGguf, type GgufFile } from '../../lib/loader/gguf-reader';
import { tensorBytes, writeGguf, type MetaEntry } from './gguf-writer';

const REAL = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

let tmp: string;
let real: GgufFile;
/** the real file's bytes up to its tensor data section: everything the corruption tests patch */
let header: Buffer;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-reader-'));
  real = await readGguf(REAL);
  header = Buffer.alloc(real.dataOffset);
  const fd = fs.openSync(REAL, 'r');
  try {
    fs.readSync(fd, header, 0, header.length, 0);
  } finally {
    fs.closeSync(fd);
  }
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const f16 = (bits: number) => {
  const s = bits & 0x8000 ? -1 : 1;
  const e = (bits >> 10) & 0x1f;
  const m = bits & 0x3ff;
  return e === 0 ? s * m * 2 ** -24 : e === 31 ? s * Infinity : s * (1 + m / 1024) * 2 ** (e - 15);
};

function readAt(offset: number, n: number): Buffer {
  const out = Buffer.alloc(n);
  const fd = fs.openSync(REAL, 'r');
  try {
    fs.readSync(fd, out, 0, n, offset);
  } finally {
    fs.closeSync(fd);
  }
  return out;
}

describe('the real SmolLM2-135M-Instruct Q4_1 file', () => {
  test('header, alignment and data section', () => {
    expect(real.version).toBe(3);
    expect(real.alignment).toBe(32);
    expect(real.fileSize).toBe(fs.statSync(REAL).size);
    expect(real.dataOffset % 32).toBe(0);
    expect(real.tensors).toHaveLength(272); // 30 layers × 9 + token_embd + output_norm
  });

  test('metadata values and their stored types', () => {
    const m = real.metadata;
    const t = real.metadataTypes;
    expect(m.get('general.architecture')).toBe('llama');
    expect(t.get('llama.block_count')).toBe('uint32');
    expect(m.get('llama.block_count')).toBe(30);
    expect(m.get('llama.embedding_length')).toBe(576);
    expect(m.get('llama.attention.head_count_kv')).toBe(3);
    expect(t.get('llama.rope.freq_base')).toBe('float32');
    expect(m.get('llama.rope.freq_base')).toBe(100000);
    expect(m.get('llama.attention.layer_norm_rms_epsilon')).toBe(Math.fround(1e-5));
    expect(m.get('tokenizer.ggml.add_bos_token')).toBe(false);
    expect(t.get('tokenizer.ggml.tokens')).toBe('array[string]');
    expect(t.get('tokenizer.ggml.token_type')).toBe('array[int32]');
    const tokens = m.get('tokenizer.ggml.tokens') as string[];
    expect(tokens).toHaveLength(49152);
    expect(tokens.slice(0, 3)).toEqual(['<|endoftext|>', '<|im_start|>', '<|im_end|>']);
    expect((m.get('tokenizer.ggml.merges') as string[])[0]).toBe('Ġ t');
    expect(m.get('tokenizer.chat_template')).toContain('<|im_start|>');
  });

  test('tensor infos: types, ggml dims, byte sizes, ordered without overlap', () => {
    const byName = new Map(real.tensors.map((t) => [t.name, t]));
    const embd = byName.get('token_embd.weight')!;
    expect(embd.type.name).toBe('Q8_0');
    expect(embd.dims).toEqual([576, 49152]);
    expect(embd.nbytes).toBe((576 * 49152 / 32) * 34);
    expect(embd.fileOffset).toBe(real.dataOffset + embd.relativeOffset);
    const q = byName.get('blk.7.attn_q.weight')!;
    expect(q.type.name).toBe('Q4_1');
    expect(q.dims).toEqual([576, 576]);
    expect(q.nbytes).toBe((576 * 576 / 32) * 20);
    expect(byName.get('blk.0.attn_k.weight')!.dims).toEqual([576, 192]);
    expect(byName.get('blk.0.ffn_down.weight')!.dims).toEqual([1536, 576]);
    expect(byName.get('output_norm.weight')!.type.name).toBe('F32');
    const counts: Record<string, number> = {};
    for (const t of real.tensors) counts[t.type.name] = (counts[t.type.name] ?? 0) + 1;
    expect(counts).toEqual({ Q8_0: 1, Q4_1: 210, F32: 61 });
    const sorted = [...real.tensors].sort((a, b) => a.fileOffset - b.fileOffset);
    for (let i = 1; i < sorted.length; i++) {
      expect(sorted[i].fileOffset).toBeGreaterThanOrEqual(sorted[i - 1].fileOffset + sorted[i - 1].nbytes);
    }
    const last = sorted[sorted.length - 1];
    expect(last.fileOffset + last.nbytes).toBeLessThanOrEqual(real.fileSize);
  });

  test('the offsets point at the tensors: norm weights and block scales decode to plausible values', () => {
    const norm = real.tensors.find((t) => t.name === 'output_norm.weight')!;
    const w = new Float32Array(readAt(norm.fileOffset, norm.nbytes).buffer.slice(0));
    // RMSNorm gains of a trained model: finite, mostly positive, of order one
    expect(w.every(Number.isFinite)).toBe(true);
    const mean = w.reduce((a, b) => a + b, 0) / w.length;
    expect(mean).toBeGreaterThan(0.1);
    expect(mean).toBeLessThan(10);
    // Q4_1 blocks open with an f16 scale d > 0 and an f16 minimum m < 0 (w = d·q + m spans both signs)
    const q = real.tensors.find((t) => t.name === 'blk.3.attn_q.weight')!;
    const blocks = readAt(q.fileOffset, 20 * 64);
    for (let b = 0; b < 64; b++) {
      const d = f16(blocks.readUInt16LE(20 * b));
      const m = f16(blocks.readUInt16LE(20 * b + 2));
      expect(d).toBeGreaterThan(0);
      expect(d).toBeLessThan(1);
      expect(m).toBeLessThan(0);
      expect(m).toBeGreaterThan(-2);
    }
  });
});

describe('synthetic files', () => {
  const ALL_TYPES: MetaEntry[] = [
    { key: 'test.u8', type: 'uint8', value: 255 },
    { key: 'test.i8', type: 'int8', value: -128 },
    { key: 'test.u16', type: 'uint16', value: 65535 },
    { key: 'test.i16', type: 'int16', value: -32768 },
    { key: 'test.u32', type: 'uint32', value: 4294967295 },
    { key: 'test.i32', type: 'int32', value: -2147483648 },
    { key: 'test.f32', type: 'float32', value: 0.1 },
    { key: 'test.bool_true', type: 'bool', value: true },
    { key: 'test.bool_false', type: 'bool', value: false },
    { key: 'test.string', type: 'string', value: 'héllo 👋 wörld' },
    { key: 'test.empty_string', type: 'string', value: '' },
    { key: 'test.u64_small', type: 'uint64', value: 9007199254740991n },
    { key: 'test.u64_big', type: 'uint64', value: 18446744073709551615n },
    { key: 'test.i64', type: 'int64', value: -9223372036854775808n },
    { key: 'test.f64', type: 'float64', value: Math.PI },
    { key: 'test.arr_u8', type: { array: 'uint8' }, value: [0, 1, 2, 255] },
    { key: 'test.arr_f32', type: { array: 'float32' }, value: [1.5, -2.25] },
    { key: 'test.arr_bool', type: { array: 'bool' }, value: [true, false, true] },
    { key: 'test.arr_i64', type: { array: 'int64' }, value: [-1n, 5n] },
    { key: 'test.arr_str', type: { array: 'string' }, value: ['a', '', 'ünï', '🙂'] },
    { key: 'test.arr_empty', type: { array: 'int32' }, value: [] },
    { key: 'test.nested', type: { array: { array: 'int32' } }, value: [[1, 2], [], [-3]] },
    { key: 'test.nested_str', type: { array: { array: { array: 'string' } } }, value: [[['x', 'y']], [[]]] },
  ];

  test('every metadata value type reads back, version 3 and version 2', async () => {
    for (const version of [2, 3]) {
      const file = path.join(tmp, `types-v${version}.gguf`);
      writeGguf(file, { version, metadata: ALL_TYPES, tensors: [] });
      const g = await readGguf(file);
      expect(g.version).toBe(version);
      expect(g.tensors).toEqual([]);
      const got = (k: string) => g.metadata.get(k);
      expect(got('test.u8')).toBe(255);
      expect(got('test.i8')).toBe(-128);
      expect(got('test.u16')).toBe(65535);
      expect(got('test.i16')).toBe(-32768);
      expect(got('test.u32')).toBe(4294967295);
      expect(got('test.i32')).toBe(-2147483648);
      expect(got('test.f32')).toBe(Math.fround(0.1));
      expect(got('test.bool_true')).toBe(true);
      expect(got('test.bool_false')).toBe(false);
      expect(got('test.string')).toBe('héllo 👋 wörld');
      expect(got('test.empty_string')).toBe('');
      expect(got('test.u64_small')).toBe(9007199254740991); // exactly representable: a number
      expect(got('test.u64_big')).toBe(18446744073709551615n); // not representable: a bigint
      expect(got('test.i64')).toBe(-9223372036854775808n);
      expect(got('test.f64')).toBe(Math.PI);
      expect(got('test.arr_u8')).toEqual([0, 1, 2, 255]);
      expect(got('test.arr_f32')).toEqual([1.5, -2.25]);
      expect(got('test.arr_bool')).toEqual([true, false, true]);
      expect(got('test.arr_i64')).toEqual([-1, 5]);
      expect(got('test.arr_str')).toEqual(['a', '', 'ünï', '🙂']);
      expect(got('test.arr_empty')).toEqual([]);
      expect(got('test.nested')).toEqual([[1, 2], [], [-3]]);
      expect(got('test.nested_str')).toEqual([[['x', 'y']], [[]]]);
      expect(g.metadataTypes.get('test.nested')).toBe('array[array[int32]]');
      expect(g.metadataTypes.get('test.nested_str')).toBe('array[array[array[string]]]');
      expect(g.metadataTypes.get('test.u64_big')).toBe('uint64');
    }
  });

  test('general.alignment sets the data section and tensor alignment', async () => {
    const file = path.join(tmp, 'align.gguf');
    const written = writeGguf(file, {
      alignment: 256,
      metadata: [{ key: 'general.alignment', type: 'uint32', value: 256 }],
      tensors: [
        { name: 'a', dims: [3], type: 'F32', data: tensorBytes('F32', 3, 1) },
        { name: 'b', dims: [32, 2], type: 'Q8_0', data: tensorBytes('Q8_0', 64, 2) },
      ],
    });
    const g = await readGguf(file);
    expect(g.alignment).toBe(256);
    expect(g.dataOffset).toBe(written.dataOffset);
    expect(g.dataOffset % 256).toBe(0);
    expect(g.tensors.map((t) => t.fileOffset)).toEqual([written.offsets.get('a'), written.offsets.get('b')]);
    expect(g.tensors[1].relativeOffset).toBe(256);
  });

  test('a very long string array is read through the buffered window', async () => {
    // several MB of strings, far more than one read window
    const strings = Array.from({ length: 60000 }, (_, i) => `token-${i}-${'x'.repeat(i % 97)}`);
    const file = path.join(tmp, 'long.gguf');
    writeGguf(file, { metadata: [{ key: 'test.long', type: { array: 'string' }, value: strings }], tensors: [] });
    expect(fs.statSync(file).size).toBeGreaterThan(3 << 20);
    const g = await readGguf(file);
    expect(g.metadata.get('test.long')).toEqual(strings);
  });

  test('an unknown tensor type id, a duplicate tensor and bad dims are refused', async () => {
    const base = (tensors: Parameters<typeof writeGguf>[1]['tensors']) => {
      const file = path.join(tmp, 'bad-tensor.gguf');
      writeGguf(file, { metadata: [], tensors });
      return file;
    };
    const a = { name: 'a', dims: [32], type: 'Q4_0', data: tensorBytes('Q4_0', 32, 1) };
    await expect(readGguf(base([a, { ...a }]))).rejects.toThrow(/tensor 'a' is declared twice/);
    await expect(readGguf(base([{ name: 'odd', dims: [48], type: 'Q4_0', data: tensorBytes('Q4_0', 64, 1).subarray(0, 27) }])))
      .rejects.toThrow(/innermost dimension 48 is not a multiple of the Q4_0 block size 32/);
  });
});

describe('truncated and corrupted copies of the real file', () => {
  /** Writes `bytes` to a temp file, extended with zeros (a sparse hole) to `size` when given. */
  function variant(name: string, bytes: Buffer, size?: number): string {
    const file = path.join(tmp, name);
    fs.writeFileSync(file, bytes);
    if (size !== undefined) fs.truncateSync(file, size);
    return file;
  }

  /** The header with a patch applied, sparse-extended to the real file size (so only the patch is wrong). */
  function patched(name: string, patch: (b: Buffer) => void): string {
    const b = Buffer.from(header);
    patch(b);
    return variant(name, b, real.fileSize);
  }

  /** Byte offset of the tensor info field following a tensor's name: 'type' or 'offset'. */
  function tensorField(b: Buffer, tensor: string, field: 'type' | 'offset'): number {
    const nameBytes = Buffer.from(tensor);
    let at = b.indexOf(nameBytes);
    while (at >= 0 && Number(b.readBigUInt64LE(at - 8)) !== nameBytes.length) at = b.indexOf(nameBytes, at + 1);
    const nDims = b.readUInt32LE(at + nameBytes.length);
    const typeAt = at + nameBytes.length + 4 + 8 * nDims;
    return field === 'type' ? typeAt : typeAt + 4;
  }

  /** Byte offset of a metadata key's value type field. */
  function keyEnd(b: Buffer, key: string): number {
    const at = b.indexOf(Buffer.from(key));
    expect(at).toBeGreaterThan(0);
    return at + Buffer.byteLength(key);
  }

  const badWeights = (re: RegExp) => expect.objectContaining({ code: 'ERR_GPUFORMER_BAD_WEIGHTS', message: expect.stringMatching(re) });

  test('bad magic', async () => {
    const file = patched('magic.gguf', (b) => b.write('GGML', 0, 'latin1'));
    await expect(readGguf(file)).rejects.toEqual(badWeights(/bad magic "GGML"/));
  });

  test('unsupported versions; a byte-swapped version is reported as big-endian', async () => {
    for (const v of [1, 4, 0x7fffffff]) {
      const file = patched(`version-${v}.gguf`, (b) => b.writeUInt32LE(v, 4));
      await expect(readGguf(file)).rejects.toEqual(badWeights(new RegExp(`unsupported GGUF version ${v}`)));
    }
    const file = patched('big-endian.gguf', (b) => b.writeUInt32BE(3, 4));
    await expect(readGguf(file)).rejects.toEqual(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED',
      message: expect.stringMatching(/big-endian/) }));
  });

  test('truncated anywhere in the header region', async () => {
    const tokensAt = header.indexOf(Buffer.from('tokenizer.ggml.tokens'));
    const infosEnd = tensorField(header, 'output_norm.weight', 'offset') + 8;
    const cuts = [0, 3, 10, 23, 40, tokensAt + 5, tokensAt + 100000, infosEnd - 30, infosEnd - 1];
    for (const cut of cuts) {
      const file = variant(`cut-${cut}.gguf`, header.subarray(0, cut));
      await expect(readGguf(file)).rejects.toEqual(badWeights(cut < 4 ? /truncated file: the magic number/ :
        /truncated file|cannot fit in the \d+ bytes left/));
    }
  });

  test('tensor data past the end of the file names the tensor', async () => {
    const file = variant('short-data.gguf', header, real.dataOffset + 1000);
    await expect(readGguf(file)).rejects.toEqual(badWeights(/tensor 'token_embd.weight' \(Q8_0 \[576, 49152\]\) has data at \[\d+, \d+\), past the end of the file/));
    const last = variant('last-short.gguf', header, real.fileSize - 1);
    await expect(readGguf(last)).rejects.toEqual(badWeights(/tensor 'output_norm.weight'.*past the end of the file \(98362431 bytes\)/));
  });

  test('a misaligned tensor offset', async () => {
    const file = patched('misaligned.gguf', (b) => {
      const at = tensorField(b, 'blk.0.attn_norm.weight', 'offset');
      b.writeBigUInt64LE(b.readBigUInt64LE(at) + 4n, at);
    });
    await expect(readGguf(file)).rejects.toEqual(badWeights(/tensor 'blk.0.attn_norm.weight' has data offset \d+, not a multiple of the alignment 32/));
  });

  test('overlapping tensors', async () => {
    const file = patched('overlap.gguf', (b) => b.writeBigUInt64LE(0n, tensorField(b, 'blk.5.ffn_up.weight', 'offset')));
    await expect(readGguf(file)).rejects.toEqual(badWeights(/tensors 'token_embd.weight' \[\d+, \d+\) and 'blk.5.ffn_up.weight' \[\d+, \d+\) overlap/));
  });

  test('a tensor offset far past the end', async () => {
    const file = patched('far.gguf', (b) => b.writeBigUInt64LE(1n << 60n, tensorField(b, 'blk.2.attn_v.weight', 'offset')));
    await expect(readGguf(file)).rejects.toEqual(badWeights(/tensor 'blk.2.attn_v.weight' has data offset \d+, past the end/));
  });

  test('an unknown ggml type, including ids removed from the format', async () => {
    for (const id of [4, 99]) {
      const file = patched(`type-${id}.gguf`, (b) => b.writeUInt32LE(id, tensorField(b, 'blk.0.ffn_gate.weight', 'type')));
      await expect(readGguf(file)).rejects.toEqual(badWeights(new RegExp(`tensor 'blk.0.ffn_gate.weight' has unknown ggml type ${id}`)));
    }
  });

  test('too many dimensions', async () => {
    const file = patched('dims.gguf', (b) => {
      const name = Buffer.from('output_norm.weight');
      b.writeUInt32LE(5, b.lastIndexOf(name) + name.length);
    });
    await expect(readGguf(file)).rejects.toEqual(badWeights(/tensor 'output_norm.weight' has 5 dimensions/));
  });

  test('corrupted metadata: a bad bool, an unknown value type, a huge array length, a duplicate key', async () => {
    const bool = patched('bool.gguf', (b) => b.writeUInt8(7, keyEnd(b, 'tokenizer.ggml.add_bos_token') + 4));
    await expect(readGguf(bool)).rejects.toEqual(badWeights(/'tokenizer.ggml.add_bos_token': a bool must be 0 or 1, found 7/));

    const type = patched('valuetype.gguf', (b) => b.writeUInt32LE(13, keyEnd(b, 'general.name')));
    await expect(readGguf(type)).rejects.toEqual(badWeights(/metadata 'general.name' has unknown value type 13/));

    const huge = patched('huge.gguf', (b) => b.writeBigUInt64LE(1n << 40n, keyEnd(b, 'tokenizer.ggml.tokens') + 8));
    await expect(readGguf(huge)).rejects.toEqual(badWeights(/'tokenizer.ggml.tokens': array length 1099511627776 cannot fit/));

    const hugeString = patched('hugestring.gguf', (b) => b.writeBigUInt64LE(1n << 50n, keyEnd(b, 'general.name') + 4));
    await expect(readGguf(hugeString)).rejects.toEqual(badWeights(/truncated file: metadata 'general.name' is 1125899906842624 bytes long/));

    const dup = patched('dup.gguf', (b) => b.write('general.type', b.indexOf(Buffer.from('general.name')), 'latin1'));
    await expect(readGguf(dup)).rejects.toEqual(badWeights(/metadata key 'general.type' appears twice/));

    const utf8 = patched('utf8.gguf', (b) => b.writeUInt8(0xff, b.indexOf(Buffer.from('general.name'))));
    await expect(readGguf(utf8)).rejects.toEqual(badWeights(/metadata key #\d+ is not valid UTF-8/));
  });

  test('general.alignment: honoured when valid, refused when not a power of two', async () => {
    // 'llama.block_count' and 'general.alignment' have the same length: rename the key, keep its uint32
    const rename = (b: Buffer, value: number) => {
      const at = b.indexOf(Buffer.from('llama.block_count'));
      b.write('general.alignment', at, 'latin1');
      b.writeUInt32LE(value, at + 17 + 4);
    };
    const bad = patched('align-bad.gguf', (b) => rename(b, 30));
    await expect(readGguf(bad)).rejects.toEqual(badWeights(/general.alignment must be a uint32 power of two, found uint32 30/));
    // this file's layout happens to satisfy 64 as well (every offset and size is a multiple of 64) …
    const g64 = await readGguf(patched('align-64.gguf', (b) => rename(b, 64)));
    expect(g64.alignment).toBe(64);
    expect(g64.dataOffset).toBe(real.dataOffset);
    // … but not 4096: the first tensor offset that is no multiple of it is caught
    const wider = patched('align-4096.gguf', (b) => rename(b, 4096));
    await expect(readGguf(wider)).rejects.toEqual(
      badWeights(/tensor 'blk.0.ffn_down.weight' has data offset 30083328, not a multiple of the alignment 4096/));
  });
});
