/** The benchmark harness's pure parts: statistics, the repetition policy, KV-waste accounting, inputs, flags. */
import { readFileSync } from 'fs';
import { join } from 'path';
import { Tokenizer } from '@huggingface/tokenizers';
import { parseArgs, SECTIONS } from '../../bench/e2e/args';
import { promptIds, requestMix, sentences } from '../../bench/e2e/inputs';
import { kvAccount, kvBytesPerToken, KvWasteMeter, wasteFraction } from '../../bench/e2e/kv-waste';
import { wantsAnother, type RepeatPolicy } from '../../bench/e2e/repeat';
import { mean, median, quantile, ratio, summarize } from '../../bench/e2e/stats';

describe('statistics', () => {
  it('interpolates quantiles between order statistics as numpy does', () => {
    const xs = [7, 1, 3, 5];
    // numpy.quantile([1,3,5,7], q) → 1, 1.6, 4, 6.4, 7
    expect(quantile(xs, 0)).toBe(1);
    expect(quantile(xs, 0.1)).toBeCloseTo(1.6, 12);
    expect(median(xs)).toBe(4);
    expect(quantile(xs, 0.9)).toBeCloseTo(6.4, 12);
    expect(quantile(xs, 1)).toBe(7);
    expect(median([5])).toBe(5);
    expect(median([2, 9, 4])).toBe(4);
  });

  it('does not reorder the caller\'s samples', () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });

  it('summarizes', () => {
    const s = summarize([4, 1, 3, 2]);
    expect(s).toEqual({ n: 4, median: 2.5, p10: quantile([1, 2, 3, 4], 0.1), p90: quantile([1, 2, 3, 4], 0.9), min: 1, max: 4, mean: 2.5 });
    expect(mean([1, 2, 6])).toBe(3);
  });

  it('refuses empty samples and bad quantiles', () => {
    expect(() => median([])).toThrow(/no samples/);
    expect(() => quantile([1], 1.5)).toThrow(/q must be in/);
  });

  it('gives no ratio when a side is missing or zero', () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(3, 0)).toBeNull();
    expect(ratio(undefined, 2)).toBeNull();
    expect(ratio(3, null)).toBeNull();
    expect(ratio(NaN, 2)).toBeNull();
  });
});

describe('repetition policy', () => {
  const p: RepeatPolicy = { warmup: 1, minReps: 3, maxReps: 6, minSeconds: 2, maxSeconds: 10 };
  it('runs at least minReps while time allows', () => {
    expect(wantsAnother(0, 0, p)).toBe(true);
    expect(wantsAnother(2, 1, p)).toBe(true);
  });
  it('keeps going until minSeconds, stops at maxReps', () => {
    expect(wantsAnother(3, 1, p)).toBe(true);
    expect(wantsAnother(3, 2.5, p)).toBe(false);
    expect(wantsAnother(6, 0.1, p)).toBe(false);
  });
  it('always measures once, and starts nothing new past maxSeconds', () => {
    expect(wantsAnother(0, 0, { ...p, maxSeconds: 0 })).toBe(true);
    expect(wantsAnother(1, 12, p)).toBe(false);
    expect(wantsAnother(2, 10, p)).toBe(false);
  });
});

describe('KV-cache waste', () => {
  const g = { bytesPerToken: 100, blockSize: 16, maxModelLen: 1024 };

  it('counts bytes per token as 2 × layers × kv heads × head dim × element bytes', () => {
    // SmolLM2-135M in f16: 30 layers, 3 KV heads of 64
    expect(kvBytesPerToken(30, 3, 64, 2)).toBe(23040);
  });

  it('rounds each sequence up to whole blocks, and reserves maxModelLen each when contiguous', () => {
    const a = kvAccount([1, 16, 17, 40], g);
    expect(a.usedBytes).toBe((1 + 16 + 17 + 40) * 100);
    expect(a.pagedBytes).toBe((16 + 16 + 32 + 48) * 100);
    expect(a.contiguousBytes).toBe(4 * 1024 * 100);
    expect(kvAccount([], g)).toEqual({ usedBytes: 0, pagedBytes: 0, contiguousBytes: 0 });
  });

  it('refuses lengths that are not counts or exceed the context', () => {
    expect(() => kvAccount([1.5], g)).toThrow(/not a count/);
    expect(() => kvAccount([2000], g)).toThrow(/exceeds maxModelLen/);
  });

  it('aggregates samples as Σ(reserved − used) ÷ Σ reserved and keeps peaks', () => {
    const m = new KvWasteMeter(g);
    m.sample([16], 2000);
    m.sample([17, 3], 4800);
    const s = m.summary();
    const used = 16 * 100 + 20 * 100;
    expect(s.samples).toBe(2);
    expect(s.pagedWaste).toBeCloseTo(wasteFraction(1600 + 4800, used), 12);
    expect(s.contiguousWaste).toBeCloseTo(wasteFraction(102400 + 204800, used), 12);
    expect(s.measuredWaste).toBeCloseTo(wasteFraction(2000 + 4800, used), 12);
    expect(s.peakPagedBytes).toBe(4800);
    expect(s.peakContiguousBytes).toBe(204800);
    expect(s.peakMeasuredBytes).toBe(4800);
    expect(new KvWasteMeter(g).summary().measuredWaste).toBeNull();
    expect(wasteFraction(0, 0)).toBe(0);
  });
});

