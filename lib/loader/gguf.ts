/**
 * Opens a GGUF file as a ModelSource: the same description a Hugging Face directory gives (spec, tensors by
 * Hugging Face name with absolute file offsets, tokenizer.json, chat template, generation defaults), so
 * everything after loading is shared between the two formats. openModel() sends '.gguf' paths here.
 */
import * as path from 'path';
import type { ModelSource } from '../core/source';
import { endOfGenerationIds } from './end-of-generation';
import { ggufTokenizer } from './gguf-tokenizer';
import { GgufMeta } from './gguf-metadata';
import { ggufModel } from './gguf-model';
import { GgufFile, readGguf } from './gguf-reader';

export { readGguf } from './gguf-reader';
export type { GgufFile, GgufTensorInfo, GgufValue } from './gguf-reader';

export async function openGguf(file: string): Promise<ModelSource> {
  return ggufSource(await readGguf(path.resolve(file)));
}

/** The ModelSource of a parsed GGUF file (local, or read remotely for planning). */
export function ggufSource(gguf: GgufFile): ModelSource {
  const { spec, tensors } = ggufModel(gguf);
  const meta = new GgufMeta(gguf);
  const tokenizer = ggufTokenizer(meta);
  const chatTemplate = meta.string('tokenizer.chat_template');

  spec.eosTokenIds = endOfGenerationIds({ spec, chatTemplate, tokenizer });
  // tokenizer_config.json and generation_config.json as transformers would save them for this model
  if (tokenizer) tokenizer.config.eos_token_ids = [...spec.eosTokenIds];

  const generationConfig: Record<string, unknown> = {
    ...(spec.bosTokenId !== undefined ? { bos_token_id: spec.bosTokenId } : {}),
    eos_token_id: [...spec.eosTokenIds],
    ...(spec.padTokenId !== undefined ? { pad_token_id: spec.padTokenId } : {}),
  };
  return {
    format: 'gguf',
    path: gguf.path,
    spec,
    tensors,
    ...(tokenizer ? { tokenizer } : {}),
    ...(chatTemplate !== undefined ? { chatTemplate } : {}),
    generationConfig,
  };
}
