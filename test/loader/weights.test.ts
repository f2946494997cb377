/**
 * Weight materialization: every loaded element compared with the file's bytes decoded here in plain
 * TypeScript (f32 / f16 / bf16 / Q8_0 / Q4_1), conversions within their rounding bound, slices and
 * transposes against index arithmetic, progress, abort, and cleanup after a failure.
 */
import * as fs from 'fs';
import * as path from 'path';
import type { DType, Tensor } from '../../lib/native';
import { native } from '../../lib/native';
import { openModel } from '../../lib/loader/open';
import type { ModelSource, TensorSource, WeightRequest } from '../../lib/core/source';
import { loadWeights } from '../../lib/loader/weights';
import { halfToFloat } from '../helpers/reference';
import { GGUF_FILE, MODELS, expectCoded, fixture, removeTempDirs } from './helpers';

afterAll(removeTempDirs);

// ------------------------------------------------------------------ reference decoding

/** every f16 bit pattern decoded once */
const HALF = Float64Array.from({ length: 65536 }, (_, h) => halfToFloat(h));

/** bf16 is the top half of an f32 */
function bf16Values(u: Uint16Array): Float64Array {
  const wide = new Uint32Array(u.length);
  for (let i = 0; i < u.length; i++) wide[i] = u[i] << 16;
  return Float64Array.from(new Float32Array(wide.buffer));
}

const aligned = (b: Buffer) => new Uint8Array(b).buffer;

function fileBytes(t: TensorSource): Buffer {
  const fd = fs.openSync(t.file, 'r');
  const buf = Buffer.alloc(t.nbytes);
  fs.readSync(fd, buf, 0, t.nbytes, t.offset);
  fs.closeSync(fd);
  return buf;
}

/** The stored values of a tensor as float64, decoded by hand. */
function reference(t: TensorSource): Float64Array {
  const b = fileBytes(t);
  const numel = t.shape.reduce((a, c) => a * c, 1);
  const out = new Float64Array(numel);
  switch (t.dtype) {
    case 'f32': out.set(new Float32Array(aligned(b))); break;
    case 'f16': out.set(Float64Array.from(new Uint16Array(aligned(b)), (h) => HALF[h])); break;
    case 'bf16': out.set(bf16Values(new Uint16Array(aligned(b)))); break;
    case 'q8_0': // blocks of 32: f16 scale d, 32 × int8
      for (let blk = 0; blk < numel / 32; blk++) {
        const d = halfToFloat(b.readUInt16LE(34 * blk));
        for (let j = 0; j < 32; j++) out[32 * blk + j] = d * b.readInt8(34 * blk + 2 + j);
      }
      break;
    case 'q4_1': // blocks of 32: f16 d, f16 m, 16 bytes: element j is the low nibble of byte j, j+16 the high one
      for (let blk = 0; blk < numel / 32; blk++) {
        const d = halfToFloat(b.readUInt16LE(20 * blk));
        const m = halfToFloat(b.readUInt16LE(20 * blk + 2));
        for (let j = 0; j < 16; j++) {
          const q = b[20 * blk + 4 + j];
          out[32 * blk + j] = d * (q & 15) + m;
          out[32 * blk + j + 16] = d * (q >> 4) + m;
        }
      }
      break;
    default: throw new Error(`reference: ${t.dtype}`);
  }
  return out;
}

function values(t: Tensor): Float64Array {
  const buf = t.read();
  if (t.dtype === 'f32') return Float64Array.from(new Float32Array(buf));
  const u = new Uint16Array(buf);
  return t.dtype === 'f16' ? Float64Array.from(u, (h) => HALF[h]) : bf16Values(u);
}

function expectExact(got: Float64Array, want: Float64Array, what: string): void {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

/** Round-to-nearest conversion bound: |got − want| ≤ half an ulp of the target format (relative), or tiny. */
function expectRounded(got: Float64Array, want: Float64Array, mantissaBits: number, what: string): void {
  const rel = 2 ** -(mantissaBits + 1);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i] - want[i]);
    if (err > Math.abs(want[i]) * rel + 2 ** -24) throw new Error(`${what}: element ${i} is ${got[i]}, expected ≈ ${want[i]}`);
  }
}

