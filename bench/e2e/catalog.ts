/**
 * The models the end-to-end benchmark runs and how each engine gets them: the real small models from
 * ../shared/models, random-weight models with real shapes (made on demand, bench/models/make-random.ts), and
 * GGUF files written from the same safetensors for node-llama-cpp (bench/peers/hf-to-gguf.ts), cached in
 * bench/.cache/gguf. `runs` says which runs include a model: 'quick' ones are in every run, 'full' ones only
 * without --quick.
 */
import { existsSync, mkdirSync, readFileSync, renameSync } from 'fs';
import { join } from 'path';
import { makeRandomModel, RandomDType } from '../models/make-random';
import { makeRandomGguf } from '../models/random-gguf';
import { shapeByName } from '../models/shapes';
import { convertHfToGguf } from '../peers/hf-to-gguf';
import { CACHE_DIR, SHARED_MODELS } from './paths';
import type { Device, EngineName } from './types';

export type RunSize = 'quick' | 'full';

export interface PeerEntry {
  engine: EngineName;
  devices: Device[];
  /** the file or directory this peer loads */
  path: () => Promise<string>;
  /** in quick runs too (default: only as the model is) */
  fullOnly?: boolean;
}

export interface CatalogEntry {
  id: string;
  kind: 'encoder' | 'decoder';
  /** storage of the weights gpuformer loads ('f32', 'f16', 'q4_1'); on CUDA gpuformer and PyTorch run f16 */
  weights: string;
  /** what it is, for the report */
  about: string;
  runs: Partial<Record<Device, RunSize>>;
  /** what gpuformer loads */
  path: () => Promise<string>;
  peers: PeerEntry[];
  vocabSize: () => number;
  /**
   * Devices where a full run gives this model the quick run's sizes (batch ≤ 32, prefill 128, 32 decode
   * tokens, 1 and 8 streams) with the full repetition policy: on 2 CPU cores a full-size pass over a BERT-base,
   * a 124M f32 / 135M f16 decoder or a 1B model takes minutes each, longer than the rest of the run together.
   */
  reduced?: Device[];
  /** the longest context its scenarios may use */
  maxModelLen: number;
  tokenizerDir?: () => string;
}

const MINILM = join(SHARED_MODELS, 'all-MiniLM-L6-v2');
const SMOLLM2_GGUF = join(SHARED_MODELS, 'SmolLM2-135M-Instruct-GGUF', 'SmolLM2-135M-Instruct.Q4_1.gguf');
const LLAMA2C = join(SHARED_MODELS, 'llama2c-260K');

const log = (m: string) => process.stderr.write(`  ${m}\n`);

/** A GGUF of a model directory for llama.cpp, written once into bench/.cache/gguf. */
export async function ggufOf(dir: string, name: string, type: 'F32' | 'F16'): Promise<string> {
  const out = join(CACHE_DIR, 'gguf', `${name}-${type.toLowerCase()}.gguf`);
  if (existsSync(out)) return out;
  mkdirSync(join(CACHE_DIR, 'gguf'), { recursive: true });
  log(`writing ${out} from ${dir}`);
  await convertHfToGguf(dir, `${out}.partial`, type);
  renameSync(`${out}.partial`, out);
  return out;
}

const random = (shape: string, dtype: RandomDType) => async () => makeRandomModel(shape, dtype, undefined, log);
const vocabOf = (dir: () => string) => () => JSON.parse(readFileSync(join(dir(), 'config.json'), 'utf8')).vocab_size as number;

function randomDecoder(shape: string, dtype: RandomDType, like: string, runs: CatalogEntry['runs'], maxModelLen = 1024,
  reduced?: Device[]): CatalogEntry {
  const dir = random(shape, dtype);
  const type = dtype === 'f32' ? 'F32' : 'F16';
  return {
    id: `${shape} (random, ${dtype})`, kind: 'decoder', weights: dtype, runs, maxModelLen, reduced,
    about: `random weights in the shape of ${like}`,
    path: dir,
    peers: [
      { engine: 'node-llama-cpp', devices: ['cpu', 'cuda'], path: async () => ggufOf(await dir(), shape, type) },
      { engine: 'pytorch', devices: ['cuda'], path: dir },
    ],
    vocabSize: () => shapeByName(shape).config.vocab_size as number,
  };
}

/** A random-weight GGUF in a block format (bench/models/random-gguf.ts): the quantized decode path on its own bytes. */
function randomGgufDecoder(shape: string, type: 'q8_0' | 'q4_0' | 'q4_1', like: string, runs: CatalogEntry['runs'], maxModelLen: number): CatalogEntry {
  const file = async () => makeRandomGguf(shape, type, undefined, log);
  return {
    id: `${shape} (random, ${type} GGUF)`, kind: 'decoder', weights: type, runs, maxModelLen,
    about: `random weights in the shape of ${like}, quantized to ${type.toUpperCase()} by the project's quantizer`,
    path: file,
    peers: [{ engine: 'node-llama-cpp', devices: ['cpu', 'cuda'], path: file }],
    vocabSize: () => shapeByName(shape).config.vocab_size as number,
  };
}

