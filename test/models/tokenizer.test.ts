/**
 * The tokenizer adapter against sentence-transformers' own ids for all-MiniLM-L6-v2 (truncation to 256
 * included), and incremental detokenization on a byte-level tokenizer where characters span several tokens.
 */
import * as fs from 'fs';
import * as path from 'path';
import { IncrementalDetokenizer } from '../../lib/tokenizer/detokenizer';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { FIXTURES, MODELS } from './golden';

const MINILM = path.join(MODELS, 'all-MiniLM-L6-v2');

function miniLmTokenizer(): TextTokenizer {
  const json = JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer_config.json'), 'utf8'));
  return new TextTokenizer(json, config);
}

/** GPT-2's byte ↔ printable-character table, as byte-level BPE vocabularies spell bytes. */
function byteLevelAlphabet(): string[] {
  const printable: number[] = [];
  for (let i = 33; i <= 126; i++) printable.push(i);
  for (let i = 161; i <= 172; i++) printable.push(i);
  for (let i = 174; i <= 255; i++) printable.push(i);
  const out: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) out[b] = String.fromCharCode(printable.includes(b) ? b : 256 + extra++);
  return out;
}

/** A byte-level BPE with no merges: one token per byte, so every multi-byte character spans several tokens. */
function byteTokenizer(): TextTokenizer {
  const vocab: Record<string, number> = {};
  byteLevelAlphabet().forEach((ch, b) => { vocab[ch] = b; });
  vocab['<eos>'] = 256;
  return new TextTokenizer({
    model: { type: 'BPE', vocab, merges: [], ignore_merges: false },
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', add_prefix_space: false, use_regex: true },
    post_processor: null,
    decoder: { type: 'ByteLevel' },
    added_tokens: [{ id: 256, content: '<eos>', special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
  });
}

describe('TextTokenizer (all-MiniLM-L6-v2)', () => {
  const ref = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'all-MiniLM-L6-v2.json'), 'utf8')) as {
    max_seq_length: number; cases: Array<{ text: string; input_ids: number[] }>;
  };
  const tok = miniLmTokenizer();

  it.each(ref.cases.map((c, i) => [i, c.text.slice(0, 30), c] as const))('case %i (%s) gives sentence-transformers ids', (_i, _t, c) => {
    expect(tok.encodeTruncated(c.text, ref.max_seq_length)).toEqual(c.input_ids);
  });

  it('truncation keeps [CLS], the first text tokens and the final [SEP]', () => {
    const long = ref.cases.find((c) => c.input_ids.length === ref.max_seq_length)!;
    const full = tok.encode(long.text);
    expect(full.length).toBeGreaterThan(ref.max_seq_length);
    const cut = tok.encodeTruncated(long.text, ref.max_seq_length);
    expect(cut).toEqual([...full.slice(0, ref.max_seq_length - 1), full[full.length - 1]]);
    expect(tok.encodeTruncated('A man is eating food.', 4)).toEqual([101, 1037, 2158, 102]);
  });

  it('knows its special tokens and skips them when decoding', () => {
    expect(tok.tokenToId('[SEP]')).toBe(102);
    expect(tok.specialIds.has(101)).toBe(true);
    expect(tok.decode(tok.encode('A man is eating food.'))).toBe('a man is eating food.');
    expect(tok.decode([101, 1037, 102], { skipSpecialTokens: false })).toBe('[CLS] a [SEP]');
  });

  it('rejects a non-string', () => {
    expect(() => tok.encode(42 as unknown as string)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_INPUT' }));
  });
});

describe('IncrementalDetokenizer', () => {
  const tok = byteTokenizer();

  it('never emits a broken character and reassembles the full text', () => {
    const text = 'a 🚀 é, 東京 ok';
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan([...text].length); // characters span several tokens
    const d = new IncrementalDetokenizer(tok);
    const pieces = ids.map((id) => d.push(id));
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.join('') + d.flush()).toBe(text);
    // the rocket's four bytes produce text only with the fourth
    const rocketStart = tok.encode('a ').length;
    expect(pieces.slice(rocketStart, rocketStart + 3)).toEqual(['', '', '']);
    expect(pieces[rocketStart + 3]).toBe('🚀');
  });

  it('skips special tokens and drops an incomplete trailing character at flush', () => {
    const d = new IncrementalDetokenizer(tok);
    const ids = [...tok.encode('hi '), 256, ...tok.encode('🚀').slice(0, 2)];
    const text = ids.map((id) => d.push(id)).join('');
    expect(text + d.flush()).toBe('hi ');
  });

  it('decodes each new token in the context of the tokens before it (WordPiece joins ## pieces)', () => {
    const mini = miniLmTokenizer();
    const [the, river, bank, at, dawn] = mini.encode('the riverbank at dawn', { addSpecialTokens: false });
    expect(mini.idToToken(bank)).toBe('##bank');
    // the prompt ends in 'river': the first generated piece '##bank' continues the word
    const d = new IncrementalDetokenizer(mini, [the, river]);
    expect([bank, at, dawn].map((id) => d.push(id))).toEqual(['bank', ' at', ' dawn']);
    expect(d.flush()).toBe('');
  });
});
