/**
 * SentencePiece ('llama') GGUF vocabularies. No such model is in ../shared, so the test writes one: a GGUF
 * whose ~48k pieces are the SmolLM2 vocabulary spelled the SentencePiece way (real text with U+2581 for
 * spaces, scores falling with the BPE rank, every character of every piece present, 256 <0xXX> byte tokens,
 * <unk>/<s>/</s> and a user-defined token). Our tokenizer.json for it, run by @huggingface/tokenizers, must
 * give llama.cpp's ids for the same file (BOS, space prefix after special tokens, byte fallback included),
 * and decode back to the text.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf } from '../../lib/loader/gguf-reader';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { TINY_LLAMA_HEADER, writeGguf } from '../loader/gguf-writer';
import { HAS_LLAMA_CPP, llamaCppTokenize, SAMPLES } from './gguf-llama-cpp';

const REAL = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

/** GPT-2's byte ↔ printable-character table, inverted: character → byte. */
function byteLevelDecoder(): Map<string, number> {
  const printable = (b: number) => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  const out = new Map<string, number>();
  let extra = 0;
  for (let b = 0; b < 256; b++) out.set(String.fromCharCode(printable(b) ? b : 256 + extra++), b);
  return out;
}

/** SentencePiece-style pieces from the SmolLM2 byte-level vocabulary, best first. */
async function sentencePieces(): Promise<string[]> {
  const tokens = (await readGguf(REAL)).metadata.get('tokenizer.ggml.tokens') as string[];
  const bytesOf = byteLevelDecoder();
  const strict = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const seen = new Set<string>();
  for (const t of tokens.slice(17)) { // 0–16 are its control tokens
    let text: string;
    try {
      text = strict.decode(Uint8Array.from([...t].map((ch) => bytesOf.get(ch)!)));
    } catch {
      continue; // a piece ending inside a UTF-8 sequence has no SentencePiece spelling
    }
    const piece = text.replace(/ /g, '\u2581');
    if (piece.length > 0 && !seen.has(piece)) {
      seen.add(piece);
      pieces.push(piece);
    }
  }
  // SentencePiece vocabularies hold every character their pieces are made of
  for (const piece of [...pieces]) {
    for (const ch of piece) {
      if (!seen.has(ch)) {
        seen.add(ch);
        pieces.push(ch);
      }
    }
  }
  return pieces;
}

const USER_DEFINED = '<|tool|>';
let file: string;
let tmp: string;
let tok: TextTokenizer;
let config: Record<string, unknown>;

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-spm-'));
  const pieces = await sentencePieces();
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) =>
    `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), ...pieces, USER_DEFINED];
  const types = tokens.map((_, id) => (id === 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : id === tokens.length - 1 ? 4 : 1));
  const scores = tokens.map((_, id) => (id < 259 || id === tokens.length - 1 ? 0 : -(id - 259)));
  file = path.join(tmp, 'spm.gguf');
  writeGguf(file, {
    metadata: [
      ...TINY_LLAMA_HEADER,
      { key: 'llama.vocab_size', type: 'uint32', value: tokens.length },
      { key: 'tokenizer.ggml.model', type: 'string', value: 'llama' },
      { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: tokens },
      { key: 'tokenizer.ggml.scores', type: { array: 'float32' }, value: scores },
      { key: 'tokenizer.ggml.token_type', type: { array: 'int32' }, value: types },
      { key: 'tokenizer.ggml.unknown_token_id', type: 'uint32', value: 0 },
      { key: 'tokenizer.ggml.bos_token_id', type: 'uint32', value: 1 },
      { key: 'tokenizer.ggml.eos_token_id', type: 'uint32', value: 2 },
      { key: 'tokenizer.ggml.add_bos_token', type: 'bool', value: true },
      { key: 'tokenizer.ggml.add_space_prefix', type: 'bool', value: true },
    ],
    tensors: [],
  });
  const files = ggufTokenizer(new GgufMeta(await readGguf(file)))!;
  config = files.config;
  tok = new TextTokenizer(files.json, files.config);
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
