/** Fused prefill attention over packed varlen batches against the float64 reference. */
import { ops, runSync } from '../../lib/ops';
import { expectClose, f32, TOLERANCE } from '../helpers/compare';
import { nextSeed, normal, uniform } from '../helpers/random';
import * as ref from '../helpers/reference';
import { alibiSlopes, disposeAll, f32t, i32t, out } from './tensors';

afterEach(disposeAll);

interface Case {
  lens: number[];
  Hq: number;
  Hkv: number;
  D: number;
  causal: boolean;
  windowLeft?: number;
  alibi?: boolean;
}

const cu = (lens: number[]): number[] => lens.reduce((a, n) => [...a, a[a.length - 1] + n], [0]);

function check(c: Case): void {
  const seed = nextSeed();
  const T = c.lens.reduce((a, b) => a + b, 0);
  const q = normal(T * c.Hq * c.D, seed, 1.5), k = normal(T * c.Hkv * c.D, seed + 1, 1.5), v = normal(T * c.Hkv * c.D, seed + 2);
  const slopes = c.alibi ? alibiSlopes(c.Hq) : null;
  const o = out([T, c.Hq, c.D]);
  const scale = 1 / Math.sqrt(c.D);
  runSync([ops.attention({
    q: f32t([T, c.Hq, c.D], q), k: f32t([T, c.Hkv, c.D], k), v: f32t([T, c.Hkv, c.D], v), cuSeqlens: i32t(cu(c.lens)),
    maxSeqlen: Math.max(...c.lens), out: o, scale, causal: c.causal, windowLeft: c.windowLeft ?? -1,
    alibiSlopes: slopes ? f32t([c.Hq], slopes) : null,
  })]);
  const want = ref.attentionPacked({ Hq: c.Hq, Hkv: c.Hkv, D: c.D, scale, causal: c.causal, windowLeft: c.windowLeft ?? -1, slopes },
    q, k, v, cu(c.lens));
  expectClose(f32(o), want, TOLERANCE.f32, `attention ${JSON.stringify(c)} seed ${seed}`);
}

describe('attention (prefill, packed varlen)', () => {
  describe('head dims, causal and not', () => {
    test.each([32, 64, 80, 96, 128, 256])('D = %i', (D) => {
      check({ lens: [17, 40], Hq: 2, Hkv: 2, D, causal: true });
      check({ lens: [33], Hq: 2, Hkv: 1, D, causal: false });
    });
  });

  test.each([[1], [17], [257]])('a single sequence of %i tokens, causal and bidirectional', (n) => {
    check({ lens: [n], Hq: 4, Hkv: 4, D: 64, causal: true });
    check({ lens: [n], Hq: 4, Hkv: 4, D: 64, causal: false });
  });

  test('a batch mixing lengths 1, 17, 257, 64 and an empty sequence', () => {
    check({ lens: [1, 17, 257, 0, 64], Hq: 3, Hkv: 3, D: 32, causal: true });
    check({ lens: [1, 17, 257, 0, 64], Hq: 3, Hkv: 3, D: 32, causal: false });
  });

  test('GQA 8:1 and MQA', () => {
    check({ lens: [17, 70], Hq: 16, Hkv: 2, D: 64, causal: true });
    check({ lens: [5, 100], Hq: 8, Hkv: 1, D: 128, causal: true });
    check({ lens: [33], Hq: 12, Hkv: 1, D: 80, causal: false });
    check({ lens: [9, 30], Hq: 9, Hkv: 3, D: 96, causal: true });
  });

  test('ALiBi, causal and bidirectional', () => {
    check({ lens: [17, 130], Hq: 8, Hkv: 8, D: 64, causal: true, alibi: true });
    check({ lens: [40], Hq: 4, Hkv: 2, D: 32, causal: false, alibi: true });
  });

  test('sliding window (with GQA, with ALiBi, and without causality)', () => {
    check({ lens: [257, 20], Hq: 4, Hkv: 2, D: 64, causal: true, windowLeft: 32 });
    check({ lens: [100], Hq: 4, Hkv: 4, D: 32, causal: true, windowLeft: 0 });
    check({ lens: [90], Hq: 4, Hkv: 1, D: 32, causal: true, windowLeft: 70, alibi: true });
    check({ lens: [80], Hq: 2, Hkv: 2, D: 64, causal: false, windowLeft: 10 });
  });

  test('peaked scores (large logits) stay finite and exact', () => {
    const D = 64, T = 50;
    const seed = nextSeed();
    const q = normal(T * D, seed, 8), k = normal(T * D, seed + 1, 8), v = uniform(T * D, seed + 2);
    const o = out([T, 1, D]);
    runSync([ops.attention({ q: f32t([T, 1, D], q), k: f32t([T, 1, D], k), v: f32t([T, 1, D], v), cuSeqlens: i32t([0, T]),
      maxSeqlen: T, out: o, scale: 1 / 8, causal: true })]);
    const want = ref.attentionPacked({ Hq: 1, Hkv: 1, D, scale: 1 / 8, causal: true, windowLeft: -1, slopes: null }, q, k, v, [0, T]);
    expectClose(f32(o), want, TOLERANCE.f32, `peaked seed ${seed}`);
  });
});
