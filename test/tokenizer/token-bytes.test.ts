/**
 * A token's bytes (lib/tokenizer/token-bytes.ts), the one source that TextTokenizer.tokenBytes
 * (log-probabilities' `bytes`) and structured output's vocabulary both read, on the real tokenizers: SmolLM2's
 * GPT-2-style byte-level BPE (its GGUF), a SentencePiece GGUF vocabulary (spm-gguf.ts: ▁ for spaces, <0xXX>
 * byte fallback) and all-MiniLM-L6-v2's WordPiece. A token's bytes are what it adds after other tokens: after
 * a prefix, the bytes of a text's tokens are exactly what decoding adds to the prefix's text, even where a
 * token holds part of a UTF-8 character, and the vocabulary of structured output holds the very same bytes.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { openModel } from '../../lib/loader/open';
import { TokenVocabulary } from '../../lib/structured/vocabulary';
import { pieceBytes } from '../../lib/tokenizer/token-bytes';
import { TextTokenizer, TokenizerFiles } from '../../lib/tokenizer/tokenizer';
import { MODELS } from '../models/golden';
import { USER_DEFINED, writeSentencePieceGguf } from './spm-gguf';

const SMOLLM2 = path.join(MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const MINILM = path.join(MODELS, 'all-MiniLM-L6-v2');

const TEXTS = ['Hello world', 'the quick brown fox, jumps over the lazy dog.', 'naïve café: 😀 日本語 and ǅ Ǆ',
  '{"name": "Zoë", "age": 42}', 'unbelievably tokenizing', '\u{10FFFD} private use'];

interface Case { tok: TextTokenizer; files: TokenizerFiles; size: number }
const cases: Record<string, Case> = {};
let tmp: string;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'token-bytes-'));
  const spm = (await writeSentencePieceGguf(tmp)).files;
  const smol = (await openModel(SMOLLM2)).tokenizer!;
  const minilm = (await openModel(MINILM)).tokenizer!;
  for (const [name, files] of Object.entries({ 'byte-level BPE (SmolLM2)': smol, 'SentencePiece (GGUF)': spm, 'WordPiece (all-MiniLM-L6-v2)': minilm })) {
    cases[name] = { tok: new TextTokenizer(files.json, files.config), files, size: idsIn(files.json) };
  }
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** One past the highest id of a tokenizer.json's vocabulary and added tokens. */
function idsIn(json: Record<string, unknown>): number {
  const vocab = (json.model as { vocab: Record<string, number> }).vocab;
  const added = (json.added_tokens ?? []) as Array<{ id: number }>;
  return Math.max(...Object.values(vocab), ...added.map((t) => t.id)) + 1;
}

const bytesOf = (tok: TextTokenizer, ids: number[]) => Buffer.from(ids.flatMap((id) => tok.tokenBytes(id)));

describe.each(['byte-level BPE (SmolLM2)', 'SentencePiece (GGUF)', 'WordPiece (all-MiniLM-L6-v2)'])('%s', (name) => {
  it('after a prefix, a text\'s tokens add exactly their bytes to the decoded text', () => {
    const { tok } = cases[name];
    const prefix = tok.encode('Start', { addSpecialTokens: false });
    const before = Buffer.from(tok.decode(prefix));
    for (const text of TEXTS) {
      const ids = tok.encode(text, { addSpecialTokens: false });
      // (decoding leaves special tokens out: WordPiece reads the emoji as [UNK])
      const kept = ids.filter((id) => !tok.specialIds.has(id));
      expect(Buffer.concat([before, bytesOf(tok, kept)]).toString('utf8')).toBe(tok.decode([...prefix, ...ids]));
    }
  });

  it('structured output\'s vocabulary holds the same bytes for every token; special tokens none', () => {
    const { tok, files, size } = cases[name];
    const vocab = TokenVocabulary.fromTokenizerJson(files.json, size);
    let compared = 0;
    for (let id = 0; id < size; id++) {
      if (tok.specialIds.has(id)) {
        expect(vocab.bytes[id]).toBeNull();
      } else {
        expect([...vocab.bytes[id]!]).toEqual(tok.tokenBytes(id));
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(size - 20);
  });
});

describe('the cases decoding one token alone gets wrong', () => {
  it('SentencePiece: ▁ is a leading space (decode strips it from a text\'s start), <0xXX> one byte', () => {
    const { tok } = cases['SentencePiece (GGUF)'];
    const the = tok.tokenToId('\u2581the')!;
    expect(tok.tokenText(the)).toBe('the');
    expect(Buffer.from(tok.tokenBytes(the)).toString()).toBe(' the');
    expect(tok.tokenBytes(tok.tokenToId('<0xE2>')!)).toEqual([0xe2]);
    // a character outside the vocabulary is spelled in byte tokens
    const ids = tok.encode('\u{10FFFD}', { addSpecialTokens: false });
    expect(ids.map((id) => tok.idToToken(id))).toEqual(['\u2581', '<0xF4>', '<0x8F>', '<0xBF>', '<0xBD>']);
    expect(bytesOf(tok, ids)).toEqual(Buffer.from(' \u{10FFFD}'));
    expect(Buffer.from(tok.tokenBytes(tok.tokenToId(USER_DEFINED)!)).toString()).toBe(USER_DEFINED);
  });

  it('byte-level BPE: a token holding part of a character gives its bytes, not U+FFFD', () => {
    const { tok } = cases['byte-level BPE (SmolLM2)'];
    const partial = tok.encode('😀', { addSpecialTokens: false }).find((id) => tok.tokenText(id).includes('\uFFFD'))!;
    expect(partial).toBeDefined();
    expect(tok.tokenBytes(partial).every((b) => b >= 0x80)).toBe(true);
    expect(Buffer.from(tok.tokenBytes(tok.tokenToId('\u0120hello')!)).toString()).toBe(' hello');
  });

  it('WordPiece: a ## piece continues the word, any other piece starts one; no space before punctuation', () => {
    const { tok } = cases['WordPiece (all-MiniLM-L6-v2)'];
    expect(tok.tokenText(tok.tokenToId('##ing')!)).toBe('##ing');
    expect(Buffer.from(tok.tokenBytes(tok.tokenToId('##ing')!)).toString()).toBe('ing');
    expect(Buffer.from(tok.tokenBytes(tok.tokenToId('hello')!)).toString()).toBe(' hello');
    expect(Buffer.from(tok.tokenBytes(tok.tokenToId(',')!)).toString()).toBe(',');
  });
});

it('a decoder whose token text is unknown is refused by name; the tokenizer then reads the decoded text', () => {
  for (const decoder of [{ type: 'CTC' }, null, { type: 'Sequence', decoders: [{ type: 'Replace', pattern: { Regex: 'x+' }, content: '' }] }]) {
    expect(() => pieceBytes(decoder)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED' }));
  }
  expect(() => pieceBytes({ type: 'CTC' })).toThrow(/CTC decoder/);
});
