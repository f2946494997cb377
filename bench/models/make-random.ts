/**
 * Random-weight Hugging Face model directories with the shapes of real models (bench/models/shapes.ts):
 * config.json, model.safetensors (f32 or f16), generation_config.json, and a tokenizer (MiniLM's for the
 * BERT shapes, a synthetic byte-level BPE for the decoders). Written into bench/.cache/models/<name>-<dtype>
 * (git-ignored) on demand; a directory is reused once complete.
 *
 *   node bench/.cache/build/bench/models/make-random.js NAME [--dtype f32|f16] [--out DIR]
 *   node bench/.cache/build/bench/models/make-random.js --list
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'fs';
import { join } from 'path';
import { rng } from '../../test/helpers/random';
import { CACHE_DIR, SHARED_MODELS } from '../e2e/paths';
import { f32ToF16Bits } from './f16';
import { writeSafetensors } from './safetensors';
import { parameterCount, RandomShape, SHAPES, shapeByName, tensorShapes, TensorShape } from './shapes';
import { syntheticVocab, tokenizerJson } from './synthetic-vocab';

export type RandomDType = 'f32' | 'f16';

/** Weights uniform in ±0.02·√3 (standard deviation 0.02, the usual initializer range). */
const SPREAD = 0.02 * Math.sqrt(3);
const CHUNK = 1 << 20;

function* tensorChunks(t: TensorShape, dtype: RandomDType, seed: number): Generator<Uint8Array> {
  const n = t.shape.reduce((a, b) => a * b, 1);
  const rand = rng(seed);
  const value = t.init === 'ones' ? () => 1 : t.init === 'zeros' ? () => 0 : () => (2 * rand() - 1) * SPREAD;
  for (let start = 0; start < n; start += CHUNK) {
    const len = Math.min(CHUNK, n - start);
    if (dtype === 'f32') {
      const a = new Float32Array(len);
      for (let i = 0; i < len; i++) a[i] = value();
      yield new Uint8Array(a.buffer);
    } else {
      const a = new Uint16Array(len);
      for (let i = 0; i < len; i++) a[i] = f32ToF16Bits(value());
      yield new Uint8Array(a.buffer);
    }
  }
}

export function randomModelDir(name: string, dtype: RandomDType): string {
  return join(CACHE_DIR, 'models', `${name}-${dtype}`);
}

/** Makes (or reuses) the directory; returns its path. */
export function makeRandomModel(name: string, dtype: RandomDType, outDir = randomModelDir(name, dtype), log = (_: string) => {}): string {
  const shape = shapeByName(name);
  const marker = join(outDir, '.complete');
  if (existsSync(marker)) return outDir;
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  log(`making ${outDir}: random ${shape.like} shape, ${(parameterCount(shape) / 1e6).toFixed(0)}M parameters, ${dtype}`);
  const config = { ...shape.config, torch_dtype: dtype === 'f32' ? 'float32' : 'float16' };
  writeFileSync(join(outDir, 'config.json'), JSON.stringify(config, null, 2));
  writeTokenizer(shape, outDir);
  const tensors = tensorShapes(shape);
  writeSafetensors(join(outDir, 'model.safetensors'), tensors.map((t, i) => ({
    name: t.name, dtype: dtype === 'f32' ? 'F32' : 'F16', shape: t.shape,
    chunks: () => tensorChunks(t, dtype, 1000 + i),
  })));
  writeFileSync(marker, JSON.stringify({ shape: shape.name, dtype, parameters: parameterCount(shape) }));
  return outDir;
}

function writeTokenizer(shape: RandomShape, dir: string): void {
  const c = shape.config as Record<string, number>;
  if (shape.tokenizer === 'minilm') {
    const src = join(SHARED_MODELS, 'all-MiniLM-L6-v2');
    for (const f of ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'vocab.txt', 'modules.json', 'sentence_bert_config.json']) {
      copyFileSync(join(src, f), join(dir, f));
    }
    mkdirSync(join(dir, '1_Pooling'), { recursive: true });
    const pooling = JSON.parse(readFileSync(join(src, '1_Pooling', 'config.json'), 'utf8'));
    writeFileSync(join(dir, '1_Pooling', 'config.json'), JSON.stringify({ ...pooling, word_embedding_dimension: c.hidden_size }, null, 2));
    return;
  }
  const v = syntheticVocab(c.vocab_size, c.bos_token_id, c.eos_token_id);
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson(v)));
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({
    tokenizer_class: 'PreTrainedTokenizerFast', bos_token: v.tokens[v.bosId], eos_token: v.tokens[v.eosId],
    add_bos_token: false, model_max_length: c.max_position_embeddings ?? c.n_positions,
  }, null, 2));
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ bos_token_id: v.bosId, eos_token_id: v.eosId }, null, 2));
}

function main(): void {
  const args = process.argv.slice(2);
  if (args[0] === '--list' || args.length === 0) {
    for (const s of SHAPES) console.log(`${s.name.padEnd(14)} ${(parameterCount(s) / 1e6).toFixed(0).padStart(6)}M  like ${s.like}${s.gpuOnly ? ' (GPU runs only)' : ''}`);
    return;
  }
  const opt = (flag: string, dflt: string) => { const i = args.indexOf(flag); return i >= 0 ? args.splice(i, 2)[1] : dflt; };
  const dtype = opt('--dtype', 'f32') as RandomDType;
  const out = opt('--out', '');
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`--dtype must be f32 or f16, got ${dtype}`);
  for (const name of args) console.log(makeRandomModel(name, dtype, out || randomModelDir(name, dtype), console.log));
}

if (require.main === module) main();
