/**
 * The background engine loop over fake runners (no model): streaming, batching of concurrent callers,
 * stop tokens and maxModelLen, aborts (signal, cancel, break) freeing blocks at once, preemption with
 * recompute, seeded sampling independent of the batch, step errors rejecting only their requests, embed
 * batching under the budgets, shutdown, and going idle.
 */
import { BackgroundEngineLoop, LoopOptions } from '../../lib/engine/loop';
import type { GenerateRequest, TokenEvent } from '../../lib/engine/types';
import { samplingParams } from '../helpers/sampling';
import { FakeDecoderRunner, FakeEncoderRunner, fakeEmbedding, referenceTokens } from './fake-runners';

const range = (from: number, n: number) => Array.from({ length: n }, (_, i) => (from + i * 7) % 97);

function request(promptIds: number[], maxTokens: number, extra: Partial<GenerateRequest> = {}): GenerateRequest {
  return { promptIds, maxTokens, sampling: samplingParams(), stopTokenIds: [], ...extra };
}

async function collect(it: AsyncIterable<TokenEvent>): Promise<TokenEvent[]> {
  const out: TokenEvent[] = [];
  for await (const ev of it) out.push(ev);
  return out;
}

const ids = (evs: TokenEvent[]) => evs.filter((e) => e.tokenId >= 0).map((e) => e.tokenId);

const unhandled: unknown[] = [];
const onUnhandled = (e: unknown) => unhandled.push(e);
beforeAll(() => process.on('unhandledRejection', onUnhandled));
afterAll(() => process.off('unhandledRejection', onUnhandled));
afterEach(() => expect(unhandled).toEqual([]));

function decoderLoop(numBlocks = 64, blockSize = 4, o: Partial<LoopOptions> = {}) {
  const runner = new FakeDecoderRunner(numBlocks, blockSize);
  const loop = new BackgroundEngineLoop(runner, { maxNumBatchedTokens: 64, maxNumSeqs: 8, maxModelLen: 128, ...o });
  return { runner, loop };
}

