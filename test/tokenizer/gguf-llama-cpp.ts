/**
 * llama.cpp as the reference tokenizer for GGUF vocabularies: node-llama-cpp's prebuilt binary runs in a child
 * process (it is an ES module with a native addon; jest runs CommonJS) and tokenizes a list of texts with the
 * file's own vocabulary, special tokens in the text parsed.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

/** node-llama-cpp is a devDependency (the benchmark peer); where it is installed the comparisons must pass. */
export const HAS_LLAMA_CPP = fs.existsSync(path.resolve(__dirname, '../../node_modules/node-llama-cpp/package.json'));

/** llama.cpp's ids for `texts`, per file (one child process for all of them). */
export function llamaCppTokenizeFiles(files: string[], texts: string[]): number[][][] {
  const run = spawnSync(process.execPath, [path.join(__dirname, 'gguf-llama-cpp-tokenize.mjs'), ...files], {
    input: JSON.stringify(texts), encoding: 'utf8', timeout: 300_000, maxBuffer: 256 << 20,
  });
  if (run.status !== 0) throw new Error(`llama.cpp tokenizer failed (status ${run.status}): ${run.stderr}`);
  const out: number[][][] = JSON.parse(run.stdout);
  if (out.length !== files.length || out.some((r) => r.length !== texts.length)) {
    throw new Error(`llama.cpp returned results for ${out.length} files, expected ${files.length} × ${texts.length} texts`);
  }
  return out;
}

export function llamaCppTokenize(file: string, texts: string[]): number[][] {
  return llamaCppTokenizeFiles([file], texts)[0];
}

/** Texts that stress pre-tokenizers and byte handling. */
export const SAMPLES = [
  // digits: llama.cpp's 'smollm' pre-tokenizer isolates every \p{N} character
  '0123456789', '3.14159', '1,000,000 and 2^64 = 18446744073709551616', 'v2.0.1-rc3', '٣٤٥ ²³ ½ Ⅻ',
  // accents, precomposed and combining
  'café naïve résumé Ærøskøbing Ångström', 'Crème brûlée à la française', 'cafe\u0301 e\u0300', 'ŁÓDŹ żółć',
  // emoji: multi-codepoint sequences, modifiers, flags, ZWJ families
  '👍🏽 🇫🇷 👨‍👩‍👧‍👦 🙂🙂 ❤️', 'emoji🎉inside', '🧑🏿‍🚀',
  // whitespace runs
  'a  b   c    d', '\t\ttabs\tand\nnewlines\n\n\n', '   leading', 'trailing   ', 'line\r\nbreak', 'x \u00a0 y', ' ', '\n',
  // other scripts and code
  '日本語のテキスト、中文。한국어', 'Привет, мир! Γειά σου κόσμε', 'def f(x):\n    return x**2  # square\n',
  "I'm you're we've they'll she'd it's DON'T", 'Hello, world! How are you?', '<html><body class="x">&amp;</body>',
  // special tokens inside text
  '<|im_start|>user\nhi<|im_end|>\n', 'text<|endoftext|>more', '<|im_start|><|im_end|>',
];
