/**
 * The bench's GGUF writer and Hugging Face → GGUF converter: files read back by gpuformer's own strict GGUF
 * reader (lib/loader), the layout transforms against plain index formulas, and the converted fixture models
 * run by llama.cpp (node-llama-cpp, in a child process: it is an ES module) against the golden outputs.
 */
import { execFileSync } from 'child_process';
import { mkdtempSync, readFileSync, rmSync } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { readGguf } from '../../lib/loader/gguf-reader';
import { quantizeBlocks } from '../../lib/ops/quantize';
import { f16BitsToF32, f32ToF16Bits } from '../../bench/models/f16';
import { readModelTensors, readTensorBytes } from '../../bench/models/safetensors';
import { GgufWriter } from '../../bench/peers/gguf-writer';
import { convertHfToGguf, llama3RopeFactors, ropePermuteRows, transposeBytes } from '../../bench/peers/hf-to-gguf';

const FIXTURES = join(__dirname, '..', '..', '..', 'shared', 'fixtures');
const MODELS = join(__dirname, '..', '..', '..', 'shared', 'models');

let dir: string;
beforeAll(() => { dir = mkdtempSync(join(tmpdir(), 'gf-gguf-')); });
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bytesOf = (a: ArrayBufferView) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);

function fileBytes(path: string, offset: number, n: number): Uint8Array {
  return new Uint8Array(readFileSync(path).subarray(offset, offset + n));
}

describe('GgufWriter', () => {
  it('writes metadata of every scalar type and arrays that the project reader reads back with their types', async () => {
    const w = new GgufWriter();
    w.set('t.u8', { type: 'u8', value: 250 }).set('t.i8', { type: 'i8', value: -7 }).set('t.u16', { type: 'u16', value: 65000 })
      .set('t.i16', { type: 'i16', value: -30000 }).u32('t.u32', 4_000_000_000).set('t.i32', { type: 'i32', value: -2_000_000_000 })
      .f32('t.f32', 0.1).bool('t.bool', true).string('t.str', 'héllo ▁wörld')
      .set('t.u64', { type: 'u64', value: 2n ** 60n }).set('t.i64', { type: 'i64', value: -5 }).set('t.f64', { type: 'f64', value: Math.PI })
      .array('t.strs', 'string', ['a', '', 'Ġthe']).array('t.i32s', 'i32', [1, -2, 3]).array('t.f32s', 'f32', [0.5, -1.25]);
    const p = join(dir, 'meta.gguf');
    await w.write(p);
    const g = await readGguf(p);
    expect(g.version).toBe(3);
    expect(g.alignment).toBe(32);
    const m = g.metadata;
    expect([m.get('t.u8'), m.get('t.i8'), m.get('t.u16'), m.get('t.i16'), m.get('t.u32'), m.get('t.i32')]).toEqual([250, -7, 65000, -30000, 4_000_000_000, -2_000_000_000]);
    expect(m.get('t.f32')).toBeCloseTo(0.1, 7);
    expect(m.get('t.bool')).toBe(true);
    expect(m.get('t.str')).toBe('héllo ▁wörld');
    expect(m.get('t.u64')).toBe(2n ** 60n);
    expect(m.get('t.i64')).toBe(-5);
    expect(m.get('t.f64')).toBe(Math.PI);
    expect(m.get('t.strs')).toEqual(['a', '', 'Ġthe']);
    expect(m.get('t.i32s')).toEqual([1, -2, 3]);
    expect(m.get('t.f32s')).toEqual([0.5, -1.25]);
    expect(g.metadataTypes.get('t.u8')).toBe('uint8');
    expect(g.metadataTypes.get('t.strs')).toBe('array[string]');
    expect(g.tensors).toEqual([]);
  });

  it('writes F32 and F16 tensors at aligned offsets with reversed dims and the given bytes, chunked or not', async () => {
    const w = new GgufWriter(64);
    const a = Float32Array.from({ length: 3 }, (_, i) => i + 0.5);
    const b = Float32Array.from({ length: 10 }, (_, i) => -i);
    const c = Uint16Array.from({ length: 24 }, (_, i) => f32ToF16Bits(i / 8));
    w.addTensor({ name: 'a', shape: [3], type: 'F32', chunks: () => [bytesOf(a)] });
    w.addTensor({ name: 'b.weight', shape: [2, 5], type: 'F32', chunks: () => [bytesOf(b.subarray(0, 4)), bytesOf(b.subarray(4))] });
    w.addTensor({ name: 'c', shape: [2, 3, 4], type: 'F16', chunks: async function* () { yield bytesOf(c); } });
    const p = join(dir, 'tensors.gguf');
    await w.write(p);
    const g = await readGguf(p);
    expect(g.alignment).toBe(64);
    expect(g.metadata.get('general.alignment')).toBe(64);
    expect(g.dataOffset % 64).toBe(0);
    expect(g.tensors.map((t) => [t.name, t.dims, t.type.name, t.nbytes])).toEqual([
      ['a', [3], 'F32', 12], ['b.weight', [5, 2], 'F32', 40], ['c', [4, 3, 2], 'F16', 48],
    ]);
    for (const t of g.tensors) expect(t.relativeOffset % 64).toBe(0);
    const [ta, tb, tc] = g.tensors;
    expect(fileBytes(p, ta.fileOffset, ta.nbytes)).toEqual(bytesOf(a));
    expect(fileBytes(p, tb.fileOffset, tb.nbytes)).toEqual(bytesOf(b));
    expect(fileBytes(p, tc.fileOffset, tc.nbytes)).toEqual(bytesOf(c));
    expect(g.fileSize % 64).toBe(0);
  });

  it('refuses names, shapes and data llama.cpp would not take', async () => {
    const w = new GgufWriter();
    const ok = { shape: [2], type: 'F32' as const, chunks: () => [new Uint8Array(8)] };
    w.addTensor({ name: 'x', ...ok });
    expect(() => w.addTensor({ name: 'x', ...ok })).toThrow(/added twice/);
    expect(() => w.addTensor({ name: 'n'.repeat(64), ...ok })).toThrow(/longer than 63 bytes/);
    expect(() => w.addTensor({ name: 'y', ...ok, shape: [2, 0] })).toThrow(/1 to 4 positive dimensions/);
    expect(() => w.addTensor({ name: 'z', ...ok, shape: [1, 1, 1, 1, 2] })).toThrow(/1 to 4 positive dimensions/);
    expect(() => new GgufWriter(12)).toThrow(/multiple of 8/);
    expect(() => w.addTensor({ name: 'q', shape: [2, 48], type: 'Q8_0', chunks: () => [] })).toThrow(/whole 32-element blocks/);
    w.addTensor({ name: 'short', shape: [4], type: 'F32', chunks: () => [new Uint8Array(12)] });
    await expect(w.write(join(dir, 'bad.gguf'))).rejects.toThrow(/short gave 12 bytes, expected 16/);
  });
});