export const CATALOG: CatalogEntry[] = [
  {
    id: 'all-MiniLM-L6-v2', kind: 'encoder', weights: 'f32', runs: { cpu: 'quick', cuda: 'quick' }, maxModelLen: 256,
    about: 'sentence-transformers/all-MiniLM-L6-v2 (real weights; BERT, 6 layers, hidden 384)',
    path: async () => MINILM,
    peers: [
      { engine: 'transformers.js', devices: ['cpu'], path: async () => MINILM },
      { engine: 'node-llama-cpp', devices: ['cpu'], path: () => ggufOf(MINILM, 'all-MiniLM-L6-v2', 'F32'), fullOnly: true },
      { engine: 'pytorch', devices: ['cuda'], path: async () => MINILM },
    ],
    vocabSize: vocabOf(() => MINILM),
    tokenizerDir: () => MINILM,
  },
  {
    // the same model in gpuformer's CPU bf16 mode (issue 14), against the peers' f32
    id: 'all-MiniLM-L6-v2 bf16', kind: 'encoder', weights: 'bf16', runs: { cpu: 'full' }, maxModelLen: 256,
    about: 'all-MiniLM-L6-v2 loaded by gpuformer with dtype bfloat16 (bf16 weights and matmul inputs, f32 sums); peers in f32',
    path: async () => MINILM,
    peers: [{ engine: 'transformers.js', devices: ['cpu'], path: async () => MINILM }],
    vocabSize: vocabOf(() => MINILM),
    tokenizerDir: () => MINILM,
  },
  {
    id: 'bert-base (random, f32)', kind: 'encoder', weights: 'f32', runs: { cpu: 'full', cuda: 'quick' }, maxModelLen: 256, reduced: ['cpu'],
    about: 'random weights in the shape of bert-base-uncased (12 layers, hidden 768), MiniLM\'s vocabulary',
    path: random('bert-base', 'f32'),
    peers: [
      { engine: 'node-llama-cpp', devices: ['cpu'], path: async () => ggufOf(makeRandomModel('bert-base', 'f32', undefined, log), 'bert-base', 'F32') },
      { engine: 'pytorch', devices: ['cuda'], path: random('bert-base', 'f32') },
    ],
    vocabSize: () => 30522,
    tokenizerDir: () => makeRandomModel('bert-base', 'f32', undefined, log),
  },
  {
    id: 'SmolLM2-135M-Instruct Q4_1', kind: 'decoder', weights: 'q4_1', runs: { cpu: 'quick', cuda: 'quick' }, maxModelLen: 1024,
    about: 'the real SmolLM2-135M-Instruct GGUF (Q4_1 matrices, Q8_0 embeddings): both engines load the very same file',
    path: async () => SMOLLM2_GGUF,
    peers: [{ engine: 'node-llama-cpp', devices: ['cpu', 'cuda'], path: async () => SMOLLM2_GGUF }],
    // the GGUF's tokenizer.ggml.tokens (../shared/models/README.md)
    vocabSize: () => 49152,
  },
  {
    id: 'llama2c-260K', kind: 'decoder', weights: 'f32', runs: { cpu: 'quick' }, maxModelLen: 512,
    about: 'a real trained 260K-parameter llama (llama2.c stories260K): per-step overhead dominates',
    path: async () => LLAMA2C,
    peers: [{ engine: 'node-llama-cpp', devices: ['cpu'], path: () => ggufOf(LLAMA2C, 'llama2c-260K', 'F32') }],
    vocabSize: vocabOf(() => LLAMA2C),
  },
  randomDecoder('gpt2-124m', 'f32', 'GPT-2 124M', { cpu: 'quick', cuda: 'quick' }, 1024, ['cpu']),
  randomDecoder('smollm2-135m', 'f16', 'SmolLM2-135M (llama, GQA 9:3)', { cpu: 'full' }, 1024, ['cpu']),
  randomDecoder('llama-3.2-1b', 'f16', 'Llama-3.2-1B', { cpu: 'full', cuda: 'quick' }, 2048, ['cpu']),
  randomDecoder('llama-7b', 'f16', 'Llama-2-7B', { cuda: 'full' }, 4096),
  randomGgufDecoder('llama-7b', 'q4_0', 'Llama-2-7B', { cuda: 'full' }, 4096),
  randomGgufDecoder('llama-7b', 'q8_0', 'Llama-2-7B', { cuda: 'full' }, 4096),
];

/** The models of a run, optionally narrowed to ids containing one of `only` (case-insensitive). */
export function selectModels(device: Device, size: RunSize, only?: string[]): CatalogEntry[] {
  return CATALOG.filter((m) => {
    const r = m.runs[device];
    if (only && only.length) return r !== undefined && only.some((o) => m.id.toLowerCase().includes(o.toLowerCase()));
    return r === 'quick' || (r === 'full' && size === 'full');
  });
}
