/**
 * The inputs every engine in a run gets, generated from a seed so that gpuformer and its peers see exactly
 * the same sentences and token ids: English-like sentences for the embedding benchmarks (short ones of about
 * a dozen tokens, long ones of about 200, under MiniLM's 256-token truncation), random token-id prompts for
 * the decoders (speed does not depend on which ids they are), and the request mix of the concurrency runs.
 * Seeded by test/helpers/random.ts's generator (one mulberry32 for tests and benchmarks).
 */
import { rng } from '../../test/helpers/random';

export function randomInt(rand: () => number, lo: number, hiExclusive: number): number {
  return lo + Math.floor(rand() * (hiExclusive - lo));
}

const WORDS = (
  'the of and to in is was for that on as with by he it at from his an were are which this be or has had not ' +
  'first one their its new after who they have two her she been other when there all during into school time may ' +
  'years more most only over city some world would where later up such used many can state about national out known ' +
  'university united then made three between team under year called season system river early group because both ' +
  'each series well american area while including film number since part through country family began second life ' +
  'long until government work house music album these being war following several four any including around south ' +
  'north west east small large public water light market engine model memory kernel sentence vector search token ' +
  'quickly slowly carefully bright quiet happy ancient modern simple complex careful network library garden winter ' +
  'summer morning evening mountain village station bridge letter question answer story journey window table'
).split(' ');

export type InputLength = 'short' | 'long';

/** Word counts per sentence: short ≈ 10–14 tokens with [CLS]/[SEP]; long ≈ 190–230 (under 256). */
const WORD_RANGE: Record<InputLength, [number, number]> = { short: [8, 13], long: [160, 190] };

/** `count` sentences of the given length class; the same seed gives the same sentences. */
export function sentences(count: number, length: InputLength, seed = 1): string[] {
  const rand = rng(seed * 7919 + (length === 'long' ? 1 : 0));
  const [lo, hi] = WORD_RANGE[length];
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = randomInt(rand, lo, hi + 1);
    const words: string[] = [];
    for (let w = 0; w < n; w++) words.push(WORDS[randomInt(rand, 0, WORDS.length)]);
    words[0] = words[0][0].toUpperCase() + words[0].slice(1);
    out.push(words.join(' ') + '.');
  }
  return out;
}

/**
 * A prompt of n token ids drawn from [lo, hi): away from the ids special tokens usually take (the first few
 * and the last few of a vocabulary), so no prompt contains an end-of-sequence token by chance.
 */
export function promptIds(n: number, vocabSize: number, seed: number): number[] {
  const lo = Math.min(300, Math.floor(vocabSize / 4));
  const hi = vocabSize - Math.min(300, Math.floor(vocabSize / 4));
  const rand = rng(seed);
  return Array.from({ length: n }, () => randomInt(rand, lo, hi));
}

export interface RequestSpec {
  promptIds: number[];
  maxTokens: number;
}

/**
 * The request mix of a concurrency run: `count` requests with prompt lengths uniform in promptRange and
 * generation lengths uniform in genRange, as chat traffic has; the mixed lengths are what makes paged KV
 * blocks pay off against a contiguous max-length allocation.
 */
export function requestMix(count: number, vocabSize: number, promptRange: [number, number], genRange: [number, number],
  seed = 3): RequestSpec[] {
  const rand = rng(seed);
  return Array.from({ length: count }, (_, i) => ({
    promptIds: promptIds(randomInt(rand, promptRange[0], promptRange[1] + 1), vocabSize, seed * 1000 + i),
    maxTokens: randomInt(rand, genRange[0], genRange[1] + 1),
  }));
}
