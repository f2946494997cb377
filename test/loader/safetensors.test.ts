/**
 * The strict safetensors reader: headers written by hand here (every dtype, metadata, sparse multi-GB
 * data), the real fixtures, sharded checkpoints, and each kind of damage → its coded error.
 */
import * as fs from 'fs';
import * as path from 'path';
import { MAX_HEADER_BYTES, readSafetensors, readShardedSafetensors } from '../../lib/loader/safetensors';
import { expectCoded, fixture, removeTempDirs, safetensorsBytes, tempDir, writeSafetensors } from './helpers';

let dir: string;
beforeAll(() => {
  dir = tempDir('gf-st');
});
afterAll(removeTempDirs);

/** Counts the bytes read through fs.promises file handles until stop() (what a reader really reads, at any speed). */
function countBytesRead(): { bytes: number; stop: () => void } {
  const counter = { bytes: 0, stop: () => spy.mockRestore() };
  const open = fs.promises.open.bind(fs.promises);
  const spy = jest.spyOn(fs.promises, 'open').mockImplementation(async (...args: Parameters<typeof fs.promises.open>) => {
    const fh = await open(...args);
    const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<fs.promises.FileReadResult<NodeJS.ArrayBufferView>>;
    (fh as { read: unknown }).read = async (...a: unknown[]) => {
      const r = await read(...a);
      counter.bytes += r.bytesRead;
      return r;
    };
    return fh;
  });
  return counter;
}

describe('reading headers', () => {
  it('reads every accepted dtype with absolute offsets, shapes, sizes and metadata', async () => {
    const tensors = [
      { name: 'a.f32', dtype: 'F32', shape: [3, 5] },
      { name: 'b.f16', dtype: 'F16', shape: [7] },
      { name: 'c.bf16', dtype: 'BF16', shape: [2, 3, 4] },
      { name: 'd.i8', dtype: 'I8', shape: [33] },
      { name: 'e.i32', dtype: 'I32', shape: [1, 1] },
      { name: 'f.i64', dtype: 'I64', shape: [4] },
      { name: 'g.scalar', dtype: 'F32', shape: [] },
      { name: 'h.empty', dtype: 'F16', shape: [0, 8] },
    ];
    const file = writeSafetensors(path.join(dir, 'all.safetensors'), tensors, { metadata: { format: 'pt', note: 'x' } });
    const st = await readSafetensors(file);
    const headerLen = fs.readFileSync(file).readBigUInt64LE(0);
    expect(st.dataStart).toBe(8 + Number(headerLen));
    expect(st.metadata).toEqual({ format: 'pt', note: 'x' });
    const byName = new Map(st.tensors.map((t) => [t.name, t]));
    const expected: Record<string, [string, number[], number]> = {
      'a.f32': ['f32', [3, 5], 60], 'b.f16': ['f16', [7], 14], 'c.bf16': ['bf16', [2, 3, 4], 48], 'd.i8': ['i8', [33], 33],
      'e.i32': ['i32', [1, 1], 4], 'f.i64': ['i64', [4], 32], 'g.scalar': ['f32', [], 4], 'h.empty': ['f16', [0, 8], 0],
    };
    let offset = st.dataStart;
    for (const t of tensors) {
      const got = byName.get(t.name)!;
      const [dtype, shape, nbytes] = expected[t.name];
      expect(got).toEqual({ name: t.name, file: path.resolve(file), offset, dtype, shape, nbytes });
      offset += nbytes;
    }
  });

  it('points offsets at the right bytes of a real checkpoint', async () => {
    const file = path.join(fixture('gpt2'), 'model.safetensors');
    const st = await readSafetensors(file);
    const buf = fs.readFileSync(file);
    const header = JSON.parse(buf.subarray(8, st.dataStart).toString('utf8'));
    expect(st.tensors).toHaveLength(Object.keys(header).length - 1);
    for (const t of st.tensors) {
      const [begin, end] = header[t.name].data_offsets;
      expect(t.offset).toBe(st.dataStart + begin);
      expect(t.nbytes).toBe(end - begin);
      expect(t.dtype).toBe('f32');
    }
    const wte = st.tensors.find((t) => t.name === 'transformer.wte.weight')!;
    expect(wte.shape).toEqual([1000, 128]);
  });

  it('reads only the header of a file whose data section is gigabytes (sparse file)', async () => {
    const file = path.join(dir, 'huge.safetensors');
    const shape = [50000, 8192]; // 1.6 GB of f32
    const head = safetensorsBytes([{ name: 'big', dtype: 'F32', shape, data: new Uint8Array(0), offsets: [0, 50000 * 8192 * 4] }]);
    fs.writeFileSync(file, head);
    fs.truncateSync(file, head.length + 50000 * 8192 * 4); // holes: no disk used
    const before = process.memoryUsage().rss;
    const read = countBytesRead();
    const st = await readSafetensors(file).finally(read.stop);
    expect(read.bytes).toBeGreaterThan(0); // the count sees the reader
    expect(read.bytes).toBeLessThanOrEqual(head.length);
    expect(process.memoryUsage().rss - before).toBeLessThan(100 * 2 ** 20);
    expect(st.tensors[0].nbytes).toBe(50000 * 8192 * 4);
  });

  it('reads sharded checkpoints through their index', async () => {
    const tensors = await readShardedSafetensors(path.join(fixture('llama3-rope-scaled-sharded'), 'model.safetensors.index.json'));
    const index = JSON.parse(fs.readFileSync(path.join(fixture('llama3-rope-scaled-sharded'), 'model.safetensors.index.json'), 'utf8'));
    expect(tensors.size).toBe(Object.keys(index.weight_map).length);
    for (const [name, shard] of Object.entries(index.weight_map as Record<string, string>)) {
      expect(path.basename(tensors.get(name)!.file)).toBe(shard);
    }
    const total = [...tensors.values()].reduce((a, t) => a + t.nbytes, 0);
    expect(total).toBe(index.metadata.total_size);
  });
});

