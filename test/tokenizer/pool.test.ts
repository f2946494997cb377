/**
 * Tokenization off the event loop (lib/tokenizer/pool.ts) on the real tokenizers: a worker thread gives the
 * very ids the inline tokenizer gives (byte-level BPE from the SmolLM2 GGUF, WordPiece from all-MiniLM-L6-v2,
 * plain and truncated), the event loop stays free while a thread works, cancelled and disposed batches fail
 * with ERR_GPUFORMER_ABORTED; and the bytes-per-token bound that lets an over-long prompt be refused before
 * tokenizing holds on adversarial text, and is withheld from tokenizers whose kind does not prove it.
 */
import * as fs from 'fs';
import * as path from 'path';
import { monitorEventLoopDelay } from 'perf_hooks';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf } from '../../lib/loader/gguf-reader';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';
import { INLINE_CHARS, RECYCLE_CHARS, TokenizerPool } from '../../lib/tokenizer/pool';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { rng } from '../helpers/random';

const MODELS = path.resolve(__dirname, '../../../shared/models');
const GGUF = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');
const MINILM = path.join(MODELS, 'all-MiniLM-L6-v2');

type Files = { json: Record<string, unknown>; config?: Record<string, unknown> };
let smol: Files;
let minilm: Files;

beforeAll(async () => {
  smol = ggufTokenizer(new GgufMeta(await readGguf(GGUF)))!;
  minilm = {
    json: JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer.json'), 'utf8')),
    config: JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer_config.json'), 'utf8')),
  };
});

/** Text that stresses tokenizers: words, digits, runs of spaces and newlines, accents, CJK, emoji, code, special tokens. */
function adversarialText(seed: number, chars: number): string {
  const next = rng(seed);
  const pieces = ['the ', 'quick ', 'Zürich ', 'naïve ', '東京 ', '🙂👍🏽 ', '12345 ', '    ', '\n\n', '\t', '=====', '<|im_end|>', '[SEP]',
    'function f(x) { return x * 2; } ', '——', '   \n  ', 'x'.repeat(40), ' '.repeat(200)];
  let s = '';
  while (s.length < chars) s += pieces[Math.floor(next() * pieces.length)];
  return s;
}

describe('TokenizerPool', () => {
  it('gives on a worker thread exactly the ids the tokenizer gives inline (BPE and WordPiece, plain and truncated)', async () => {
    for (const [files, truncateTo] of [[smol, undefined], [minilm, undefined], [minilm, 256]] as const) {
      const tok = new TextTokenizer(files.json, files.config);
      const pool = new TokenizerPool(tok, files, 1);
      try {
        // one long text pushes the batch past INLINE_CHARS, so it goes to a thread
        const texts = [adversarialText(1, INLINE_CHARS + 500), adversarialText(2, 300), ''];
        const got = await pool.encode(texts, { truncateTo });
        expect(pool.threads).toBe(1);
        expect(got).toEqual(tok.encodeBatch(texts, { truncateTo }));
        if (truncateTo !== undefined) expect((got[0] as number[]).length).toBe(truncateTo);
      } finally {
        await pool.dispose();
      }
      expect(pool.threads).toBe(0);
    }
  });

  it('encodes small batches inline, without starting a thread', async () => {
    const tok = new TextTokenizer(smol.json, smol.config);
    const pool = new TokenizerPool(tok, smol);
    expect(await pool.encode(['hello there'], { addSpecialTokens: false })).toEqual([tok.encode('hello there', { addSpecialTokens: false })]);
    expect(pool.threads).toBe(0);
    await pool.dispose();
  });

  it('answers a text longer than the limit with its count, not its ids', async () => {
    const tok = new TextTokenizer(smol.json, smol.config);
    const pool = new TokenizerPool(tok, smol, 1);
    try {
      const long = adversarialText(3, 2 * INLINE_CHARS);
      const count = tok.encode(long).length;
      const [over, under] = await pool.encode([long, 'short'], { limit: count - 1 });
      expect(over).toEqual({ tooLong: count });
      expect(under).toEqual(tok.encode('short'));
    } finally {
      await pool.dispose();
    }
  });

  it('keeps the event loop free while a thread tokenizes a megabyte, and stops that thread after', async () => {
    const tok = new TextTokenizer(smol.json, smol.config);
    const pool = new TokenizerPool(tok, smol, 1);
    try {
      await pool.encode([adversarialText(4, INLINE_CHARS + 1)]); // start the thread
      const text = adversarialText(5, RECYCLE_CHARS + 1);
      const inlineStart = performance.now();
      tok.encode(text.slice(0, 2 ** 17));
      const inlineMs = (performance.now() - inlineStart) * 8; // what a megabyte inline would block for, on this machine now
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 5);
      const ids = await pool.encode([text]);
      clearInterval(ticker);
      delay.disable();
      expect((ids[0] as number[]).length).toBeGreaterThan(10_000);
      // the loop kept turning while the thread worked, and never stalled for a large part of that work
      expect(ticks).toBeGreaterThan(2);
      expect(delay.max / 1e6).toBeLessThan(Math.max(100, inlineMs / 4));
      // its heap grew with the megabyte: the thread is gone, and the next large batch starts a fresh one
      expect(pool.threads).toBe(0);
      const again = adversarialText(7, INLINE_CHARS + 1);
      expect(await pool.encode([again])).toEqual([tok.encode(again)]);
      expect(pool.threads).toBe(1);
    } finally {
      await pool.dispose();
    }
  });

  it('fails a cancelled batch and every batch of a disposed pool with ERR_GPUFORMER_ABORTED', async () => {
    const tok = new TextTokenizer(smol.json, smol.config);
    const pool = new TokenizerPool(tok, smol, 1);
    const aborted = expect.objectContaining({ code: 'ERR_GPUFORMER_ABORTED' });
    const big = [adversarialText(6, 200_000)];
    const running = pool.encode(big);
    const ac = new AbortController();
    const queued = pool.encode(big, { signal: ac.signal });
    ac.abort();
    await expect(queued).rejects.toEqual(aborted);
    const cancelledEarly = new AbortController();
    cancelledEarly.abort();
    await expect(pool.encode(big, { signal: cancelledEarly.signal })).rejects.toEqual(aborted);
    expect((await running)[0]).toEqual(tok.encode(big[0]));
    const pending = expect(pool.encode(big)).rejects.toEqual(aborted);
    await pool.dispose();
    await pending;
    await expect(pool.encode(['x'])).rejects.toEqual(aborted);
    expect(pool.threads).toBe(0);
  });
});

