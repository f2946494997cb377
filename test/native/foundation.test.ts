/**
 * The package foundation: the addon loads without a GPU, lists devices, owns tensors through one tagged
 * allocator, runs work off the event loop, and turns every bad argument into a coded GpuformerError.
 */
import { devices, GpuformerError, native, Tensor } from '../../lib';
import { erf } from '../helpers/reference';

const totals = () => native.memoryTotals('cpu');

describe('addon loading and devices', () => {
  test('devices() lists the cpu and says whether CUDA is usable and why not', () => {
    const list = devices();
    expect(list[0]).toMatchObject({ id: 'cpu' });
    expect((list[0] as { threads: number }).threads).toBeGreaterThanOrEqual(1);
    const info = native.devices();
    if (!info.cuda.available) {
      const cuda = list.find((d) => d.id === 'cuda') as { available: boolean; reason: string };
      expect(cuda.available).toBe(false);
      expect(cuda.reason.length).toBeGreaterThan(5);
    } else {
      expect(list.some((d) => d.id.startsWith('cuda:'))).toBe(true);
    }
  });

  test('every op of the contract is registered', () => {
    expect(native.opNames().sort()).toEqual([
      'add', 'argmax', 'attention', 'cast', 'copy', 'count_tokens', 'embedding', 'fetch_slot', 'gather_rows', 'gelu',
      'kv_cache_write', 'l2_normalize', 'layer_norm', 'linear', 'linears', 'logprobs', 'paged_attention', 'pool', 'process_logits',
      'release_slot', 'rms_norm', 'rope', 'rope_kv_cache_write', 'sample', 'silu', 'softmax', 'swiglu', 'tanh', 'wait_slot',
    ]);
  });
});