describe('inputs', () => {
  const minilm = join(__dirname, '..', '..', '..', 'shared', 'models', 'all-MiniLM-L6-v2');

  it('are the same for the same seed and differ between seeds', () => {
    expect(sentences(5, 'short')).toEqual(sentences(5, 'short'));
    expect(sentences(5, 'short', 2)).not.toEqual(sentences(5, 'short', 1));
    expect(promptIds(20, 1000, 7)).toEqual(promptIds(20, 1000, 7));
    expect(requestMix(4, 1000, [5, 9], [2, 3])).toEqual(requestMix(4, 1000, [5, 9], [2, 3]));
  });

  it('keep prompt ids away from both ends of the vocabulary and mixes within their ranges', () => {
    for (const id of promptIds(500, 49152, 3)) expect(id >= 300 && id < 49152 - 300).toBe(true);
    for (const id of promptIds(200, 512, 3)) expect(id >= 128 && id < 384).toBe(true);
    for (const r of requestMix(50, 1000, [5, 9], [2, 3])) {
      expect(r.promptIds.length >= 5 && r.promptIds.length <= 9).toBe(true);
      expect(r.maxTokens >= 2 && r.maxTokens <= 3).toBe(true);
    }
  });

  it('make short sentences of about a dozen MiniLM tokens and long ones under its 256-token truncation', () => {
    const tok = new Tokenizer(JSON.parse(readFileSync(join(minilm, 'tokenizer.json'), 'utf8')),
      JSON.parse(readFileSync(join(minilm, 'tokenizer_config.json'), 'utf8')));
    const count = (s: string) => tok.encode(s).ids.length;
    for (const s of sentences(64, 'short')) expect(count(s)).toBeGreaterThanOrEqual(8), expect(count(s)).toBeLessThanOrEqual(24);
    for (const s of sentences(64, 'long')) expect(count(s)).toBeGreaterThanOrEqual(150), expect(count(s)).toBeLessThan(256);
  });
});

describe('command line', () => {
  it('defaults to a full CPU run of every section with 2 threads', () => {
    const a = parseArgs([]);
    expect(a).toMatchObject({ device: 'cpu', quick: false, only: SECTIONS, threads: 2, save: true });
    expect(a.engines).toContain('gpuformer');
  });

  it('reads every flag', () => {
    const a = parseArgs(['--device', 'cuda', '--quick', '--only', 'embed,decode', '--models', 'minilm', '--engines', 'gpuformer,pytorch',
      '--threads', '4', '--no-save', '--job-timeout', '60']);
    expect(a).toMatchObject({ device: 'cuda', quick: true, only: ['embed', 'decode'], models: ['minilm'], engines: ['gpuformer', 'pytorch'],
      threads: 4, save: false, jobTimeoutSeconds: 60 });
    expect(parseArgs(['--no-peers']).engines).toEqual(['gpuformer']);
  });

  it('says what is allowed when a flag is wrong', () => {
    expect(() => parseArgs(['--device', 'tpu'])).toThrow(/--device must be cpu or cuda, got tpu/);
    expect(() => parseArgs(['--only', 'embed,speed'])).toThrow(/unknown section speed/);
    expect(() => parseArgs(['--engines', 'vllm'])).toThrow(/unknown engine vllm/);
    expect(() => parseArgs(['--threads', '0'])).toThrow(/positive integer/);
    expect(() => parseArgs(['--threads'])).toThrow(/needs a value/);
    expect(() => parseArgs(['--fast'])).toThrow(/unknown option --fast/);
  });
});
