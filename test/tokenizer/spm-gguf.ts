/**
 * A SentencePiece ('llama') GGUF vocabulary to test with. No such model is in ../shared, so it is written: a
 * GGUF whose ~48k pieces are the SmolLM2 vocabulary spelled the SentencePiece way (real text with U+2581 for
 * spaces, scores falling with the BPE rank, every character of every piece present, 256 <0xXX> byte tokens,
 * <unk>/<s>/</s> and a user-defined token), and the tokenizer files lib/loader/gguf-tokenizer.ts builds from it.
 */
import * as path from 'path';
import { GgufMeta } from '../../lib/loader/gguf-metadata';
import { readGguf } from '../../lib/loader/gguf-reader';
import { ggufTokenizer } from '../../lib/loader/gguf-tokenizer';
import { BYTE_OF_CHAR } from '../../lib/tokenizer/token-bytes';
import type { TokenizerFiles } from '../../lib/tokenizer/tokenizer';
import { TINY_LLAMA_HEADER, writeGguf } from '../loader/gguf-writer';

const REAL = path.resolve(__dirname, '../../../shared/models/SmolLM2-135M-Instruct-GGUF/SmolLM2-135M-Instruct.Q4_1.gguf');

/** The user-defined (added, not special) token of the vocabulary, its last id. */
export const USER_DEFINED = '<|tool|>';

/** SentencePiece-style pieces from the SmolLM2 byte-level vocabulary, best first. */
async function sentencePieces(): Promise<string[]> {
  const tokens = (await readGguf(REAL)).metadata.get('tokenizer.ggml.tokens') as string[];
  const strict = new TextDecoder('utf-8', { fatal: true });
  const pieces: string[] = [];
  const seen = new Set<string>();
  for (const t of tokens.slice(17)) { // 0–16 are its control tokens
    let text: string;
    try {
      text = strict.decode(Uint8Array.from([...t].map((ch) => BYTE_OF_CHAR.get(ch)!)));
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

/** Writes the GGUF as `dir`/spm.gguf; its path and the tokenizer files read back from it. */
export async function writeSentencePieceGguf(dir: string): Promise<{ file: string; files: TokenizerFiles }> {
  const pieces = await sentencePieces();
  const tokens = ['<unk>', '<s>', '</s>', ...Array.from({ length: 256 }, (_, b) =>
    `<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`), ...pieces, USER_DEFINED];
  const types = tokens.map((_, id) => (id === 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : id === tokens.length - 1 ? 4 : 1));
  const scores = tokens.map((_, id) => (id < 259 || id === tokens.length - 1 ? 0 : -(id - 259)));
  const file = path.join(dir, 'spm.gguf');
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
  return { file, files: ggufTokenizer(new GgufMeta(await readGguf(file)))! };
}
