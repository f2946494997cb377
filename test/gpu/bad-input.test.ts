/**
 * Bad input on CUDA is ERR_GPUFORMER_INPUT, never a crash or a read out of bounds. Indices live on the
 * device, so the dispatcher cannot check them on the host: a kernel that meets a bad one clamps it, records it
 * (native/cuda/device_faults.h), and the record becomes the error when the program's stream is drained,
 * naming the op, the argument, the index and the value. After each fault the device runs the next program
 * normally (the record is cleared). Host-checked CUDA rules (head dims, devices, dtypes) fail before any
 * launch.
 */
import { Command, Tensor } from '../../lib/native';
import { ops, run, runSync } from '../../lib/ops';
import { expectClose } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import { expectCoded } from '../ops/tensors';
import { Act, act, describeCuda, disposeAll, f32s, i32s, numbers, onDevice, output, raw, Spec } from './both-devices';

afterEach(disposeAll);

const INPUT = 'ERR_GPUFORMER_INPUT';

/** A small program that must give the right answer on the device after a fault. */
function expectDeviceWorks(): void {
  const a = normal(64, nextSeed()), b = normal(64, nextSeed());
  const t = onDevice('f32', { a: act([64], a), b: act([64], b), out: output([64]) });
  runSync([ops.add({ a: t.a, b: t.b, out: t.out })]);
  expectClose(numbers(t.out), Array.from(a, (v, i) => v + b[i]), 1e-6, 'add after a fault');
}

/** Running `program(tensors)` on the device fails with ERR_GPUFORMER_INPUT matching `message`; the device still works. */
function expectFault(a: Act, specs: Record<string, Spec>, program: (t: Record<string, Tensor>) => Command[], message: RegExp): void {
  const t = onDevice(a, specs);
  expectCoded(() => runSync(program(t)), INPUT, message);
  expectDeviceWorks();
}

