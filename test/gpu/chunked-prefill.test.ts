/**
 * Chunked prefill on the device against the CPU: new queries of several sequences over their keys in the paged
 * KV cache (a chunk's cached blocks plus itself), the cache written through shuffled, non-contiguous block
 * tables, its other slots poisoned with NaN. Batches with more than two new tokens per sequence on average take
 * the prefill family: on compute capability 9.0 at head dims 64 and 128 with block sizes 8 to 128 that divide
 * 128 (16, 32 and 8 below), the Hopper kernel, which loads the cache one block per TMA box and must zero V's
 * rows past a sequence's end; block size 5 and the other head dims take the mma.sync kernel; f32 the tiled
 * f32 kernel. Contexts cross 128-key tiles and 128-row query tiles; GQA ratios 1, 4 and 8.
 */
import { ACTS, describeGpu, disposeAll } from './both-devices';
import { checkPaged } from './paged';

afterEach(disposeAll);

describeGpu('paged_attention: chunked prefill', () => {
  describe.each(ACTS)('%s', (a) => {
    test.each([16, 5])('chunked prefill: new queries over a cached prefix, block size %i', (bs) => {
      checkPaged(a, { ctx: [30, 257, 9], nNew: [7, 17, 9], Hq: 8, Hkv: 2, D: 32, bs });
      checkPaged(a, { ctx: [2000], nNew: [300], Hq: 8, Hkv: 2, D: 128, bs });
    });

    test.each([16, 32, 8, 5])('chunked prefill over many cached blocks, head dims 64 and 128, block size %i', (bs) => {
      checkPaged(a, { ctx: [1000, 130, 257], nNew: [200, 130, 1], Hq: 4, Hkv: 1, D: 128, bs });
      checkPaged(a, { ctx: [700, 129, 64], nNew: [129, 64, 64], Hq: 2, Hkv: 2, D: 64, bs });
      checkPaged(a, { ctx: [2100], nNew: [512], Hq: 2, Hkv: 1, D: 64, bs, hintSlack: 100 });
    });

    test.each([[64, 1], [64, 4], [64, 8], [128, 1], [128, 4], [128, 8]])('chunked prefill, head dim %i, GQA ratio %i', (D, ratio) => {
      checkPaged(a, { ctx: [300, 77], nNew: [150, 40], Hq: 2 * ratio, Hkv: 2, D, bs: 16 });
    });

    test('chunked prefill with sliding window, ALiBi and without causality, head dim 128', () => {
      checkPaged(a, { ctx: [900, 200], nNew: [300, 10], Hq: 4, Hkv: 2, D: 128, bs: 16, windowLeft: 150, alibi: true });
      checkPaged(a, { ctx: [400, 50], nNew: [160, 50], Hq: 2, Hkv: 1, D: 128, bs: 32, causal: false });
    });
  });
});
