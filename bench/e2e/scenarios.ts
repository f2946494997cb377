/**
 * The measurements, written once against the adapter interfaces (bench/e2e/types.ts) so that gpuformer and
 * every peer are timed by the same code on the same inputs: embedding throughput, prefill, single-stream
 * decode, and concurrent streams (TTFT, inter-token latency, total throughput, KV-cache waste).
 */
import { promptIds, requestMix, sentences } from './inputs';
import { KvWasteMeter } from './kv-waste';
import { repeatMeasured, repeatTimed, RepeatPolicy } from './repeat';
import { summarize } from './stats';
import type {
  ConcurrencyPoint, DecodePoint, EmbedAdapter, EmbedPoint, EmbedScenario, GenerateAdapter, GenerateScenario, PrefillPoint,
} from './types';

const ns = (a: bigint, b: bigint) => Number(b - a);

export async function measureEmbed(a: EmbedAdapter, s: EmbedScenario, policy: RepeatPolicy,
  countTokens: (texts: string[]) => number, log: (m: string) => void): Promise<EmbedPoint[]> {
  const points: EmbedPoint[] = [];
  for (const length of s.lengths) {
    for (const batch of s.batchSizes) {
      const texts = sentences(batch, length);
      const times = repeatTimed(() => a.embed(texts), policy);
      const seconds = summarize(await times);
      const tokensPerBatch = countTokens(texts);
      points.push({
        batch, length, tokensPerBatch, seconds,
        sentencesPerSec: batch / seconds.median,
        tokensPerSec: tokensPerBatch / seconds.median,
      });
      log(`embed ${length} ×${batch}: ${(batch / seconds.median).toFixed(1)} sentences/s (${seconds.n} reps)`);
    }
  }
  return points;
}

/** Prefill speed as the time to the first token of a one-token generation; each repetition a fresh prompt. */
export async function measurePrefill(a: GenerateAdapter, s: GenerateScenario, policy: RepeatPolicy,
  log: (m: string) => void): Promise<PrefillPoint[]> {
  await a.setParallelism(1);
  const points: PrefillPoint[] = [];
  for (const len of s.prefillLens) {
    const times = await repeatMeasured(async (rep) => {
      const t0 = process.hrtime.bigint();
      const t = await a.generate(promptIds(len, s.vocabSize, 10_000 + len * 100 + rep), 1);
      return ns(t0, t.at[0]) / 1e9;
    }, policy);
    const seconds = summarize(times);
    points.push({ promptLen: len, seconds, tokensPerSec: len / seconds.median });
    log(`prefill ${len}: ${(len / seconds.median).toFixed(1)} tokens/s (${seconds.n} reps)`);
  }
  return points;
}

export async function measureDecode(a: GenerateAdapter, s: GenerateScenario & { decode: object }, policy: RepeatPolicy,
  log: (m: string) => void): Promise<DecodePoint> {
  await a.setParallelism(1);
  const rates: number[] = [];
  const gaps: number[] = [];
  let tokens = Infinity;
  await repeatMeasured(async (rep) => {
    // fixed length: every engine decodes exactly s.decode.tokens, whatever tokens its arithmetic picks
    const t = await a.generate(promptIds(s.decode.promptLen, s.vocabSize, 20_000 + rep), s.decode.tokens, undefined, { ignoreEos: true });
    const n = t.at.length;
    if (rep >= 0) {
      tokens = Math.min(tokens, n);
      if (n >= 2) rates.push((n - 1) / (ns(t.at[0], t.at[n - 1]) / 1e9));
      for (let i = 1; i < n; i++) gaps.push(ns(t.at[i - 1], t.at[i]) / 1e6);
    }
    return n >= 2 ? ns(t.at[0], t.at[n - 1]) / 1e9 : 0;
  }, policy);
  if (rates.length === 0) throw new Error('decode: every generation stopped after one token');
  const point = { promptLen: s.decode.promptLen, tokens, tokensPerSec: summarize(rates), interTokenMs: summarize(gaps) };
  log(`decode: ${point.tokensPerSec.median.toFixed(2)} tokens/s over ${tokens} tokens (${rates.length} reps)`);
  return point;
}

/**
 * `c` requests of mixed lengths started at once: each one's time to first token and gaps between tokens,
 * all tokens over the wall time, and the KV cache's reserved bytes against the bytes its tokens fill,
 * sampled at every token.
 */
export async function measureConcurrency(a: GenerateAdapter, s: GenerateScenario, c: number,
  log: (m: string) => void): Promise<ConcurrencyPoint> {
  await a.setParallelism(c);
  const reqs = requestMix(c, s.vocabSize, s.mix.promptRange, s.mix.genRange, 30 + c);
  const probe = a.kv?.();
  const meter = probe ? new KvWasteMeter(probe.geometry) : null;
  const inCache = new Array<number>(c).fill(0);
  let peakReserved = 0;
  const t0 = process.hrtime.bigint();
  const timings = await Promise.all(reqs.map(async (r, i) => {
    const t = await a.generate(r.promptIds, r.maxTokens, () => {
      // the prompt and every token but the newest are in the cache once a token comes out
      inCache[i] = inCache[i] === 0 ? r.promptIds.length : inCache[i] + 1;
      if (probe && meter) {
        const reserved = probe.reservedBytes();
        peakReserved = Math.max(peakReserved, reserved);
        meter.sample(inCache.filter((n) => n > 0), reserved);
      }
    });
    inCache[i] = 0;
    return t;
  }));
  const end = timings.reduce((m, t) => (t.at.length && t.at[t.at.length - 1] > m ? t.at[t.at.length - 1] : m), t0);
  const ttft: number[] = [];
  const gaps: number[] = [];
  let generated = 0;
  for (const t of timings) {
    if (t.at.length === 0) continue;
    generated += t.at.length;
    ttft.push(ns(t0, t.at[0]) / 1e6);
    for (let i = 1; i < t.at.length; i++) gaps.push(ns(t.at[i - 1], t.at[i]) / 1e6);
  }
  const wallSeconds = ns(t0, end) / 1e9;
  const point: ConcurrencyPoint = {
    concurrency: c, requests: reqs.length, generatedTokens: generated, wallSeconds,
    tokensPerSec: generated / wallSeconds,
    ttftMs: summarize(ttft),
    interTokenMs: summarize(gaps.length ? gaps : [0]),
    kv: meter?.summary(),
    kvReservedBytes: probe ? peakReserved : undefined,
  };
  log(`concurrency ${c}: ${point.tokensPerSec.toFixed(1)} tokens/s, TTFT p50 ${point.ttftMs.median.toFixed(0)} ms, ` +
    `ITL p50 ${point.interTokenMs.median.toFixed(1)} ms`);
  return point;
}