describe('half precision', () => {
  it('rounds to nearest even and handles the edges', () => {
    expect(f32ToF16Bits(1)).toBe(0x3c00);
    expect(f32ToF16Bits(-2)).toBe(0xc000);
    expect(f32ToF16Bits(65504)).toBe(0x7bff);
    expect(f32ToF16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f32ToF16Bits(2 ** -24)).toBe(0x0001);
    expect(f32ToF16Bits(2 ** -26)).toBe(0x0000);
    expect(f32ToF16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie goes to the even mantissa
    expect(f32ToF16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f32ToF16Bits(-0)).toBe(0x8000);
    expect(f32ToF16Bits(Infinity)).toBe(0x7c00);
    expect(f32ToF16Bits(NaN) & 0x7c00).toBe(0x7c00);
  });

  it('round-trips every finite half exactly', () => {
    const wrong: number[] = [];
    for (let h = 0; h < 0x10000; h++) {
      if ((h & 0x7c00) !== 0x7c00 && f32ToF16Bits(f16BitsToF32(h)) !== h) wrong.push(h);
    }
    expect(wrong).toEqual([]);
  });
});

describe('layout transforms', () => {
  const rowsOf = (n: number, rowBytes: number) => Uint8Array.from({ length: n * rowBytes }, (_, i) => Math.floor(i / rowBytes));

  it('permutes q/k rows from rotate-half to interleaved pairs per head', () => {
    // two heads of 4: head rows (0 1 | 2 3) pair 0 with 2 and 1 with 3 → interleaved 0 2 1 3
    const out = ropePermuteRows(rowsOf(8, 3), 2, 8, 3);
    const order = Array.from({ length: 8 }, (_, r) => out[r * 3]);
    expect(order).toEqual([0, 2, 1, 3, 4, 6, 5, 7]);
    // against the index formula at a realistic size: out row h·d + 2i + j ← in row h·d + j·d/2 + i
    const heads = 3, d = 64, n = heads * d;
    const big = ropePermuteRows(rowsOf(n, 1), heads, n, 1);
    for (let h = 0; h < heads; h++) for (let i = 0; i < d / 2; i++) for (let j = 0; j < 2; j++) {
      expect(big[h * d + 2 * i + j]).toBe(h * d + j * (d / 2) + i);
    }
    expect(() => ropePermuteRows(rowsOf(6, 1), 2, 6, 1)).toThrow(/heads of even size/);
  });

  it('transposes [rows, cols] element-wise', () => {
    const src = Float32Array.from({ length: 6 }, (_, i) => i); // [[0 1 2] [3 4 5]]
    const t = new Float32Array(transposeBytes(bytesOf(src), 2, 3, 4).buffer);
    expect(Array.from(t)).toEqual([0, 3, 1, 4, 2, 5]);
  });

  it('computes llama3 rope factors: 1 for high frequencies, the factor for low ones, smooth between', () => {
    const s = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const f = llama3RopeFactors(64, 500000, s);
    expect(f.length).toBe(32);
    expect(f[0]).toBe(1);
    expect(f[31]).toBe(32);
    for (let i = 0; i < 32; i++) {
      const wavelen = 2 * Math.PI * 500000 ** ((2 * i) / 64);
      if (wavelen >= 2048 && wavelen <= 8192) {
        const smooth = (8192 / wavelen - 1) / 3;
        expect(f[i]).toBeCloseTo(1 / ((1 - smooth) / 32 + smooth), 5);
      }
      if (i > 0) expect(f[i]).toBeGreaterThanOrEqual(f[i - 1]);
    }
  });
});

/**
 * Runs llama.cpp on a GGUF in a child process (test/bench/llama-cpp-run.mjs: node-llama-cpp is an ES module and
 * forks a binary check that must not inherit an eval) and returns its JSON: greedy ids per prompt, or embeddings.
 */
function runLlama(path: string, mode: 'greedy' | 'embed', inputs: number[][], steps: number[] = []): unknown[] {
  const out = execFileSync(process.execPath, [join(__dirname, 'llama-cpp-run.mjs'), path, mode, JSON.stringify(inputs), JSON.stringify(steps)],
    { cwd: join(__dirname, '..', '..'), encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 110_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

async function golden(fixture: string): Promise<{ cases: Array<{ name: string; input_ids: number[] }>; get: (name: string) => Float32Array | Int32Array }> {
  const cases = JSON.parse(readFileSync(join(FIXTURES, fixture, 'cases.json'), 'utf8')).cases;
  const file = join(FIXTURES, fixture, 'golden.safetensors');
  const { readSafetensorsTensors } = await import('../../lib/loader/safetensors');
  const tensors = await readSafetensorsTensors(file);
  return {
    cases,
    get: (name) => {
      const t = tensors.get(name)!;
      const b = readTensorBytes(t);
      const copy = b.slice().buffer;
      return t.dtype === 'i32' ? new Int32Array(copy) : new Float32Array(copy);
    },
  };
}

describe('Hugging Face → GGUF conversion, run by llama.cpp', () => {
  it.each(['llama-gqa', 'gpt2', 'llama3-rope-scaled-sharded'])('%s: llama.cpp greedy-decodes the golden continuation', async (fixture) => {
    const out = join(dir, `${fixture}.gguf`);
    await convertHfToGguf(join(FIXTURES, fixture), out, 'F32');
    const g = await golden(fixture);
    const expected = g.cases.map((c) => Array.from(g.get(`${c.name}.greedy`)));
    const got = runLlama(out, 'greedy', g.cases.map((c) => c.input_ids), expected.map((e) => e.length));
    expect(got).toEqual(expected);
  });

  it('bert: llama.cpp pools the golden sentence embeddings', async () => {
    const out = join(dir, 'bert.gguf');
    await convertHfToGguf(join(FIXTURES, 'bert'), out, 'F16');
    const g = await golden('bert');
    // token types are all 0 in llama.cpp's embedding API, so only the cases without type 1 compare
    const cases = (g.cases as Array<{ name: string; input_ids: number[]; token_type_ids?: number[] }>).filter((c) => !(c.token_type_ids ?? []).some((t) => t !== 0));
    expect(cases.length).toBeGreaterThan(0);
    const got = runLlama(out, 'embed', cases.map((c) => c.input_ids)) as number[][];
    cases.forEach((c, i) => {
      const ref = g.get(`${c.name}.embedding`);
      let dot = 0, n1 = 0, n2 = 0;
      for (let k = 0; k < ref.length; k++) { dot += got[i][k] * ref[k]; n1 += got[i][k] ** 2; n2 += ref[k] ** 2; }
      expect(dot / Math.sqrt(n1 * n2)).toBeGreaterThan(0.999);
    });
  });

  it('qwen2-bias-bf16 as a Q8_0 llama file (q/k/v biases, q/k permuted with their rows): llama.cpp greedy-decodes the golden continuation', async () => {
    const out = join(dir, 'qwen2.q8_0.gguf');
    await convertHfToGguf(join(FIXTURES, 'qwen2-bias-bf16'), out, 'Q8_0');
    const byName = new Map((await readGguf(out)).tensors.map((t) => [t.name, t.type.name]));
    expect([byName.get('token_embd.weight'), byName.get('blk.1.attn_q.weight'), byName.get('blk.1.attn_q.bias')]).toEqual(['Q8_0', 'Q8_0', 'F32']);
    const g = await golden('qwen2-bias-bf16');
    const expected = g.cases.map((c) => Array.from(g.get(`${c.name}.greedy`)));
    expect(runLlama(out, 'greedy', g.cases.map((c) => c.input_ids), expected.map((e) => e.length))).toEqual(expected);
  });

  it.each(['Q4_0', 'Q4_1'] as const)('llama2.c 260K as %s: ggml blocks (the native quantizer, lib/ops/quantize.ts); rows that are not whole blocks stay F32', async (type) => {
    const out = join(dir, `llama2c.${type}.gguf`);
    await convertHfToGguf(join(MODELS, 'llama2c-260K'), out, type);
    const g = await readGguf(out);
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(g.metadata.get('general.file_type')).toBe(type === 'Q4_0' ? 2 : 3);
    expect(byName.get('blk.0.ffn_down.weight')!.type.name).toBe('F32'); // [64, 172]: 172 is not a multiple of 32
    expect(byName.get('blk.0.ffn_up.weight')!.type.name).toBe(type);
    expect(byName.get('token_embd.weight')!.type.name).toBe('Q8_0'); // the tied head, as quantize-at-load has it
    const src = (await readModelTensors(join(MODELS, 'llama2c-260K'))).get('model.layers.0.mlp.up_proj.weight')!;
    const up = byName.get('blk.0.ffn_up.weight')!;
    const x = new Float32Array(readTensorBytes(src).slice().buffer);
    const want = quantizeBlocks(type === 'Q4_0' ? 'q4_0' : 'q4_1', x);
    expect(Buffer.from(fileBytes(out, up.fileOffset, up.nbytes)).equals(Buffer.from(want))).toBe(true);
  });

  it('stores llama q/k permuted, 1-D tensors in F32, the tied head once, and the tokenizer from the directory', async () => {
    const out = join(dir, 'llama2c.gguf');
    await convertHfToGguf(join(MODELS, 'llama2c-260K'), out, 'F16');
    const g = await readGguf(out);
    const names = g.tensors.map((t) => t.name);
    expect(names).toContain('blk.4.ffn_down.weight');
    expect(names).not.toContain('output.weight');
    const byName = new Map(g.tensors.map((t) => [t.name, t]));
    expect(byName.get('blk.0.attn_norm.weight')!.type.name).toBe('F32');
    expect(byName.get('blk.0.attn_q.weight')!.type.name).toBe('F16');
    expect(byName.get('blk.0.attn_k.weight')!.dims).toEqual([64, 32]);
    expect(g.metadata.get('general.architecture')).toBe('llama');
    expect(g.metadata.get('llama.attention.head_count_kv')).toBe(4);
    expect(g.metadata.get('llama.rope.dimension_count')).toBe(8);
    const tokens = g.metadata.get('tokenizer.ggml.tokens') as string[];
    expect(tokens.length).toBe(512);
    expect(tokens[1]).toBe('<s>');
    expect(tokens[2]).toBe('</s>');
    expect(g.metadata.get('tokenizer.ggml.eos_token_id')).toBe(2);
    // the k rows: source row h·8 + j·4 + i lands at h·8 + 2i + j
    const src = (await readModelTensors(join(MODELS, 'llama2c-260K'))).get('model.layers.0.self_attn.k_proj.weight')!;
    const srcRows = new Float32Array(readTensorBytes(src).slice().buffer);
    const k = byName.get('blk.0.attn_k.weight')!;
    const stored = new Uint16Array(fileBytes(out, k.fileOffset, k.nbytes).buffer);
    for (let h = 0; h < 4; h++) for (let i = 0; i < 4; i++) for (let j = 0; j < 2; j++) {
      for (let col = 0; col < 64; col += 21) {
        expect(stored[(h * 8 + 2 * i + j) * 64 + col]).toBe(f32ToF16Bits(srcRows[(h * 8 + j * 4 + i) * 64 + col]));
      }
    }
  });
});
