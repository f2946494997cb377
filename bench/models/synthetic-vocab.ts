/**
 * A made-up byte-level BPE vocabulary of any size, for models that have none (random-weight models, and
 * checkpoints such as llama2c-260K shipped without their tokenizer). The 256 GPT-2 byte symbols come first,
 * then tokens each merged from two earlier ones, with special tokens at the ids the model's config names.
 * The same vocabulary is written as a Hugging Face tokenizer.json (for gpuformer and PyTorch) and as GGUF
 * `tokenizer.ggml.*` metadata (for llama.cpp), so every engine can load the model; the benchmarks feed
 * token ids, so what the tokens spell does not matter.
 */
import { rng } from '../../test/helpers/random';
import { randomInt } from '../e2e/inputs';

/** GPT-2's byte → printable character table (bytes that print as themselves keep their code point). */
export function byteSymbols(): string[] {
  const printable = new Set<number>();
  for (let b = 33; b <= 126; b++) printable.add(b);
  for (let b = 161; b <= 172; b++) printable.add(b);
  for (let b = 174; b <= 255; b++) printable.add(b);
  const out: string[] = [];
  let extra = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable.has(b) ? b : 256 + extra++));
  return out;
}

export interface SyntheticVocab {
  tokens: string[];
  /** "left right" pairs in rank order */
  merges: string[];
  /** id → true for special (control) tokens */
  special: Set<number>;
  bosId: number;
  eosId: number;
}

/**
 * size tokens; bosId / eosId name where the special tokens go (the same id for both is fine, as GPT-2 does).
 */
export function syntheticVocab(size: number, bosId: number, eosId: number, seed = 11): SyntheticVocab {
  const specials = new Map<number, string>([[bosId, bosId === eosId ? '<|endoftext|>' : '<s>'], [eosId, bosId === eosId ? '<|endoftext|>' : '</s>']]);
  for (const id of specials.keys()) {
    if (!(Number.isInteger(id) && id >= 0 && id < size)) throw new Error(`syntheticVocab: special id ${id} is outside [0, ${size})`);
  }
  if (size < 256 + specials.size) throw new Error(`syntheticVocab: ${size} tokens cannot hold 256 byte symbols and ${specials.size} specials`);
  const tokens = new Array<string>(size);
  for (const [id, s] of specials) tokens[id] = s;
  const seen = new Set<string>(specials.values());
  const pool: string[] = [];
  const merges: string[] = [];
  let next = 0;
  const place = (s: string) => {
    while (tokens[next] !== undefined) next++;
    tokens[next] = s;
    seen.add(s);
    pool.push(s);
  };
  for (const b of byteSymbols()) place(b);
  const rand = rng(seed);
  const remaining = size - pool.length - specials.size;
  for (let made = 0; made < remaining;) {
    // right operands from the short end of the pool keep tokens word-sized
    const a = pool[randInt(pool.length)];
    const b = pool[randomInt(rand, 0, Math.min(pool.length, 2048))];
    const s = a + b;
    if (s.length > 10 || seen.has(s)) continue;
    merges.push(`${a} ${b}`);
    place(s);
    made++;
  }
  return { tokens, merges, special: new Set(specials.keys()), bosId, eosId };

  function randInt(n: number) { return randomInt(rand, 0, n); }
}

/** The vocabulary as a Hugging Face tokenizer.json (byte-level BPE, as GPT-2 and Llama 3 use). */
export function tokenizerJson(v: SyntheticVocab): object {
  const vocab: Record<string, number> = {};
  v.tokens.forEach((t, id) => { if (!v.special.has(id)) vocab[t] = id; });
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: [...v.special].sort((a, b) => a - b).map((id) => ({
      id, content: v.tokens[id], single_word: false, lstrip: false, rstrip: false, normalized: false, special: true,
    })),
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: 'ByteLevel', add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: {
      type: 'BPE', dropout: null, unk_token: null, continuing_subword_prefix: null, end_of_word_suffix: null,
      fuse_unk: false, byte_fallback: false, ignore_merges: false, vocab, merges: v.merges,
    },
  };
}