describe('encodeTruncated (one encoding per text)', () => {
  it('keeps the post-processor\'s special tokens and cuts the text\'s own: [CLS] body… [SEP] for BERT, the plain prefix for byte-level BPE', () => {
    for (const [files, prefix, suffix] of [[minilm, 1, 1], [smol, 0, 0]] as const) {
      const tok = new TextTokenizer(files.json, files.config);
      for (let seed = 40; seed < 46; seed++) {
        const text = adversarialText(seed, 1500);
        const full = tok.encode(text);
        const body = tok.encode(text, { addSpecialTokens: false });
        expect(full.length).toBe(body.length + prefix + suffix);
        for (const max of [3, 8, 256, full.length, full.length + 5]) {
          const want = full.length <= max ? full : [...full.slice(0, prefix), ...body.slice(0, max - prefix - suffix), ...full.slice(full.length - suffix)];
          expect(tok.encodeTruncated(text, max)).toEqual(want);
        }
      }
      expect(tok.encodeTruncated('', 256)).toEqual(tok.encode(''));
    }
  });
});

describe('maxBytesPerToken', () => {
  it('bounds the bytes of every token of byte-level BPE: tokens ≥ bytes / bound on adversarial text', () => {
    const tok = new TextTokenizer(smol.json, smol.config);
    const bound = tok.maxBytesPerToken!;
    expect(bound).toBeGreaterThan(8);
    for (let seed = 10; seed < 30; seed++) {
      const text = adversarialText(seed, 5000);
      for (const addSpecialTokens of [true, false]) {
        const n = tok.encode(text, { addSpecialTokens }).length;
        expect(n).toBeGreaterThanOrEqual(Math.ceil(Buffer.byteLength(text) / bound));
      }
    }
    // the longest run a single token can stand for: the bound is met, never passed
    const spaces = ' '.repeat(10 * bound);
    expect(tok.encode(spaces).length).toBeGreaterThanOrEqual(10);
  });

  it('is withheld where the tokenizer kind proves no bound', () => {
    expect(new TextTokenizer(minilm.json, minilm.config).maxBytesPerToken).toBeUndefined(); // WordPiece drops whitespace
    const variant = (patch: Record<string, unknown>) => new TextTokenizer({ ...smol.json, ...patch }, smol.config).maxBytesPerToken;
    expect(variant({ normalizer: { type: 'NFC' } })).toBeUndefined();
    expect(variant({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'WhitespaceSplit' }, { type: 'ByteLevel', add_prefix_space: false }] } })).toBeUndefined();
    expect(variant({ pre_tokenizer: { type: 'Sequence', pretokenizers: [{ type: 'Split', pattern: { Regex: '\\s+' }, behavior: 'Removed', invert: false },
      { type: 'ByteLevel', add_prefix_space: false }] } })).toBeUndefined();
    const added = (smol.json.added_tokens as Array<Record<string, unknown>>).map((t, i) => (i === 0 ? { ...t, lstrip: true } : t));
    expect(variant({ added_tokens: added })).toBeUndefined();
    expect(variant({})).toBe(new TextTokenizer(smol.json, smol.config).maxBytesPerToken);
  });
});
