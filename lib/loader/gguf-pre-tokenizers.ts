/**
 * The pre-tokenizers of byte-level BPE GGUF vocabularies, by `tokenizer.ggml.pre`, as llama.cpp
 * (src/llama-vocab.cpp) defines them: a list of regexes applied one after another, each splitting every piece
 * into its matches and the text between them; then bytes map to GPT-2's printable characters. In
 * tokenizer.json terms: a Sequence of Split(regex, Isolated) and a ByteLevel without its own regex. Some
 * groups also change the BPE (ignore_merges: a word that is itself a token is not merged) and add BOS unless
 * the file says otherwise.
 */
import { unsupported } from '../errors';

/** GPT-2's split (llama.cpp leaves out the final `|\s+`: unmatched whitespace stays a piece of its own anyway). */
const GPT2 = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)";

/** Llama 3's split, with (?i:…) spelled out as character classes as llama.cpp does. */
const LLAMA3 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}|" +
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

/** Qwen2's: Llama 3's with single digits. */
const QWEN2 = "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}|" +
  ' ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

/** Mistral's Tekken: case-aware words, single digits. */
const TEKKEN = '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))*((?=[\\p{L}])([^A-Z]))+|' +
  '[^\\r\\n\\p{L}\\p{N}]?((?=[\\p{L}])([^a-z]))+((?=[\\p{L}])([^A-Z]))*|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*|' +
  '\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+';

interface PreTokenizerGroup {
  names: string[];
  regexes: string[];
  ignoreMerges?: boolean;
  /** llama.cpp's add_bos default for the group (tokenizer.ggml.add_bos_token overrides it) */
  addBos?: boolean;
}

const GROUPS: PreTokenizerGroup[] = [
  // what llama.cpp uses when `pre` is absent or 'default'
  { names: ['default'], regexes: ['[\\p{P}\\$\\+<=>\\^~\\|]+', GPT2, '\\p{N}+', '[0-9][0-9][0-9]'] },
  { names: ['gpt-2', 'phi-2', 'mpt', 'olmo', 'jais', 'trillion', 'exaone4'], regexes: [GPT2] },
  { names: ['smollm', 'starcoder', 'refact', 'command-r', 'codeshell', 'exaone', 'minerva-7b'], regexes: ['\\p{N}', GPT2] },
  { names: ['llama3', 'llama-v3', 'llama-bpe', 'falcon3', 'pixtral'], regexes: [LLAMA3], ignoreMerges: true, addBos: true },
  { names: ['dbrx', 'smaug-bpe'], regexes: [LLAMA3] },
  { names: ['qwen2', 'stablelm2', 'deepseek-r1-qwen', 'megrez'], regexes: [QWEN2] },
  { names: ['deepseek-coder'], regexes: ['[\\r\\n]', '\\s?\\p{L}+', '\\s?\\p{P}+', '[一-龥ࠀ-一가-퟿]+', '\\p{N}'] },
  { names: ['tekken'], regexes: [TEKKEN], ignoreMerges: true, addBos: true },
];

export interface PreTokenization {
  preTokenizer: Record<string, unknown>;
  ignoreMerges: boolean;
  addBos: boolean;
}

export const SUPPORTED_PRE_TOKENIZERS: readonly string[] = GROUPS.flatMap((g) => g.names);

/** The tokenizer.json pre-tokenizer (and BPE options) for a GGUF `tokenizer.ggml.pre` value. */
export function ggufPreTokenizer(pre: string | undefined, file: string): PreTokenization {
  const group = GROUPS.find((g) => g.names.includes(pre ?? 'default'));
  if (!group) {
    throw unsupported(`${file}: GGUF pre-tokenizer '${pre}' is not supported (supported: ${SUPPORTED_PRE_TOKENIZERS.join(', ')})`);
  }
  return {
    preTokenizer: {
      type: 'Sequence',
      pretokenizers: [
        ...group.regexes.map((regex) => ({ type: 'Split', pattern: { Regex: regex }, behavior: 'Isolated', invert: false })),
        { type: 'ByteLevel', add_prefix_space: false, trim_offsets: true, use_regex: false },
      ],
    },
    ignoreMerges: group.ignoreMerges ?? false,
    addBos: group.addBos ?? false,
  };
}