describe('tensor handles and the tagged allocator', () => {
  test('fromData / read round-trips and reports device, dtype, shape, bytes and tag', () => {
    const t = Tensor.fromData('cpu', 'f32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]), 'activations');
    expect(t.device).toBe('cpu');
    expect(t.dtype).toBe('f32');
    expect(t.shape).toEqual([2, 3]);
    expect(t.nbytes).toBe(24);
    expect(t.tag).toBe('activations');
    expect(Array.from(new Float32Array(t.read()))).toEqual([1, 2, 3, 4, 5, 6]);
    t.dispose();
  });

  test('conversion on write: f32 data into f16 and bf16 tensors', () => {
    const src = new Float32Array([1, -2.5, 65504, 1e-8, 0.1]);
    for (const dt of ['f16', 'bf16'] as const) {
      const t = Tensor.fromData('cpu', dt, [5], src, 'other', 'f32');
      const raw = new Uint16Array(t.read());
      expect(raw[0]).toBe(dt === 'f16' ? 0x3c00 : 0x3f80);
      expect(raw[1]).toBe(dt === 'f16' ? 0xc100 : 0xc020);
      t.dispose();
    }
  });

  test('allocations are counted by tag and return to zero on dispose', () => {
    const before = totals();
    const a = Tensor.empty('cpu', 'f32', [1000], 'weights');
    const b = Tensor.empty('cpu', 'f16', [10, 10], 'kv');
    expect(totals().weights - before.weights).toBe(4000);
    expect(totals().kv - before.kv).toBe(200);
    a.dispose();
    b.dispose();
    expect(totals().weights).toBe(before.weights);
    expect(totals().kv).toBe(before.kv);
  });

  test('a view shares storage; the bytes stay until the last reference goes', () => {
    const before = totals().other;
    const t = Tensor.fromData('cpu', 'i32', [4], new Int32Array([1, 2, 3, 4]));
    const v = t.view(2, [2]);
    expect(Array.from(new Int32Array(v.read()))).toEqual([3, 4]);
    t.dispose();
    expect(totals().other - before).toBe(16);
    v.dispose();
    expect(totals().other).toBe(before);
  });

  test('quantized tensors are sized by 32-element blocks', () => {
    const q = Tensor.empty('cpu', 'q4_1', [2, 64], 'weights');
    expect(q.nbytes).toBe(2 * 2 * 20);
    q.dispose();
  });
});

describe('bad input gives ERR_GPUFORMER_INPUT naming the argument, never a crash', () => {
  const expectInput = (fn: () => unknown, pattern: RegExp) => {
    try {
      fn();
    } catch (e) {
      expect(e).toBeInstanceOf(GpuformerError);
      expect((e as GpuformerError).code).toBe('ERR_GPUFORMER_INPUT');
      expect((e as Error).message).toMatch(pattern);
      return;
    }
    throw new Error('expected a throw');
  };

  test('unknown device', () => expectInput(() => Tensor.empty('tpu', 'f32', [1]), /unknown device 'tpu'/));
  test('unknown dtype', () => expectInput(() => Tensor.empty('cpu', 'f8' as never, [1]), /unknown dtype 'f8'/));
  test('bad shape', () => expectInput(() => Tensor.empty('cpu', 'f32', [2, -1]), /shape.*must be ≥ 0/));
  test('shape of the wrong type', () => expectInput(() => Tensor.empty('cpu', 'f32', 'big' as never), /'shape' must be an array/));
  test('data length disagrees with the shape', () =>
    expectInput(() => Tensor.fromData('cpu', 'f32', [3], new Float32Array(2)), /'data' has 8 bytes but \[3\] of f32 needs 12/));
  test('a disposed tensor', () => {
    const t = Tensor.empty('cpu', 'f32', [1]);
    t.dispose();
    expectInput(() => t.read(), /disposed/);
    expectInput(() => native.execSync([{ op: 'add', a: t, b: t, out: t }]), /'a' is a disposed Tensor/);
  });
  test('an op argument that is not a tensor', () => {
    const t = Tensor.empty('cpu', 'f32', [1]);
    expectInput(() => native.execSync([{ op: 'add', a: 5, b: t, out: t }]), /add: 'a' must be a Tensor, got number/);
    t.dispose();
  });
  test('an unknown op', () => expectInput(() => native.execSync([{ op: 'conv3d' }]), /unknown op 'conv3d'/));
  test('wrong dtype for an op', () => {
    const x = Tensor.empty('cpu', 'f32', [2, 4]);
    const w = Tensor.empty('cpu', 'f32', [3, 4]);
    const out = Tensor.empty('cpu', 'i32', [2, 3]);
    expectInput(() => native.execSync([{ op: 'linear', x, w, out }]), /linear: 'out' must be f32/);
    [x, w, out].forEach((t) => t.dispose());
  });
  test('wrong shape for an op', () => {
    const x = Tensor.empty('cpu', 'f32', [2, 4]);
    const w = Tensor.empty('cpu', 'f32', [3, 5]);
    const out = Tensor.empty('cpu', 'f32', [2, 3]);
    expectInput(() => native.execSync([{ op: 'linear', x, w, out }]), /'x' has 4 input features but 'w' expects 5/);
    [x, w, out].forEach((t) => t.dispose());
  });
  test('async work rejects with the same coded error', async () => {
    const t = Tensor.empty('cpu', 'f32', [1]);
    const i = Tensor.empty('cpu', 'i32', [1]);
    await expect(native.exec([{ op: 'add', a: t, b: i, out: t }])).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT' });
    t.dispose();
    i.dispose();
  });
  test('a CUDA tensor on a machine without CUDA is a clear error', () => {
    if (native.devices().cuda.available) return;
    try {
      Tensor.empty('cuda:0', 'f32', [4]);
      throw new Error('expected a throw');
    } catch (e) {
      expect(['ERR_GPUFORMER_CUDA', 'ERR_GPUFORMER_UNSUPPORTED']).toContain((e as GpuformerError).code);
    }
  });
});

describe('prepared programs', () => {
  test('parsed once, run many times: each run sees the data then in its buffers; dispose releases the tensors', async () => {
    const before = totals();
    const x = Tensor.fromData('cpu', 'f32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]), 'activations');
    const w = Tensor.fromData('cpu', 'f32', [2, 3], new Float32Array([1, 0, 0, 0, 1, 1]), 'weights');
    const out = Tensor.empty('cpu', 'f32', [2, 2], 'activations');
    const p = native.prepare([{ op: 'linear', x, w, out }, { op: 'gelu', x: out, out, tanh: false }]);
    expect(p.length).toBe(2);
    const gelu = (v: number) => 0.5 * v * (1 + erf(v / Math.SQRT2));
    const expectOut = (want: number[]) => {
      const got = new Float32Array(out.read());
      want.forEach((v, i) => expect(got[i]).toBeCloseTo(gelu(v), 5));
    };
    out.write(new Float32Array(4).fill(NaN));
    native.execSync(p);
    expectOut([1, 5, 4, 11]);
    x.write(new Float32Array([-1, 0.5, 0.25, 2, -3, 1]));
    out.write(new Float32Array(4).fill(NaN));
    await native.exec(p);
    expectOut([-1, 0.75, 2, -2]);
    // the program holds its own references: the handles may go first, the memory stays until it does
    x.dispose();
    w.dispose();
    expect(native.memoryTotals('cpu').weights).toBeGreaterThan(before.weights);
    native.execSync(p);
    p.dispose();
    expect(p.length).toBe(0);
    expect(() => native.execSync(p)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/disposed/) }));
    out.dispose();
    expect(totals()).toEqual(before);
  });

  test('bad input to prepare and setCudaGraphs is ERR_GPUFORMER_INPUT', () => {
    expect(() => native.prepare('linear' as never)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/must be an array/) }));
    expect(() => native.prepare([{ op: 'linear', x: 1 }])).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/linear: 'x' must be a Tensor/) }));
    expect(() => native.setCudaGraphs('yes' as never)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/'on' must be a boolean/) }));
  });
});

