/**
 * linear: out [M,N] = x [M,K] · w [N,K]ᵀ + bias [N], for every weight dtype against float64 references built
 * from raw bytes in TypeScript (linear-cases.ts explains the quantized tolerances). Also: other thread counts,
 * the portable (baseline x86-64) kernels in a child process, the event loop staying free during a long
 * run(), and coded errors for bad arguments.
 */
import { spawnSync } from 'child_process';
import * as path from 'path';

import { native } from '../../lib/native';
import { ops, run, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal } from '../helpers/random';
import {
  casesFor, checkLinear, encodeWeights, LinearCase, LinearResult, linearRef, WEIGHT_DTYPES,
} from './linear-cases';
import { disposeAll, expectCoded, out, tensor } from './tensors';

afterEach(disposeAll);

describe.each(WEIGHT_DTYPES)('linear with %s weights', (wdtype) => {
  const cases = casesFor(wdtype, nextSeed());
  test.each(cases.map((c) => [`M=${c.M} K=${c.K} N=${c.N} bias=${c.bias}`, c] as const))('%s', (_name, c) => {
    const r = checkLinear(c);
    if (r.boundRatio !== undefined) expect(r.boundRatio).toBeLessThanOrEqual(1);
    // decode (one row) must take the integer path with 8-bit activations, so that path is what is tested here
    if (r.activations !== undefined && c.M === 1 && c.K > 32) expect(r.activations).toBe('8-bit');
  });
});

describe('linear across thread counts', () => {
  const initial = native.numThreads();
  afterAll(() => native.setNumThreads(initial));
  test.each([1, 3])('%i thread(s): gemv and gemm paths, float and quantized weights', (threads) => {
    native.setNumThreads(threads);
    expect(native.numThreads()).toBe(threads);
    const seed = nextSeed();
    const shapes: Array<[number, number, number]> = [[1, 576, 512], [3, 384, 33], [64, 576, 512], [257, 96, 7]];
    for (const wdtype of ['f32', 'bf16', 'q4_1', 'q8_0'] as const) {
      shapes.forEach(([M, K, N], i) => checkLinear({ wdtype, M, K, N, bias: i % 2 ? 'f32' : null, seed: seed + i }));
    }
  });
});

describe('linear on the portable kernels (GPUFORMER_CPU_BASELINE=1, child process)', () => {
  test('every weight dtype, gemv and gemm shapes', () => {
    const seed = nextSeed();
    const cases: LinearCase[] = WEIGHT_DTYPES.flatMap((wdtype) => casesFor(wdtype, seed)
      .filter((c) => c.M * c.N * c.K <= 4e6 || c.M === 1));
    const child = spawnSync(process.execPath, [
      path.join(__dirname, 'baseline-child.js'), path.join(__dirname, 'linear-cases.ts'), 'runCases', JSON.stringify(cases),
    ], { env: { ...process.env, GPUFORMER_CPU_BASELINE: '1' }, encoding: 'utf8', maxBuffer: 1 << 24 });
    expect(child.stderr).toBe('');
    const reply = JSON.parse(child.stdout) as { ok: boolean; result?: LinearResult[]; error?: string };
    if (!reply.ok) throw new Error(`baseline child failed: ${reply.error}`);
    expect(reply.result).toHaveLength(cases.length);
    for (const r of reply.result!) {
      expect(r.err).toBeLessThanOrEqual(TOLERANCE.f32);
      if (r.boundRatio !== undefined) expect(r.boundRatio).toBeLessThanOrEqual(1);
    }
  });
});

describe('linear through run() keeps the event loop free', () => {
  test('timers keep firing while a long matmul program runs on the worker thread', async () => {
    const M = 256, K = 1536, N = 1536, repeats = 4;  // ≈ 5 GFLOP: a few hundred ms or more on two cores
    const seed = nextSeed();
    const x = normal(M * K, seed);
    const w = encodeWeights('f32', N * K, seed + 1);
    const xt = tensor('f32', [M, K], x);
    const wt = tensor('f32', [N, K], w.bytes);
    const o = out([M, N]);
    let ticks = 0;
    const timer = setInterval(() => { ticks++; }, 5);
    const start = Date.now();
    await run(Array.from({ length: repeats }, () => ops.linear({ x: xt, w: wt, out: o })));
    const elapsed = Date.now() - start;
    clearInterval(timer);
    expect(elapsed).toBeGreaterThan(50);
    // A blocked event loop would give 0 or 1 ticks; a free one about elapsed / 5 (timers may be late under load).
    expect(ticks).toBeGreaterThanOrEqual(Math.max(3, Math.floor(elapsed / 50)));
    // and the result is right: check the first rows against the float64 reference
    const rows = 2;
    expectClose(f32(o).subarray(0, rows * N), linearRef(x.subarray(0, rows * K), w.values, null, rows, N, K), TOLERANCE.f32);
  });
});

describe('linear input errors', () => {
  const x = () => tensor('f32', [3, 64], normal(3 * 64, 1));
  test('w with other input features', () => {
    expectCoded(() => runSync([ops.linear({ x: x(), w: tensor('f32', [5, 32], normal(160, 2)), out: out([3, 5]) })]),
      'ERR_GPUFORMER_INPUT', /input features/);
  });
  test('out of the wrong shape', () => {
    expectCoded(() => runSync([ops.linear({ x: x(), w: tensor('f32', [5, 64], normal(320, 2)), out: out([3, 6]) })]),
      'ERR_GPUFORMER_INPUT', /out/);
  });
  test('half-precision activations on the cpu', () => {
    expectCoded(() => runSync([ops.linear({
      x: tensor('f16', [3, 64], normal(192, 1)), w: tensor('f32', [5, 64], normal(320, 2)), out: out([3, 5], 'f16'),
    })]), 'ERR_GPUFORMER_INPUT', /f32 on the cpu/);
  });
  test('a quantized bias', () => {
    const w = tensor('f32', [32, 64], normal(32 * 64, 2));
    const bias = tensor('q8_0', [32], encodeWeights('q8_0', 32, 3).bytes);
    expectCoded(() => runSync([ops.linear({ x: x(), w, bias, out: out([3, 32]) })]), 'ERR_GPUFORMER_INPUT', /bias/);
  });
  test('bias of the wrong length', () => {
    const w = tensor('f32', [5, 64], normal(320, 2));
    expectCoded(() => runSync([ops.linear({ x: x(), w, bias: tensor('f32', [4], normal(4, 3)), out: out([3, 5]) })]),
      'ERR_GPUFORMER_INPUT', /bias/);
  });
});