describe('damaged files', () => {
  const write = (name: string, bytes: Buffer) => {
    const f = path.join(dir, name);
    fs.writeFileSync(f, bytes);
    return f;
  };
  const good = () => safetensorsBytes([{ name: 'w', dtype: 'F32', shape: [4, 4] }, { name: 'b', dtype: 'F32', shape: [4] }]);

  it('a file shorter than the length field', async () => {
    await expectCoded(readSafetensors(write('tiny.safetensors', Buffer.from([1, 2, 3]))), 'ERR_GPUFORMER_BAD_WEIGHTS', /truncated/, /3 bytes/);
  });

  it('a file truncated inside its data section', async () => {
    const bytes = good();
    await expectCoded(readSafetensors(write('trunc.safetensors', bytes.subarray(0, bytes.length - 5))), 'ERR_GPUFORMER_BAD_WEIGHTS',
      /'b'/, /end past the data section/, /truncated/);
  });

  it('a header length past the end of the file', async () => {
    const bytes = safetensorsBytes([{ name: 'w', dtype: 'F32', shape: [2] }], { lengthOverride: 5000n });
    await expectCoded(readSafetensors(write('pastend.safetensors', bytes)), 'ERR_GPUFORMER_BAD_WEIGHTS', /5000 bytes/, /past the end/);
  });

  it('a header length over the cap', async () => {
    const bytes = safetensorsBytes([{ name: 'w', dtype: 'F32', shape: [2] }], { lengthOverride: 2n ** 40n });
    await expectCoded(readSafetensors(write('huge-header.safetensors', bytes)), 'ERR_GPUFORMER_BAD_WEIGHTS',
      new RegExp(String(MAX_HEADER_BYTES)));
  });

  it('a header that is not JSON, or not an object', async () => {
    await expectCoded(readSafetensors(write('nojson.safetensors', safetensorsBytes([], { headerOverride: '{"w": {"dtype": "F32",' }))),
      'ERR_GPUFORMER_BAD_WEIGHTS', /not valid JSON/);
    await expectCoded(readSafetensors(write('array.safetensors', safetensorsBytes([], { headerOverride: '[1, 2]' }))),
      'ERR_GPUFORMER_BAD_WEIGHTS', /must be a JSON object/);
  });

  it('overlapping tensors', async () => {
    const bytes = safetensorsBytes([
      { name: 'first', dtype: 'F32', shape: [4], offsets: [0, 16] },
      { name: 'second', dtype: 'F32', shape: [4], offsets: [8, 24] },
    ]);
    await expectCoded(readSafetensors(write('overlap.safetensors', bytes)), 'ERR_GPUFORMER_BAD_WEIGHTS', /'first'/, /'second'/, /overlap/);
  });

  it('bytes disagreeing with the shape', async () => {
    const bytes = safetensorsBytes([{ name: 'w', dtype: 'F16', shape: [3, 3], data: new Uint8Array(20) }]);
    await expectCoded(readSafetensors(write('badsize.safetensors', bytes)), 'ERR_GPUFORMER_BAD_WEIGHTS',
      /'w'/, /hold 20 bytes/, /\[3,3\]/, /9 × 2 = 18/);
  });

  it('malformed entries: offsets reversed, shape not integers, dtype missing', async () => {
    await expectCoded(readSafetensors(write('rev.safetensors', safetensorsBytes([{ name: 'w', dtype: 'F32', shape: [1], offsets: [4, 0] }]))),
      'ERR_GPUFORMER_BAD_WEIGHTS', /data_offsets/);
    await expectCoded(readSafetensors(write('shape.safetensors', safetensorsBytes([], {
      headerOverride: JSON.stringify({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }),
    }))), 'ERR_GPUFORMER_BAD_WEIGHTS', /shape/);
    await expectCoded(readSafetensors(write('dtype.safetensors', safetensorsBytes([], {
      headerOverride: JSON.stringify({ w: { shape: [1], data_offsets: [0, 4] } }),
    }))), 'ERR_GPUFORMER_BAD_WEIGHTS', /dtype/);
  });

  it.each(['F64', 'BOOL', 'F8_E4M3', 'U8'])('dtype %s is unsupported, naming the tensor', async (dtype) => {
    const bytes = safetensorsBytes([{ name: 'ok', dtype: 'F32', shape: [2] }, { name: 'odd.weight', dtype, shape: [2, 2] }]);
    await expectCoded(readSafetensors(write(`${dtype}.safetensors`, bytes)), 'ERR_GPUFORMER_UNSUPPORTED', /'odd\.weight'/, new RegExp(dtype));
  });

  it('a missing file', async () => {
    await expectCoded(readSafetensors(path.join(dir, 'nope.safetensors')), 'ERR_GPUFORMER_BAD_WEIGHTS', /cannot open/);
  });
});