describe('op profile', () => {
  test('while on, each step of every program is counted and timed by op; the outputs do not change', async () => {
    const x = Tensor.fromData('cpu', 'f32', [2, 3], new Float32Array([1, 2, 3, 4, 5, 6]), 'activations');
    const w = Tensor.fromData('cpu', 'f32', [2, 3], new Float32Array([1, 0, 0, 0, 1, 1]), 'weights');
    const out = Tensor.empty('cpu', 'f32', [2, 2], 'activations');
    const program = [{ op: 'linear', x, w, out }, { op: 'gelu', x: out, out, tanh: false }, { op: 'gelu', x: out, out, tanh: false }];
    const run = async () => {
      out.write(new Float32Array(4).fill(NaN));
      await native.exec(program);
      return new Float32Array(out.read());
    };
    try {
      native.takeOpProfile();
      const plain = await run();
      expect(native.takeOpProfile()).toEqual({ programs: 0, seconds: 0, ops: [] });
      native.setOpProfiling(true);
      const prepared = native.prepare(program);
      await run();
      native.execSync(prepared);
      const profiled = await run();
      native.setOpProfiling(false);
      prepared.dispose();
      expect(profiled).toEqual(plain);
      const p = native.takeOpProfile();
      expect(p.programs).toBe(3);
      expect(p.ops.map((o) => [o.op, o.calls])).toEqual([['gelu', 6], ['linear', 3]]);
      const stepSeconds = p.ops.reduce((sum, o) => sum + o.seconds, 0);
      expect(p.ops.every((o) => o.seconds >= 0)).toBe(true);
      expect(p.seconds).toBeGreaterThanOrEqual(stepSeconds);
      expect(native.takeOpProfile()).toEqual({ programs: 0, seconds: 0, ops: [] });  // taken: reset
    } finally {
      native.setOpProfiling(false);
      for (const t of [x, w, out]) t.dispose();
    }
  });

  test('setOpProfiling takes a boolean', () => {
    expect(() => native.setOpProfiling(1 as never)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/'on' must be a boolean/) }));
  });
});

describe('file loading runs off the event loop', () => {
  test('loadFile streams and converts, and a short file is ERR_GPUFORMER_BAD_WEIGHTS', async () => {
    const fs = await import('fs');
    const os = await import('os');
    const path = await import('path');
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'gf-')), 'w.bin');
    const data = new Float32Array(1000).map((_, i) => i * 0.5);
    fs.writeFileSync(file, Buffer.concat([Buffer.alloc(16), Buffer.from(data.buffer)]));
    const t = Tensor.empty('cpu', 'f16', [1000]);
    await t.loadFile(file, 16, 'f32', 0, 1000);
    const back = Tensor.empty('cpu', 'f32', [1000]);
    expect(new Uint16Array(t.read())[2]).toBe(0x3c00); // 1.0
    await expect(t.loadFile(file, 16, 'f32', 0, 1001)).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT' });
    await expect(t.loadFile(file, 100, 'f32', 0, 1000)).rejects.toMatchObject({ code: 'ERR_GPUFORMER_BAD_WEIGHTS' });
    t.dispose();
    back.dispose();
  });
});
