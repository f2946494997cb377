/**
 * Opens a Hugging Face model directory as a ModelSource: config.json → ModelSpec, the safetensors
 * checkpoint (single file or shards) → tensor sources checked against the config, and the files around
 * them: tokenizer.json (+ tokenizer_config.json and its chat template), generation_config.json, and for
 * sentence-transformers models modules.json, the pooling module's config and sentence_bert_config.json.
 * Nothing here reads tensor bytes. Pickle checkpoints are refused with the command that converts them.
 */
import { promises as fsp } from 'fs';
import * as path from 'path';
import { badWeights, unsupported } from '../errors';
import type { ModelSpec } from '../core/spec';
import type { ModelSource, TensorSource } from '../core/source';
import { dtypeNbytes } from '../core/dtype';
import type { DType } from '../native';
import { readConfig, scoreActivation, specFromConfig } from './config';
import { readSafetensorsTensors, readShardedSafetensors } from './safetensors';
import { endOfGenerationIds } from './end-of-generation';
import { checkTensorsAgainstSpec, expectedTensors } from './shapes';

const exists = async (p: string) => fsp.access(p).then(() => true, () => false);

/** Reads an optional JSON file: undefined when absent, ERR_GPUFORMER_BAD_WEIGHTS when present but broken. */
async function readJsonIfPresent(file: string): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    const v = JSON.parse(text);
    if (v === null || typeof v !== 'object') throw new Error('not a JSON object or array');
    return v as Record<string, unknown>;
  } catch (e) {
    throw badWeights(`${file} is not valid JSON: ${(e as Error).message}`);
  }
}

const PICKLE_CHECKPOINT = /^(pytorch_model.*\.bin|.*\.(pt|pth|ckpt))$/;

/** The checkpoint's tensors: sharded index first, then model.safetensors, then a lone *.safetensors. */
async function readCheckpoint(dir: string): Promise<Map<string, TensorSource>> {
  const index = path.join(dir, 'model.safetensors.index.json');
  if (await exists(index)) return readShardedSafetensors(index);
  const single = path.join(dir, 'model.safetensors');
  if (await exists(single)) return readSafetensorsTensors(single);

  const files = await fsp.readdir(dir);
  const safetensors = files.filter((f) => f.endsWith('.safetensors'));
  if (safetensors.length === 1) return readSafetensorsTensors(path.join(dir, safetensors[0]));
  if (safetensors.length > 1) {
    throw badWeights(`${dir} has several .safetensors files (${safetensors.join(', ')}) but no model.safetensors.index.json ` +
      'saying which tensor is where');
  }
  const pickles = files.filter((f) => PICKLE_CHECKPOINT.test(f));
  if (pickles.length > 0) {
    throw unsupported(`${dir} holds a pickle checkpoint (${pickles.join(', ')}); gpuformer reads only safetensors, ` +
      'because unpickling runs arbitrary code. Convert it once with Python:\n' +
      `  python -c "from transformers import AutoModel; m = AutoModel.from_pretrained('${dir}'); ` +
      `m.save_pretrained('${dir}', safe_serialization=True)"\n` +
      '(use AutoModelForCausalLM for text generators so the LM head is kept)');
  }
  throw badWeights(`${dir} has no weights: expected model.safetensors, or model.safetensors.index.json with its shards`);
}

/**
 * The dtype the checkpoint's float weights are stored in, by bytes (configs may omit or misstate
 * torch_dtype; the tensors are the truth).
 */
function storedFloatDtype(tensors: Map<string, TensorSource>): ModelSpec['checkpointDtype'] {
  const bytes: Record<string, number> = { f32: 0, f16: 0, bf16: 0 };
  for (const t of tensors.values()) if (t.dtype in bytes) bytes[t.dtype] += t.nbytes;
  const [best, n] = Object.entries(bytes).sort((a, b) => b[1] - a[1])[0];
  if (n === 0) return undefined;
  return ({ f32: 'float32', f16: 'float16', bf16: 'bfloat16' } as Record<string, string>)[best];
}

/** sentence-transformers pipeline: modules.json → pooling module → its config; a Normalize module. */
async function readSentenceTransformers(dir: string): Promise<Pick<ModelSource, 'pooling' | 'maxSeqLength'>> {
  const out: Pick<ModelSource, 'pooling' | 'maxSeqLength'> = {};
  const st = await readJsonIfPresent(path.join(dir, 'sentence_bert_config.json'));
  if (st && typeof st.max_seq_length === 'number' && Number.isInteger(st.max_seq_length) && st.max_seq_length > 0) {
    out.maxSeqLength = st.max_seq_length;
  }
  const modules = await readJsonIfPresent(path.join(dir, 'modules.json'));
  if (!modules) return out;
  if (!Array.isArray(modules)) throw badWeights(`${path.join(dir, 'modules.json')} must be a list of modules`);
  const typed = modules as Array<{ type?: unknown; path?: unknown }>;
  const poolingModule = typed.find((m) => typeof m.type === 'string' && m.type.endsWith('.Pooling'));
  const normalize = typed.some((m) => typeof m.type === 'string' && m.type.endsWith('.Normalize'));
  if (!poolingModule) return out;
  const poolingDir = typeof poolingModule.path === 'string' ? poolingModule.path : '1_Pooling';
  const configFile = path.join(dir, poolingDir, 'config.json');
  const cfg = await readJsonIfPresent(configFile);
  if (!cfg) throw badWeights(`modules.json names a pooling module in '${poolingDir}', but ${configFile} is missing`);
  const POOLING_MODES: Record<string, 'mean' | 'cls' | 'last'> = {
    pooling_mode_mean_tokens: 'mean', pooling_mode_cls_token: 'cls', pooling_mode_lasttoken: 'last',
  };
  const asked = Object.keys(cfg).filter((k) => k.startsWith('pooling_mode_') && cfg[k] === true);
  const mode = asked.length === 1 ? POOLING_MODES[asked[0]] : undefined;
  if (!mode) {
    throw unsupported(`${configFile}: pooling ${asked.join(' + ') || '(none set)'} is not supported; gpuformer pools with ` +
      'exactly one of pooling_mode_mean_tokens, pooling_mode_cls_token, pooling_mode_lasttoken');
  }
  out.pooling = { mode, normalize };
  return out;
}