const weightsBytes = () => native.memoryTotals('cpu').weights;
const disposeAll = (m: Map<string, Tensor>) => m.forEach((t) => t.dispose());
const plainRequests = (src: ModelSource, dtype: DType | 'keep', filter = (t: TensorSource) => t.dtype !== 'i64') =>
  new Map<string, WeightRequest>([...src.tensors.values()].filter(filter).map((t) => [t.name, { dtype }]));

// ------------------------------------------------------------------ tests

describe('loading every tensor of the fixtures', () => {
  it.each(['bert', 'gpt2', 'llama-gqa', 'qwen2-bias-bf16', 'llama3-rope-scaled-sharded'])('%s in f32: identical to the file', async (name) => {
    const src = await openModel(fixture(name));
    const before = weightsBytes();
    const loaded = await loadWeights(src.tensors, plainRequests(src, 'f32'), { device: 'cpu' });
    try {
      expect(loaded.size).toBe(src.tensors.size);
      let bytes = 0;
      for (const [n, t] of loaded) {
        const s = src.tensors.get(n)!;
        expect(t.shape).toEqual(s.shape);
        expect(t.tag).toBe('weights');
        expectExact(values(t), reference(s), n);
        bytes += t.nbytes;
      }
      expect(weightsBytes() - before).toBe(bytes);
    } finally {
      disposeAll(loaded);
    }
    expect(weightsBytes()).toBe(before);
  });

  it("'keep' keeps bf16 weights as stored, bit for bit", async () => {
    const src = await openModel(fixture('qwen2-bias-bf16'));
    const loaded = await loadWeights(src.tensors, plainRequests(src, 'keep'), { device: 'cpu' });
    try {
      for (const [n, t] of loaded) {
        expect(t.dtype).toBe('bf16');
        expect(Buffer.from(t.read()).equals(fileBytes(src.tensors.get(n)!))).toBe(true);
      }
    } finally {
      disposeAll(loaded);
    }
  });

  it('f32 → f16 and f32 → bf16 while streaming, within half an ulp', async () => {
    const src = await openModel(fixture('llama-gqa'));
    for (const [dtype, bits] of [['f16', 10], ['bf16', 7]] as const) {
      const loaded = await loadWeights(src.tensors, plainRequests(src, dtype), { device: 'cpu' });
      try {
        for (const [n, t] of loaded) {
          expect(t.dtype).toBe(dtype);
          expectRounded(values(t), reference(src.tensors.get(n)!), bits, `${n} as ${dtype}`);
        }
      } finally {
        disposeAll(loaded);
      }
    }
  });

  it('GGUF blocks: kept bit for bit, or dequantized to f32 exactly', async () => {
    const src = await openModel(GGUF_FILE);
    const q8 = [...src.tensors.values()].find((t) => t.dtype === 'q8_0')!;
    const q4 = [...src.tensors.values()].find((t) => t.dtype === 'q4_1' && t.nbytes < 200_000)!;
    expect(q8).toBeDefined();
    expect(q4).toBeDefined();
    const requests = new Map<string, WeightRequest>([[q8.name, { dtype: 'keep' }], [q4.name, { dtype: 'f32' }]]);
    const loaded = await loadWeights(src.tensors, requests, { device: 'cpu' });
    try {
      const kept = loaded.get(q8.name)!;
      expect(kept.dtype).toBe('q8_0');
      expect(kept.nbytes).toBe(q8.nbytes);
      expect(Buffer.from(kept.read()).equals(fileBytes(q8))).toBe(true);
      const deq = loaded.get(q4.name)!;
      expect(deq.dtype).toBe('f32');
      expectExact(values(deq), reference(q4), q4.name);
    } finally {
      disposeAll(loaded);
    }
  });
});

