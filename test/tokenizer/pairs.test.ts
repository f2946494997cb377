/**
 * Text pairs (a query and a passage, two sentences) as a cross-encoder or an embedding reads them: the
 * ids and token types the maintained tokenizer's pair template gives ([CLS] a [SEP] b [SEP], types 0 then 1
 * for BERT), truncation 'longest first' as Hugging Face's fast tokenizers do it, and the same answers from a
 * tokenizer thread as inline.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Tokenizer as HfTokenizer } from '@huggingface/tokenizers';
import { INLINE_CHARS, TokenizerPool } from '../../lib/tokenizer/pool';
import { PairIds, TextTokenizer, longestFirst } from '../../lib/tokenizer/tokenizer';

const MINILM = path.resolve(__dirname, '../../../shared/models/all-MiniLM-L6-v2');
const files = {
  json: JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer.json'), 'utf8')),
  config: JSON.parse(fs.readFileSync(path.join(MINILM, 'tokenizer_config.json'), 'utf8')),
};
const tok = new TextTokenizer(files.json, files.config);
const CLS = tok.tokenToId('[CLS]')!;
const SEP = tok.tokenToId('[SEP]')!;

const PAIRS: Array<[string, string]> = [
  ['How many people live in Berlin?', 'Berlin had a population of 3,520,031 registered inhabitants.'],
  ['a', 'b'],
  ['Zürich naïve 東京 🙂', ''],
  ['', 'only the second text'],
];

it('gives the ids and token types of the tokenizer library\'s own pair template', () => {
  const lib = new HfTokenizer(files.json, files.config);
  for (const [a, b] of PAIRS.slice(0, 2)) {
    const want = lib.encode(a, { text_pair: b, add_special_tokens: true, return_token_type_ids: true });
    expect(tok.encodePair([a, b])).toEqual({ ids: want.ids, typeIds: want.token_type_ids });
  }
  // an empty text is still half of a pair (Hugging Face's tokenizers: [CLS] a [SEP] [SEP]); the JS library
  // would take an empty second text for no pair at all
  expect(tok.encodePair(['a', ''])).toEqual({ ids: [CLS, tok.tokenToId('a'), SEP, SEP], typeIds: [0, 0, 0, 1] });
  expect(tok.encodePair(['', 'b'])).toEqual({ ids: [CLS, SEP, tok.tokenToId('b'), SEP], typeIds: [0, 0, 1, 1] });
  const [a, b] = PAIRS[0];
  const { ids, typeIds } = tok.encodePair([a, b]);
  const bodyA = tok.encode(a, { addSpecialTokens: false });
  const bodyB = tok.encode(b, { addSpecialTokens: false });
  expect(ids).toEqual([CLS, ...bodyA, SEP, ...bodyB, SEP]);
  expect(typeIds).toEqual([0, ...bodyA.map(() => 0), 0, ...bodyB.map(() => 1), 1]);
});

describe('longest-first truncation (Hugging Face tokenizers\' rule)', () => {
  test.each([
    // [tokens of a, tokens of b, room] → kept
    [3, 10, 8, [3, 5]], [10, 3, 8, [5, 3]], // only the longer shrinks
    [6, 10, 8, [4, 4]], [6, 10, 9, [4, 5]], [10, 6, 9, [5, 4]], [5, 5, 9, [4, 5]], // both shrink; the longer keeps the odd token
    [12, 20, 8, [4, 4]], [2, 2, 8, [2, 2]], [0, 20, 8, [0, 8]], [7, 7, 0, [0, 0]],
  ])('%i and %i tokens in %i', (a, b, room, kept) => {
    expect(longestFirst(a, b, room)).toEqual(kept);
  });

  it('cuts a long pair to maxLength with its special tokens kept', () => {
    const long = 'word '.repeat(400);
    const short = 'a short question';
    const nShort = tok.encode(short, { addSpecialTokens: false }).length;
    for (const [pair, a, b] of [[[short, long], nShort, 256 - 3 - nShort], [[long, long], 126, 127]] as const) {
      const { ids, typeIds } = tok.encodePair(pair as [string, string], 256);
      expect(ids).toHaveLength(256);
      expect(ids[0]).toBe(CLS);
      expect(ids[1 + a]).toBe(SEP);
      expect(ids[255]).toBe(SEP);
      expect(typeIds.filter((t) => t === 1)).toHaveLength(b + 1);
    }
  });
});

it('a tokenizer thread gives the very pairs the inline tokenizer gives, texts beside them', async () => {
  const pool = new TokenizerPool(tok, files, 1);
  try {
    const items = [...PAIRS, ['x '.repeat(INLINE_CHARS), 'y '.repeat(300)] as [string, string], 'a plain text'];
    const got = await pool.encode(items, { truncateTo: 256 });
    expect(pool.threads).toBe(1);
    expect(got).toEqual(tok.encodeBatch(items, { truncateTo: 256 }));
    expect((got[4] as PairIds).ids).toHaveLength(256);
    expect(Array.isArray(got[5])).toBe(true);
  } finally {
    await pool.dispose();
  }
});
