/**
 * The tokenizer built from the SmolLM2 GGUF's metadata, run by @huggingface/tokenizers: every reference
 * prompt_text gives exactly its prompt_ids (special tokens included, no BOS), greedy ids decode to the
 * reference text, and on digits, accents, emoji, whitespace runs, CJK and code it round-trips and agrees
 * with llama.cpp itself (node-llama-cpp's prebuilt binary, run in a child process on the same file).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf } from '../../lib/loader/gguf-reader';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { writeGguf, type MetaEntry } from '../loader/gguf-writer';
import { HAS_LLAMA_CPP, llamaCppTokenize, SAMPLES } from './gguf-llama-cpp';

const SHARED = path.resolve(__dirname, '../../../shared');
const REAL = path.join(SHARED, 'models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

interface Case {
  kind: string;
  prompt_text: string;
  prompt_ids: number[];
  greedy_ids: number[];
  greedy_text: string;
}
const fixture = JSON.parse(fs.readFileSync(path.join(SHARED, 'fixtures/SmolLM2-135M-Instruct.json'), 'utf8'));
const cases: Case[] = fixture.cases;


let tok: TextTokenizer;
beforeAll(async () => {
  const meta = new GgufMeta(await readGguf(REAL));
  const files = ggufTokenizer(meta)!;
  tok = new TextTokenizer(files.json, files.config);
});

describe('SmolLM2 GGUF tokenizer', () => {
  test.each(cases.map((c, i) => [i, c.kind, c] as const))('case %i (%s): prompt_text → prompt_ids', (_i, _kind, c) => {
    expect(tok.encode(c.prompt_text)).toEqual(c.prompt_ids);
    // add_bos_token is false: asking for special tokens adds nothing
    expect(tok.encode(c.prompt_text, { addSpecialTokens: false })).toEqual(c.prompt_ids);
  });

  test.each(cases.map((c, i) => [i, c] as const))('case %i: greedy_ids decode to greedy_text', (_i, c) => {
    expect(tok.decode(c.greedy_ids, { skipSpecialTokens: false })).toBe(c.greedy_text);
    // <|im_end|> is a control token: left out of display text
    expect(tok.decode(c.greedy_ids)).toBe(c.greedy_text.replace(/<\|im_end\|>/g, ''));
  });

  test('special tokens: ids, and control tokens marked special', () => {
    expect(tok.tokenToId('<|endoftext|>')).toBe(0);
    expect(tok.tokenToId('<|im_start|>')).toBe(1);
    expect(tok.tokenToId('<|im_end|>')).toBe(2);
    expect(tok.specialIds.has(2)).toBe(true);
    expect(tok.specialIds.has(504)).toBe(false); // 'The'
    expect(tok.idToToken(9690)).toBe('system');
  });

  test('digits are split one per token', () => {
    const ids = tok.encode('12345');
    expect(ids).toHaveLength(5);
    expect(ids.map((id) => tok.decode([id]))).toEqual(['1', '2', '3', '4', '5']);
  });

  test.each(SAMPLES.map((s) => [JSON.stringify(s), s]))('round trip %s', (_label, text) => {
    const ids = tok.encode(text);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(text);
  });

  test('a multi-thousand-token text round-trips', () => {
    const text = cases.map((c) => c.prompt_text + c.greedy_text).join('\n\n').repeat(20);
    const ids = tok.encode(text);
    expect(ids.length).toBeGreaterThan(3000);
    expect(tok.decode(ids, { skipSpecialTokens: false })).toBe(text);
  });
});

(HAS_LLAMA_CPP ? describe : describe.skip)('agreement with llama.cpp on the same file', () => {
  test('every sample and every reference prompt tokenizes as llama.cpp does', () => {
    const texts = [...SAMPLES, ...cases.map((c) => c.prompt_text), ...cases.map((c) => c.greedy_text)];
    const reference = llamaCppTokenize(REAL, texts);
    const mismatches = texts
      .map((t, i) => ({ text: t, ours: tok.encode(t), llamaCpp: reference[i] }))
      .filter((m) => JSON.stringify(m.ours) !== JSON.stringify(m.llamaCpp));
    expect(mismatches).toEqual([]);
  });
});

describe('malformed tokenizer metadata is bad weights, naming the problem', () => {
  const base = (): MetaEntry[] => [
    { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: 'string', value: 'gpt-2' },
    { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: ['<eos>', 'a', 'b', 'ab'] },
    { key: 'tokenizer.ggml.token_type', type: { array: 'int32' }, value: [3, 1, 1, 1] },
    { key: 'tokenizer.ggml.merges', type: { array: 'string' }, value: ['a b'] },
    { key: 'tokenizer.ggml.eos_token_id', type: 'uint32', value: 0 },
  ];
  const replace = (key: string, entry: Partial<MetaEntry> | null) =>
    base().flatMap((m) => (m.key !== key ? [m] : entry === null ? [] : [{ ...m, ...entry }]));

  async function build(metadata: MetaEntry[]) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-tok-'));
    try {
      const file = path.join(dir, 't.gguf');
      writeGguf(file, { metadata, tensors: [] });
      return ggufTokenizer(new GgufMeta(await readGguf(file)));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }
  const bad = (re: RegExp) => expect.objectContaining({ code: 'ERR_GPUFORMER_BAD_WEIGHTS', message: expect.stringMatching(re) });

  test('the well-formed base builds a working tokenizer', async () => {
    const files = (await build(base()))!;
    const t = new TextTokenizer(files.json, files.config);
    expect(t.encode('ab<eos>a')).toEqual([3, 0, 1]);
  });

  test('each defect', async () => {
    await expect(build(replace('tokenizer.ggml.tokens', { value: ['<eos>', 'a', 'b', 'a'] })))
      .rejects.toEqual(bad(/token "a" appears twice \(ids 1 and 3\)/));
    await expect(build(replace('tokenizer.ggml.merges', { value: ['a c'] })))
      .rejects.toEqual(bad(/tokenizer.ggml.merges\[0\] "a c" is not two vocabulary tokens/));
    await expect(build(replace('tokenizer.ggml.merges', null))).rejects.toEqual(bad(/a gpt2 tokenizer needs tokenizer.ggml.merges/));
    await expect(build(replace('tokenizer.ggml.token_type', { value: [3, 1] })))
      .rejects.toEqual(bad(/token_type has 2 entries for 4 tokens/));
    await expect(build(replace('tokenizer.ggml.eos_token_id', { value: 9 })))
      .rejects.toEqual(bad(/tokenizer.ggml.eos_token_id 9 is outside the vocabulary \(4 tokens\)/));
    await expect(build(replace('tokenizer.ggml.tokens', { type: { array: 'int32' }, value: [1, 2] })))
      .rejects.toEqual(bad(/'tokenizer.ggml.tokens' should be an array of strings, found array\[int32\]/));
    const addEos: MetaEntry = { key: 'tokenizer.ggml.add_eos_token', type: 'bool', value: true };
    await expect(build([...base(), addEos]
      .filter((m) => m.key !== 'tokenizer.ggml.eos_token_id'))).rejects.toEqual(bad(/add_eos_token is set but there is no eos_token_id/));
  });
});