describeCuda('ids and indices out of range', () => {
  const C = 32;
  const embed = (a: Act, ids: number[], extra: Record<string, Spec> = {}, tok: Spec = raw('f32', [10, C], normal(10 * C, 1))) =>
    expectFault.bind(null, a, { ids: i32s(ids), tok, out: output([ids.length, C]), ...extra });

  test('embedding ids: past the vocabulary and negative, float and quantized tables', () => {
    embed('f32', [1, 10, 2])((t) => [ops.embedding({ ids: t.ids, tok: t.tok, out: t.out })],
      /embedding: ids\[1\] = 10 is outside the vocabulary \[0, 10\)/);
    embed('f16', [-1])((t) => [ops.embedding({ ids: t.ids, tok: t.tok, out: t.out })], /embedding: ids\[0\] = -1 is outside/);
    const q = raw('q4_1', [10, C], new Uint8Array(10 * 20).fill(0x33));
    embed('bf16', [3, 4, 2147483647], {}, q)((t) => [ops.embedding({ ids: t.ids, tok: t.tok, out: t.out })],
      /embedding: ids\[2\] = 2147483647 is outside the vocabulary \[0, 10\)/);
  });

  test('embedding posIds and typeIds', () => {
    embed('f32', [1, 2], { posIds: i32s([0, 8]), pos: raw('f32', [8, C], normal(8 * C, 2)) })(
      (t) => [ops.embedding({ ids: t.ids, tok: t.tok, posIds: t.posIds, pos: t.pos, out: t.out })],
      /embedding: posIds\[1\] = 8 is outside the position table \[0, 8\)/);
    embed('f16', [1], { typeIds: i32s([-3]), type: raw('f32', [2, C], normal(2 * C, 3)) })(
      (t) => [ops.embedding({ ids: t.ids, tok: t.tok, typeIds: t.typeIds, type: t.type, out: t.out })],
      /embedding: typeIds\[0\] = -3 is outside the type table \[0, 2\)/);
  });

  test('gather_rows idx', () => {
    const specs = (idx: number[]) => ({ x: act([50, 16], normal(800, 4)), idx: i32s(idx), out: output([idx.length, 16]) });
    const gather = (t: Record<string, Tensor>) => [ops.gatherRows({ x: t.x, idx: t.idx, out: t.out })];
    expectFault('f32', specs([0, 50, 3]), gather, /gather_rows: idx\[1\] = 50 is outside \[0, 50\)/);
    expectFault('bf16', specs([-2]), gather, /gather_rows: idx\[0\] = -2 is outside \[0, 50\)/);
  });

  test('kv_cache_write slotMapping past the cache (negative slots are padding, not faults)', () => {
    const specs = (slots: number[]) => ({
      k: act([2, 2, 32], normal(128, 5)), v: act([2, 2, 32], normal(128, 6)),
      kc: output([4, 16, 2, 32]), vc: output([4, 16, 2, 32]), slots: i32s(slots),
    });
    const write = (t: Record<string, Tensor>) => [ops.kvCacheWrite({ k: t.k, v: t.v, kCache: t.kc, vCache: t.vc, slotMapping: t.slots })];
    expectFault('f16', specs([3, 999]), write, /kv_cache_write: slotMapping\[1\] = 999 is past the cache's 64 slots/);
    const ok = onDevice('f16', specs([-1, 5]));
    runSync(write(ok));
    expect(numbers(ok.kc).subarray(5 * 64, 6 * 64).every((v) => !Number.isNaN(v))).toBe(true);
  });
});

describeCuda('paged_attention block tables and context lengths', () => {
  // one sequence, block size 16, a 4-block cache; a: f32 takes the split-KV kernel, f16 with 3 queries the
  // tensor-core kernel (more queries than twice the sequences), f16 with 1 query the split-KV kernel again
  const paged = (a: Act, nNew: number, ctx: number, table: number[], maxContextLen = ctx) => {
    const cache = [4, 16, 2, 64];
    return expectFault.bind(null, a, {
      q: act([nNew, 4, 64], normal(nNew * 256, 7)), kc: act(cache, normal(4 * 16 * 128, 8)), vc: act(cache, normal(4 * 16 * 128, 9)),
      cuq: i32s([0, nNew]), ctx: i32s([ctx]), tables: i32s(table, [1, table.length]), out: output([nNew, 4, 64]),
    }, (t: Record<string, Tensor>) => [ops.pagedAttention({
      q: t.q, kCache: t.kc, vCache: t.vc, cuSeqlensQ: t.cuq, contextLens: t.ctx, blockTables: t.tables, maxContextLen,
      out: t.out, scale: 0.125,
    })]);
  };

  test.each([['f32', 1], ['f16', 3], ['bf16', 1]] as const)('%s, %i new tokens: a block id outside the cache', (a, n) => {
    paged(a, n, 20, [0, 7])(/paged_attention: block table entry 1 = 7 is not a block of the cache \(4 blocks\)/);
    paged(a, n, 20, [-1, 2])(/paged_attention: block table entry 0 = -1 is not a block of the cache \(4 blocks\)/);
  });

  test.each([['f32', 3], ['f16', 3]] as const)('%s: fewer keys than new tokens, more than the hint or the table holds', (a, n) => {
    // (with a hint of 32, so that the context length is the only thing wrong)
    paged(a, n, 2, [0, 1], 32)(/paged_attention: contextLens\[0\] = 2 is less than its 3 new tokens/);
    paged(a, n, 50, [0, 1, 2, 3], 40)(/paged_attention: contextLens\[0\] = 50 is more than 40/);
    paged(a, n, 40, [0, 1])(/paged_attention: contextLens\[0\] = 40 is more than 32/);
  });
});

describeCuda('cu_seqlens and launch hints', () => {
  const attention = (a: Act, T: number, cu: number[], maxSeqlen: number) => expectFault.bind(null, a, {
    q: act([T, 2, 32], normal(T * 64, 10)), k: act([T, 2, 32], normal(T * 64, 11)), v: act([T, 2, 32], normal(T * 64, 12)),
    cu: i32s(cu), out: output([T, 2, 32]),
  }, (t: Record<string, Tensor>) => [ops.attention({ q: t.q, k: t.k, v: t.v, cuSeqlens: t.cu, maxSeqlen, out: t.out, scale: 0.2 })]);

  test.each(['f32', 'f16'] as const)('%s attention: decreasing bounds, and bounds that miss the token count', (a) => {
    attention(a, 10, [0, 5, 3, 10], 8)(/cu_seqlens\[\d\] = -?\d+ breaks 0 = cu\[0\] ≤ cu\[1\] ≤ … ≤ cu\[B\] = 10/);
    attention(a, 10, [0, 4, 8], 8)(/cu_seqlens\[\d\] = \d+ breaks .* = 10 \(the token count\)/);
  });

  test('attention: a sequence longer than maxSeqlen', () => {
    attention('f32', 20, [0, 20], 8)(/sequence 0 has 20 tokens, more than the launch hint \(maxSeqlen\) of 8/);
    // the tensor-core kernel covers 64 query rows per block: a hint of 8 leaves room for 64 rows, not 100
    attention('f16', 100, [0, 100], 8)(/sequence 0 has 100 tokens, more than the launch hint \(maxSeqlen\) of 8/);
  });

  test('pool', () => {
    expectFault('f16', { x: act([5, 8], normal(40, 13)), cu: i32s([0, 3, 2]), out: output([2, 8], 'f32') },
      (t) => [ops.pool({ x: t.x, cuSeqlens: t.cu, mode: 'mean', out: t.out })], /cu_seqlens\[\d\] = \d+ breaks/);
  });
});

describeCuda('sampling parameters', () => {
  const specs = (temperature: number[], topP: number[]): Record<string, Spec> => ({
    logits: raw('f32', [2, 50], normal(100, 14)), temperature: f32s(temperature), topK: i32s([0, 0]), topP: f32s(topP), minP: f32s([0, 0]),
    seeds: raw('i64', [2], BigInt64Array.from([1n, 2n])), steps: i32s([0, 0]), out: output([2], 'i32'),
  });
  const sample = (t: Record<string, Tensor>) => [ops.sample({
    logits: t.logits, temperature: t.temperature, topK: t.topK, topP: t.topP, minP: t.minP, seeds: t.seeds, steps: t.steps, out: t.out,
  })];
  test('a temperature that is not a finite number, a NaN top-p', () => {
    expectFault('f32', specs([1, NaN], [1, 1]), sample, /sample: temperature\[1\] is not a finite number/);
    expectFault('f32', specs([Infinity, 1], [1, 1]), sample, /sample: temperature\[0\] is not a finite number/);
    expectFault('f32', specs([1, 1], [NaN, 1]), sample, /sample: topP\[0\] is NaN/);
  });
});

describeCuda('faults through run() and mid-program', () => {
  test('run() rejects with the fault; the ops before it in the program ran, the device works after', async () => {
    const t = onDevice('f32', {
      ids: i32s([0, 99]), tok: raw('f32', [10, 8], normal(80, 15)), out: output([2, 8]),
      a: act([8], normal(8, 16)), sum: output([8]),
    });
    await expect(run([ops.add({ a: t.a, b: t.a, out: t.sum }), ops.embedding({ ids: t.ids, tok: t.tok, out: t.out })]))
      .rejects.toMatchObject({ code: INPUT, message: expect.stringMatching(/embedding: ids\[1\] = 99/) });
    expectDeviceWorks();
    expectClose(numbers(t.sum), Array.from(numbers(t.a), (v) => 2 * v), 1e-6, 'the op before the fault');
  });
});

describeCuda('rules the dispatcher checks on the host for CUDA', () => {
  test('head dims without a CUDA kernel (the CPU takes any multiple of 8)', () => {
    for (const D of [8, 48, 112, 160]) {
      const t = onDevice('f16', { q: act([4, 1, D], normal(4 * D, 17)), cu: i32s([0, 4]), out: output([4, 1, D]) });
      expectCoded(() => runSync([ops.attention({ q: t.q, k: t.q, v: t.q, cuSeqlens: t.cu, maxSeqlen: 4, out: t.out, scale: 1 })]),
        INPUT, new RegExp(`head dim must be 32, 64, 80, 96, 128 or 256 on CUDA, got ${D}`));
    }
  });

  test('tensors on two devices', () => {
    const t = onDevice('f32', { a: act([8], normal(8, 18)), out: output([8]) });
    const cpu = Tensor.fromData('cpu', 'f32', [8], normal(8, 19));
    try {
      expectCoded(() => runSync([ops.add({ a: t.a, b: cpu, out: t.out })]), INPUT, /add: 'b' is on cpu but 'out' is on cuda:0/);
    } finally {
      cpu.dispose();
    }
  });

  test('activations of one dtype per op', () => {
    const t = onDevice('f16', { x: act([3, 64], normal(192, 20)), w: raw('f16', [5, 64], normal(320, 21)), out: output([3, 5], 'bf16') });
    expectCoded(() => runSync([ops.linear({ x: t.x, w: t.w, out: t.out })]), INPUT, /linear: 'out'/);
  });
});