/**
 * Where a directory's tensors come from: its checkpoint files (what loading needs), or, to plan a model
 * without its weights (gpuformer inspect), config.json's shapes or the hub's safetensors headers.
 */
export interface Checkpoint {
  tensors(dir: string, spec: ModelSpec): Promise<Map<string, TensorSource>>;
  /** set when the tensors are not in files here (ModelSource.planOnly) */
  planOnly?: ModelSource['planOnly'];
}

/** The checkpoint files of the directory (safetensors, single or sharded). */
export const LOCAL_CHECKPOINT: Checkpoint = { tensors: (dir) => readCheckpoint(dir) };

const STORED_DTYPE: Record<string, DType> = { float32: 'f32', float16: 'f16', bfloat16: 'bf16' };

/**
 * The tensors config.json implies, in its torch_dtype (float32 when it names none), for a directory that
 * holds no weights: enough to plan a model before downloading it.
 */
export const CONFIG_SHAPES: Checkpoint = {
  planOnly: 'config',
  tensors: async (dir, spec) => {
    const dtype = STORED_DTYPE[spec.checkpointDtype ?? 'float32'];
    const tensors = expectedTensors(spec).filter((e) => e.required).map((e): TensorSource => ({
      name: e.name, file: path.join(dir, 'config.json'), offset: 0, dtype, shape: e.shape, nbytes: dtypeNbytes(dtype, e.shape.reduce((a, b) => a * b, 1)),
    }));
    return new Map(tensors.map((t) => [t.name, t]));
  },
};

/** Whether a directory holds any safetensors file (an index alone, as a metadata-only download leaves, is none). */
export async function hasSafetensors(dir: string): Promise<boolean> {
  return (await fsp.readdir(dir)).some((f) => f.endsWith('.safetensors'));
}

/** Opens a Hugging Face model directory (see the file comment); its tensors from `checkpoint` (default: its files). */
export async function openModelDirectory(dirPath: string, checkpoint: Checkpoint = LOCAL_CHECKPOINT): Promise<ModelSource> {
  const dir = path.resolve(dirPath);
  const config = await readConfig(dir);
  const spec = specFromConfig(config, path.join(dir, 'config.json'));
  const sentenceTransformers = await readSentenceTransformers(dir);
  // a classifier checkpoint inside a sentence-transformers pipeline embeds (the pipeline pools); alone, it
  // is a cross-encoder and scores with its head
  if (sentenceTransformers.pooling) delete spec.numLabels;
  const tensors = await checkpoint.tensors(dir, spec);
  checkTensorsAgainstSpec(spec, tensors, dir);
  spec.checkpointDtype = storedFloatDtype(tensors) ?? spec.checkpointDtype;

  const source: ModelSource = { format: 'safetensors', path: dir, spec, tensors, ...sentenceTransformers };
  if (checkpoint.planOnly) source.planOnly = checkpoint.planOnly;
  if (spec.numLabels !== undefined) source.scoreActivation = scoreActivation(config, spec.numLabels, path.join(dir, 'config.json'));
  const tokenizerJson = await readJsonIfPresent(path.join(dir, 'tokenizer.json'));
  if (tokenizerJson) {
    const tokenizerConfig = await readJsonIfPresent(path.join(dir, 'tokenizer_config.json'));
    source.tokenizer = tokenizerConfig ? { json: tokenizerJson, config: tokenizerConfig } : { json: tokenizerJson };
    const template = await chatTemplate(dir, tokenizerConfig);
    if (template !== undefined) source.chatTemplate = template;
  }
  const generationConfig = await readJsonIfPresent(path.join(dir, 'generation_config.json'));
  if (generationConfig) source.generationConfig = generationConfig;
  spec.eosTokenIds = endOfGenerationIds(source);
  return source;
}

/**
 * The chat template: tokenizer_config.json's chat_template (a string, or a list of named templates whose
 * 'default' is used), else a chat_template.jinja file beside it (newer transformers save it there).
 */
async function chatTemplate(dir: string, tokenizerConfig: Record<string, unknown> | undefined): Promise<string | undefined> {
  const t = tokenizerConfig?.chat_template;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t as Array<{ name?: unknown; template?: unknown }>;
    const def = named.find((x) => x.name === 'default') ?? named[0];
    if (def && typeof def.template === 'string') return def.template;
  }
  try {
    return await fsp.readFile(path.join(dir, 'chat_template.jinja'), 'utf8');
  } catch {
    return undefined;
  }
}