describe('slices and transposes', () => {
  it("GPT-2 Conv1D: c_attn [C, 3C] transposed, and its k columns alone", async () => {
    const src = await openModel(fixture('gpt2'));
    const name = 'transformer.h.1.attn.c_attn.weight';
    const s = src.tensors.get(name)!;
    const [C, C3] = s.shape;
    const want = reference(s);
    const loaded = await loadWeights(src.tensors, new Map<string, WeightRequest>([[name, { dtype: 'f32', transpose: true }]]), { device: 'cpu' });
    const k = await loadWeights(src.tensors, new Map<string, WeightRequest>([[name, { dtype: 'f32', cols: [C, 2 * C], transpose: true }]]), { device: 'cpu' });
    try {
      const t = loaded.get(name)!;
      expect(t.shape).toEqual([C3, C]);
      const transposed = new Float64Array(C3 * C);
      for (let o = 0; o < C3; o++) for (let i = 0; i < C; i++) transposed[o * C + i] = want[i * C3 + o];
      expectExact(values(t), transposed, 'c_attn transposed');
      const kt = k.get(name)!;
      expect(kt.shape).toEqual([C, C]);
      const kPart = new Float64Array(C * C);
      for (let o = 0; o < C; o++) for (let i = 0; i < C; i++) kPart[o * C + i] = want[i * C3 + C + o];
      expectExact(values(kt), kPart, 'k columns transposed');
    } finally {
      disposeAll(loaded);
      disposeAll(k);
    }
  });

  it('rows and cols of a bf16 source, converted to f32 after slicing', async () => {
    const src = await openModel(fixture('qwen2-bias-bf16'));
    const name = 'model.layers.0.mlp.gate_proj.weight'; // [512, 256]
    const s = src.tensors.get(name)!;
    const want = reference(s);
    const loaded = await loadWeights(src.tensors, new Map<string, WeightRequest>([[name, { dtype: 'f32', rows: [7, 300], cols: [3, 250] }]]), { device: 'cpu' });
    try {
      const t = loaded.get(name)!;
      expect(t.shape).toEqual([293, 247]);
      const slice = new Float64Array(293 * 247);
      for (let r = 0; r < 293; r++) for (let c = 0; c < 247; c++) slice[r * 247 + c] = want[(r + 7) * 256 + c + 3];
      expectExact(values(t), slice, 'rows [7, 300) × cols [3, 250)');
    } finally {
      disposeAll(loaded);
    }
  });

  it('bad ranges, 1-D sources and quantized sources are refused before allocating', async () => {
    const src = await openModel(fixture('gpt2'));
    const before = weightsBytes();
    await expectCoded(loadWeights(src.tensors, new Map([['transformer.wte.weight', { dtype: 'f32' as const, rows: [0, 1001] as [number, number] }]]), { device: 'cpu' }),
      'ERR_GPUFORMER_INPUT', /rows \[0, 1001\)/, /\[0, 1000\)/);
    await expectCoded(loadWeights(src.tensors, new Map([['transformer.ln_f.weight', { dtype: 'f32' as const, transpose: true }]]), { device: 'cpu' }),
      'ERR_GPUFORMER_INPUT', /2-D/);
    const gguf = await openModel(GGUF_FILE);
    await expectCoded(loadWeights(gguf.tensors, new Map([['model.embed_tokens.weight', { dtype: 'keep' as const, transpose: true }]]), { device: 'cpu' }),
      'ERR_GPUFORMER_UNSUPPORTED', /q8_0 blocks cannot be sliced/);
    expect(weightsBytes()).toBe(before);
  });
});