describe('engine loop: generation', () => {
  it('streams one event per token, the last with its finish reason', async () => {
    const { loop } = decoderLoop();
    const prompt = range(3, 10);
    const evs = await collect(loop.generate(request(prompt, 6)));
    expect(evs.map((e) => e.tokenId)).toEqual(referenceTokens(prompt, { maxTokens: 6 }));
    expect(evs.slice(0, 5).every((e) => e.finishReason === undefined)).toBe(true);
    expect(evs[5].finishReason).toBe('length');
    const s = loop.stats();
    expect(s).toMatchObject({ waiting: 0, running: 0, kvBlocksUsed: 0, generatedTokens: 6, promptTokens: 10 });
    expect(s.kvBlocksCached).toBeGreaterThan(0);
  });

  it('batches concurrent callers into shared steps, each getting its own tokens', async () => {
    const { runner, loop } = decoderLoop(256, 4, { maxNumSeqs: 16 });
    const prompts = Array.from({ length: 24 }, (_, i) => range(i, 3 + (i * 5) % 30));
    const results = await Promise.all(prompts.map((p, i) => collect(loop.generate(request(p, 4 + (i % 9))))));
    results.forEach((evs, i) => expect(ids(evs)).toEqual(referenceTokens(prompts[i], { maxTokens: 4 + (i % 9) })));
    expect(Math.max(...runner.batches.map((b) => b.length))).toBeGreaterThan(8);
    for (const b of runner.batches) {
      expect(b.length).toBeLessThanOrEqual(16);
      expect(b.reduce((n, s) => n + s.numTokens, 0)).toBeLessThanOrEqual(64);
    }
    expect(loop.stats().kvBlocksUsed).toBe(0);
  });

  it('prefills long prompts in chunks across steps', async () => {
    const { runner, loop } = decoderLoop(64, 4, { maxNumBatchedTokens: 16 });
    const prompt = range(1, 50);
    const evs = await collect(loop.generate(request(prompt, 3)));
    expect(ids(evs)).toEqual(referenceTokens(prompt, { maxTokens: 3 }));
    expect(runner.batches.map((b) => b[0].numTokens)).toEqual([16, 16, 16, 2, 1, 1]);
  });

  it('stops after a stop token id (emitted) and at maxModelLen', async () => {
    const { loop } = decoderLoop(64, 4, { maxModelLen: 30 });
    const prompt = range(2, 12);
    const ref = referenceTokens(prompt, { maxTokens: 100, maxModelLen: 30 });
    expect(ref).toHaveLength(18);
    const stopId = ref[6];
    const [stopped, long] = await Promise.all([
      collect(loop.generate(request(prompt, 100, { stopTokenIds: [stopId] }))),
      collect(loop.generate(request(prompt, 100))),
    ]);
    expect(ids(stopped)).toEqual(ref.slice(0, ref.indexOf(stopId) + 1));
    expect(stopped[stopped.length - 1].finishReason).toBe('stop');
    expect(ids(long)).toEqual(ref);
    expect(long[long.length - 1].finishReason).toBe('length');
  });

  it('refuses bad requests up front with input errors', async () => {
    const { loop } = decoderLoop(8, 4, { maxModelLen: 64 });
    const code = expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' });
    expect(() => loop.generate(request([], 4))).toThrow(code);
    expect(() => loop.generate(request([1, 97], 4))).toThrow(/promptIds\[1\] is 97/);
    expect(() => loop.generate(request([1, 2], 0))).toThrow(/maxTokens/);
    expect(() => loop.generate(request(range(0, 64), 4))).toThrow(/maxModelLen is 64/);
    expect(() => loop.generate(request(range(0, 20), 40))).toThrow(/needs 15 KV blocks of 4 tokens; the cache has 8/);
    await expect(loop.embed([[1]], { pooling: 'mean', normalize: false })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_UNSUPPORTED' });
  });

  it('an AbortSignal ends the stream with abort and frees the blocks at once', async () => {
    const { runner, loop } = decoderLoop();
    runner.delayMs = 2;
    const ac = new AbortController();
    const evs: TokenEvent[] = [];
    for await (const ev of loop.generate(request(range(0, 20), 50, { signal: ac.signal }))) {
      evs.push(ev);
      if (evs.length === 3) {
        ac.abort();
        expect(loop.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
      }
    }
    expect(evs[evs.length - 1].finishReason).toBe('abort');
    expect(ids(evs).length).toBeLessThan(50);
    expect(ids(evs)).toEqual(referenceTokens(range(0, 20), { maxTokens: 50 }).slice(0, ids(evs).length));
  });

  it('an already aborted signal ends at once; abort while waiting frees nothing twice', async () => {
    const { loop } = decoderLoop();
    const ac = new AbortController();
    ac.abort();
    expect(await collect(loop.generate(request(range(0, 5), 5, { signal: ac.signal })))).toEqual([{ tokenId: -1, finishReason: 'abort' }]);
    const ac2 = new AbortController();
    const it = loop.generate(request(range(0, 5), 5, { signal: ac2.signal }));
    ac2.abort();
    ac2.abort();
    expect(await collect(it)).toEqual([{ tokenId: -1, finishReason: 'abort' }]);
    expect(loop.stats()).toMatchObject({ waiting: 0, running: 0, kvBlocksUsed: 0 });
  });

  it('cancel() and breaking out of the loop free the request', async () => {
    const { runner, loop } = decoderLoop();
    runner.delayMs = 1;
    const req = request(range(0, 9), 40);
    let n = 0;
    const seen: TokenEvent[] = [];
    for await (const ev of loop.generate(req)) {
      seen.push(ev);
      if (++n === 2) loop.cancel(req);
    }
    // tokens already produced may still arrive; the stream then ends with abort (on a token, or on -1)
    expect(seen.length).toBeLessThanOrEqual(4);
    expect(seen[seen.length - 1].finishReason).toBe('abort');
    expect(ids(seen)).toEqual(referenceTokens(range(0, 9), { maxTokens: 40 }).slice(0, ids(seen).length));
    for await (const ev of loop.generate(request(range(1, 9), 40))) {
      expect(ev.finishReason).toBeUndefined();
      break;
    }
    expect(loop.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
  });

  it('preempts when blocks run out and recomputes: every output is unchanged', async () => {
    // 12 blocks of 4: each request can reach 40 tokens (10 blocks), so concurrency forces preemption
    const { loop } = decoderLoop(12, 4, { maxModelLen: 40 });
    const prompts = Array.from({ length: 6 }, (_, i) => range(i * 11, 6 + i));
    const results = await Promise.all(prompts.map((p) => collect(loop.generate(request(p, 100)))));
    results.forEach((evs, i) => expect(ids(evs)).toEqual(referenceTokens(prompts[i], { maxTokens: 100, maxModelLen: 40 })));
    expect(loop.stats().preemptions).toBeGreaterThan(0);
    expect(loop.stats().kvBlocksUsed).toBe(0);
  });

  it('seeded sampling gives the same tokens alone and in company', async () => {
    const { loop } = decoderLoop();
    const prompt = range(5, 8);
    const sampled = (seed: bigint) => request(prompt, 12, { sampling: samplingParams({ temperature: 1, seed }) });
    const alone = ids(await collect(loop.generate(sampled(42n))));
    expect(alone).toEqual(referenceTokens(prompt, { maxTokens: 12, temperature: 1, seed: 42n }));
    const [together, other] = await Promise.all([collect(loop.generate(sampled(42n))), collect(loop.generate(sampled(7n)))]);
    expect(ids(together)).toEqual(alone);
    expect(ids(other)).not.toEqual(alone);
  });

  it('a failing step rejects its requests with the runner error; the others carry on', async () => {
    const { runner, loop } = decoderLoop();
    runner.failOnToken = 96;
    const bad = loop.generate(request([1, 2, 96], 5));
    const never = loop.generate(request([96, 1], 5)); // created, never read: must not leak a rejection
    await expect(collect(bad)).rejects.toMatchObject({ code: 'ERR_GPUFORMER_INPUT', message: expect.stringMatching(/poison/) });
    const good = await collect(loop.generate(request([4, 5, 6], 5)));
    expect(ids(good)).toEqual(referenceTokens([4, 5, 6], { maxTokens: 5 }));
    expect(loop.stats()).toMatchObject({ running: 0, waiting: 0, kvBlocksUsed: 0 });
    void never;
  });

  it('shutdown ends running requests with abort and refuses new ones', async () => {
    const { runner, loop } = decoderLoop();
    runner.delayMs = 2;
    const it = collect(loop.generate(request(range(0, 5), 100)));
    await new Promise((r) => setTimeout(r, 10));
    await loop.shutdown();
    const evs = await it;
    expect(evs[evs.length - 1].finishReason).toBe('abort');
    expect(() => loop.generate(request([1], 2))).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_ABORTED' }));
    expect(loop.stats().kvBlocksUsed).toBe(0);
  });

  it('goes idle when there is no work', async () => {
    const { runner, loop } = decoderLoop();
    await collect(loop.generate(request([1, 2, 3], 3)));
    await loop.idle();
    const steps = runner.batches.length;
    await new Promise((r) => setTimeout(r, 20));
    expect(runner.batches.length).toBe(steps);
    expect(loop.stats().steps).toBe(steps);
  });
});

describe('engine loop: embeddings', () => {
  const encoderLoop = (o: Partial<LoopOptions> = {}) => {
    const runner = new FakeEncoderRunner();
    return { runner, loop: new BackgroundEngineLoop(runner, { maxNumBatchedTokens: 32, maxNumSeqs: 4, maxModelLen: 512, ...o }) };
  };

  it('packs concurrent calls into batches under the token and sequence budgets', async () => {
    const { runner, loop } = encoderLoop();
    const calls = Array.from({ length: 7 }, (_, c) => Array.from({ length: 1 + (c % 3) }, (_, k) => range(c * 3 + k, 1 + ((c * 7 + k * 5) % 15))));
    const out = await Promise.all(calls.map((batch) => loop.embed(batch, { pooling: 'mean', normalize: true })));
    out.forEach((vecs, c) => {
      expect(vecs).toHaveLength(calls[c].length);
      vecs.forEach((v, k) => expect(Array.from(v)).toEqual(Array.from(fakeEmbedding(calls[c][k], 'mean', true))));
    });
    for (const b of runner.batches) {
      expect(b.sizes.length).toBeLessThanOrEqual(4);
      expect(b.sizes.reduce((a, n) => a + n, 0)).toBeLessThanOrEqual(32);
    }
    // several calls shared batches
    expect(runner.batches.length).toBeLessThan(calls.flat().length);
    expect(loop.stats().embeddedSequences).toBe(calls.flat().length);
  });

  it('never mixes pooling modes in a batch', async () => {
    const { runner, loop } = encoderLoop();
    const [a, b] = await Promise.all([loop.embed([[1, 2]], { pooling: 'cls', normalize: false }), loop.embed([[3]], { pooling: 'mean', normalize: false })]);
    expect(Array.from(a[0])).toEqual(Array.from(fakeEmbedding([1, 2], 'cls', false)));
    expect(Array.from(b[0])).toEqual(Array.from(fakeEmbedding([3], 'mean', false)));
    expect(runner.batches.map((x) => x.pooling)).toEqual(['cls', 'mean']);
  });

  it('rejects only the calls whose batch failed, and bad input up front', async () => {
    const { runner, loop } = encoderLoop({ maxNumSeqs: 1 });
    runner.failOnToken = 50;
    const bad = loop.embed([[1], [50]], { pooling: 'mean', normalize: false });
    const good = loop.embed([[2, 3]], { pooling: 'mean', normalize: false });
    await expect(bad).rejects.toThrow(/poison/);
    expect(await good).toHaveLength(1);
    await expect(loop.embed([[]], { pooling: 'mean', normalize: false })).rejects.toThrow(/batch\[0\] must be a non-empty/);
    await expect(loop.embed([new Array(33).fill(1)], { pooling: 'mean', normalize: false })).rejects.toThrow(/33 tokens, more than maxNumBatchedTokens 32/);
    await expect(loop.embed([[1]], { pooling: 'max' as never, normalize: false })).rejects.toThrow(/pooling/);
    expect(() => loop.generate(request([1], 1))).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
    expect(await loop.embed([], { pooling: 'mean', normalize: false })).toEqual([]);
  });

  it('shutdown rejects embeds that have not run', async () => {
    const { runner, loop } = encoderLoop({ maxNumSeqs: 1 });
    runner.delayMs = 5;
    const p = expect(loop.embed([[1], [2], [3]], { pooling: 'mean', normalize: false })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_ABORTED' });
    await new Promise((r) => setTimeout(r, 1));
    await loop.shutdown();
    await p;
    await expect(loop.embed([[1]], { pooling: 'mean', normalize: false })).rejects.toMatchObject({ code: 'ERR_GPUFORMER_ABORTED' });
  });
});
