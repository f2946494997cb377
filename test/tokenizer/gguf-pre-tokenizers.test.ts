/**
 * Byte-level BPE pre-tokenizers by `tokenizer.ggml.pre`: for each group gpuformer supports, a GGUF is written
 * with the SmolLM2 vocabulary and merges but that `pre` value, and our tokenizer.json for it must give the
 * ids llama.cpp gives for the same file (llama.cpp splits with each group's regexes, and for some groups
 * skips merges for words that are whole tokens). Unknown values are refused.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf, type GgufFile } from '../../lib/loader/gguf-reader';
import { SUPPORTED_PRE_TOKENIZERS } from '../../lib/loader/gguf-pre-tokenizers';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';
import { TextTokenizer } from '../../lib/tokenizer/tokenizer';
import { TINY_LLAMA_HEADER, writeGguf } from '../loader/gguf-writer';
import { HAS_LLAMA_CPP, llamaCppTokenizeFiles, SAMPLES } from './gguf-llama-cpp';

const REAL = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

/** one name from each group (the others share its regexes) */
const PRE = ['default', 'gpt-2', 'smollm', 'llama-bpe', 'dbrx', 'qwen2', 'deepseek-coder', 'tekken'];

const TEXTS = [
  ...SAMPLES,
  "Hello World HELLO world's THE cat's I'LL", '12345678 1234 $100+200=300^2 |pipes| ~tilde~', 'naïve\r\n\r\nline\n \n',
  'a/b/c\n/d //comment', 'CamelCaseWords and lowerUPPER XMLHttpRequest', '  indented\n\tcode();  ', '中文字符和English混合',
  'numbers 123456 and 4512', 'xyzzy said xyzzy', 'iPhone eBay macOS jQuery camelCase someCase',
];

let tmp: string;
let real: GgufFile;
const files = new Map<string, string>();

beforeAll(async () => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'gguf-pre-'));
  real = await readGguf(REAL);
  // extra tokens that make the groups' splits visible in the ids: multi-digit numbers (SmolLM2 itself has
  // only single digits) and whole-word tokens no merge sequence reaches (found only with ignore_merges)
  const own = real.metadata.get('tokenizer.ggml.tokens') as string[];
  const extra = { tokens: ['12', '123', '45', '456', 'xyzzy', 'Ġxyzzy'], merges: ['1 2', '12 3', '4 5', '45 6'] };
  expect(extra.tokens.filter((t) => own.includes(t))).toEqual([]);
  const tokens = [...own, ...extra.tokens];
  const types = [...(real.metadata.get('tokenizer.ggml.token_type') as number[]), ...extra.tokens.map(() => 1)];
  const merges = [...(real.metadata.get('tokenizer.ggml.merges') as string[]), ...extra.merges];
  for (const pre of PRE) {
    const file = path.join(tmp, `${pre}.gguf`);
    writeGguf(file, {
      metadata: [
        ...TINY_LLAMA_HEADER,
        { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
        { key: 'tokenizer.ggml.pre', type: 'string', value: pre },
        { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: tokens },
        { key: 'tokenizer.ggml.token_type', type: { array: 'int32' }, value: types },
        { key: 'tokenizer.ggml.merges', type: { array: 'string' }, value: merges },
        { key: 'tokenizer.ggml.bos_token_id', type: 'uint32', value: 1 },
        { key: 'tokenizer.ggml.eos_token_id', type: 'uint32', value: 2 },
      ],
      tensors: [],
    });
    files.set(pre, file);
  }
});

afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

async function tokenizerFor(pre: string) {
  const built = ggufTokenizer(new GgufMeta(await readGguf(files.get(pre)!)))!;
  return { tok: new TextTokenizer(built.json, built.config), config: built.config };
}

describe('GGUF byte-level pre-tokenizers', () => {
  test('every listed group is supported; BOS defaults follow llama.cpp', async () => {
    for (const pre of PRE) expect(SUPPORTED_PRE_TOKENIZERS).toContain(pre);
    expect((await tokenizerFor('llama-bpe')).config.add_bos_token).toBe(true);
    expect((await tokenizerFor('tekken')).config.add_bos_token).toBe(true);
    expect((await tokenizerFor('qwen2')).config.add_bos_token).toBe(false);
  });

  test.each(PRE)('%s: round trips', async (pre) => {
    const { tok } = await tokenizerFor(pre);
    for (const text of TEXTS) expect(tok.decode(tok.encode(text, { addSpecialTokens: false }), { skipSpecialTokens: false })).toBe(text);
  });

  (HAS_LLAMA_CPP ? test : test.skip)('each group gives llama.cpp\'s ids on the same file', async () => {
    const reference = llamaCppTokenizeFiles(PRE.map((p) => files.get(p)!), TEXTS);
    // the groups really split differently: no two give llama.cpp the same ids on every text
    expect(new Set(reference.map((r) => JSON.stringify(r))).size).toBe(PRE.length);
    const mismatches: unknown[] = [];
    for (const [i, pre] of PRE.entries()) {
      const { tok } = await tokenizerFor(pre);
      TEXTS.forEach((text, j) => {
        const ours = tok.encode(text, { addSpecialTokens: false });
        if (JSON.stringify(ours) !== JSON.stringify(reference[i][j])) mismatches.push({ pre, text, ours, llamaCpp: reference[i][j] });
      });
    }
    expect(mismatches).toEqual([]);
  });

  test('no tokenizer.ggml.model: no tokenizer; an unknown pre-tokenizer: unsupported, naming it', async () => {
    expect(ggufTokenizer(new GgufMeta({ path: 'none.gguf', metadata: new Map(), metadataTypes: new Map() }))).toBeUndefined();
    const file = path.join(tmp, 'unknown.gguf');
    writeGguf(file, {
      metadata: [
        { key: 'tokenizer.ggml.model', type: 'string', value: 'gpt2' },
        { key: 'tokenizer.ggml.pre', type: 'string', value: 'made-up' },
        { key: 'tokenizer.ggml.tokens', type: { array: 'string' }, value: ['a', 'b', 'ab'] },
        { key: 'tokenizer.ggml.merges', type: { array: 'string' }, value: ['a b'] },
      ],
      tensors: [],
    });
    const meta = new GgufMeta(await readGguf(file));
    expect(() => ggufTokenizer(meta)).toThrow(expect.objectContaining({ code: 'ERR_GPUFORMER_UNSUPPORTED',
      message: expect.stringMatching(/GGUF pre-tokenizer 'made-up' is not supported/) }));
  });
});