describe('damaged sharded checkpoints', () => {
  const shardDir = () => {
    const d = fs.mkdtempSync(path.join(dir, 'shards-'));
    writeSafetensors(path.join(d, 'model-00001-of-00002.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2] }]);
    writeSafetensors(path.join(d, 'model-00002-of-00002.safetensors'), [{ name: 'b', dtype: 'F32', shape: [2] }]);
    return d;
  };
  const writeIndex = (d: string, map: Record<string, string>) => {
    const f = path.join(d, 'model.safetensors.index.json');
    fs.writeFileSync(f, JSON.stringify({ metadata: {}, weight_map: map }));
    return f;
  };

  it('reads a consistent pair', async () => {
    const d = shardDir();
    const t = await readShardedSafetensors(writeIndex(d, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' }));
    expect([...t.keys()].sort()).toEqual(['a', 'b']);
  });

  it('a shard the index names is missing', async () => {
    const d = shardDir();
    fs.rmSync(path.join(d, 'model-00002-of-00002.safetensors'));
    await expectCoded(readShardedSafetensors(writeIndex(d, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' })),
      'ERR_GPUFORMER_BAD_WEIGHTS', /model-00002-of-00002\.safetensors/, /missing/);
  });

  it('a tensor is not where the index says', async () => {
    const d = shardDir();
    await expectCoded(readShardedSafetensors(writeIndex(d, { a: 'model-00002-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' })),
      'ERR_GPUFORMER_BAD_WEIGHTS', /'a'/, /does not hold it/);
  });

  it('a shard path outside the directory', async () => {
    const d = shardDir();
    await expectCoded(readShardedSafetensors(writeIndex(d, { a: '../elsewhere.safetensors' })), 'ERR_GPUFORMER_BAD_WEIGHTS', /outside/);
  });

  it('the same tensor in two shards', async () => {
    const d = shardDir();
    writeSafetensors(path.join(d, 'model-00002-of-00002.safetensors'), [{ name: 'a', dtype: 'F32', shape: [2] }]);
    await expectCoded(readShardedSafetensors(writeIndex(d, { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' })),
      'ERR_GPUFORMER_BAD_WEIGHTS', /stored twice/);
  });
});