describe('progress, abort and failure', () => {
  it('reports progress per chunk and per tensor, ending at the total', async () => {
    const src = await openModel(fixture('gpt2'));
    const requests = plainRequests(src, 'f32');
    const seen: Array<{ bytesDone: number; bytesTotal: number; tensor: string }> = [];
    const loaded = await loadWeights(src.tensors, requests, { device: 'cpu', chunkBytes: 4096, onProgress: (p) => seen.push(p) });
    disposeAll(loaded);
    const total = [...src.tensors.values()].reduce((a, t) => a + t.nbytes, 0);
    expect(seen.length).toBeGreaterThan(src.tensors.size); // chunks of the big tensors too
    expect(seen.every((p) => p.bytesTotal === total)).toBe(true);
    for (let i = 1; i < seen.length; i++) expect(seen[i].bytesDone).toBeGreaterThanOrEqual(seen[i - 1].bytesDone);
    expect(seen[seen.length - 1].bytesDone).toBe(total);
    expect(new Set(seen.map((p) => p.tensor))).toEqual(new Set(requests.keys()));
  });

  it('chunked reads give the same bytes as one read', async () => {
    const src = await openModel(fixture('qwen2-bias-bf16'));
    const requests = plainRequests(src, 'f32');
    const a = await loadWeights(src.tensors, requests, { device: 'cpu', chunkBytes: 1000 });
    const b = await loadWeights(src.tensors, requests, { device: 'cpu' });
    try {
      for (const [n, t] of a) expect(Buffer.from(t.read()).equals(Buffer.from(b.get(n)!.read()))).toBe(true);
    } finally {
      disposeAll(a);
      disposeAll(b);
    }
  });

  it('a failure part-way disposes everything loaded so far', async () => {
    const src = await openModel(fixture('llama-gqa'));
    const tensors = new Map(src.tensors);
    const victim = tensors.get('model.layers.1.mlp.down_proj.weight')!;
    // the last request points past the end of its file, as a truncated copy would
    tensors.set('broken', { ...victim, name: 'broken', offset: fs.statSync(victim.file).size - 100 });
    const requests = plainRequests(src, 'f32');
    requests.set('broken', { dtype: 'f32' });
    const before = native.memoryTotals('cpu');
    await expectCoded(loadWeights(tensors, requests, { device: 'cpu' }), 'ERR_GPUFORMER_BAD_WEIGHTS', /truncated/);
    const after = native.memoryTotals('cpu');
    expect(after.weights).toBe(before.weights);
    expect(after.allocations).toBe(before.allocations);
  });

  it('a transpose source past the end of its file fails and leaves nothing', async () => {
    const src = await openModel(fixture('gpt2'));
    const tensors = new Map(src.tensors);
    const s = tensors.get('transformer.h.0.attn.c_attn.weight')!;
    tensors.set(s.name, { ...s, offset: fs.statSync(s.file).size - 10 });
    const before = weightsBytes();
    await expectCoded(loadWeights(tensors, new Map<string, WeightRequest>([['transformer.wte.weight', { dtype: 'f32' }], [s.name, { dtype: 'f32', transpose: true }]]),
      { device: 'cpu' }), 'ERR_GPUFORMER_BAD_WEIGHTS', /truncated/);
    expect(weightsBytes()).toBe(before);
  });

  it('aborting stops the load and frees it', async () => {
    const src = await openModel(fixture('llama-gqa'));
    const ac = new AbortController();
    const before = weightsBytes();
    let calls = 0;
    await expectCoded(loadWeights(src.tensors, plainRequests(src, 'f32'), {
      device: 'cpu', signal: ac.signal, onProgress: () => { if (++calls === 3) ac.abort(); },
    }), 'ERR_GPUFORMER_ABORTED', /aborted/);
    expect(calls).toBe(3);
    expect(weightsBytes()).toBe(before);
  });

  it('a request for a tensor the checkpoint lacks is refused before allocating', async () => {
    const src = await openModel(fixture('gpt2'));
    const before = native.memoryTotals('cpu').allocations;
    await expectCoded(loadWeights(src.tensors, new Map([['transformer.wte.weight', { dtype: 'f32' as const }], ['nope.weight', { dtype: 'f32' as const }]]),
      { device: 'cpu' }), 'ERR_GPUFORMER_BAD_WEIGHTS', /'nope\.weight'/);
    expect(native.memoryTotals('cpu').allocations).toBe(before);
  });
});

it('the loader never imports the whole checkpoint into JS (heap stays flat over a 91 MB model)', async () => {
  const src = await openModel(path.join(MODELS, 'all-MiniLM-L6-v2'));
  const requests = plainRequests(src, 'f32');
  global.gc?.();
  const heapBefore = process.memoryUsage().heapUsed;
  const loaded = await loadWeights(src.tensors, requests, { device: 'cpu' });
  const heapAfter = process.memoryUsage().heapUsed;
  try {
    const total = [...loaded.values()].reduce((a, t) => a + t.nbytes, 0);
    expect(total).toBeGreaterThan(90e6);
    expect(heapAfter - heapBefore).toBeLessThan(20e6);
  } finally {
    disposeAll(loaded);
  }
});
