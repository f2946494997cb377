/**
 * SentencePiece ('llama') GGUF vocabularies (the one spm-gguf.ts writes from SmolLM2's pieces). Our
 * tokenizer.json for it, run by @huggingface/tokenizers, must give llama.cpp's ids for the same file (BOS,
 * space prefix after special tokens, byte fallback included), and decode back to the text.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { HAS_LLAMA_CPP, llamaCppTokenize, SAMPLES } from './gguf-llama-cpp';
import { USER_DEFINED, writeSentencePieceGguf } from './spm-gguf';

let file: string;
let tmp: string;
let tok: TextTokenizer;
let config: Record<string, unknown>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-spm-'));
  const written = await writeSentencePieceGguf(tmp);
  file = written.file;
  config = written.files.config ?? {};
  tok = new TextTokenizer(written.files.json, written.files.config);
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const TEXTS = [
  ...SAMPLES.filter((s) => !s.includes('<|')),
  'Hello world', ' leading space', '  two leading spaces', 'the quick brown fox jumps over the lazy dog',
  '<s>hello</s> world', `${USER_DEFINED}call`, `a${USER_DEFINED} b`, '\u{10FFFD} private use plane 16', 'ǅ Ǆ',
];

describe('SentencePiece GGUF tokenizer', () => {
  test('BOS is added as the metadata asks; specials and bytes are in place', () => {
    expect(config.add_bos_token).toBe(true);
    const ids = tok.encode('Hello');
    expect(ids[0]).toBe(1);
    expect(tok.decode(ids)).toBe('Hello');
    expect(tok.specialIds.has(1) && tok.specialIds.has(2) && tok.specialIds.has(0)).toBe(true);
    expect(tok.tokenToId('<0x0A>')).toBe(3 + 0x0a);
  });

  test.each(TEXTS.filter((t) => !t.includes('<s>') && !t.includes(USER_DEFINED)).map((t) => [JSON.stringify(t), t]))(
    'round trip %s', (_label, text) => {
      expect(tok.decode(tok.encode(text))).toBe(text);
    });

  (HAS_LLAMA_CPP ? test : test.skip)('the same ids as llama.cpp on the same file', () => {
    // node-llama-cpp's tokenize() adds no BOS of its own: compare the text's ids (BOS is checked above)
    const reference = llamaCppTokenize(file, TEXTS);
    const mismatches = TEXTS
      .map((t, i) => ({ text: t, ours: tok.encode(t, { addSpecialTokens: false }), llamaCpp: reference[i] }))
      .filter((m) => JSON.stringify(m.ours) !== JSON.stringify(m.llamaCpp));
    expect(mismatches).toEqual([]);
  });
});
