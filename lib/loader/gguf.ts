/**
 * Opens a GGUF file as a ModelSource: the same description a Hugging Face directory gives (spec, tensors by
 * Hugging Face name with absolute file offsets, tokenizer.json, chat template, generation defaults), so
 * everything after loading is shared between the two formats. openModel() sends '.gguf' paths here.
 */
import * as path from 'path';
import { ChatTemplate } from '../tokenizer/chat-template';
import { ggufTokenizer, type TokenizerFiles } from '../tokenizer/gguf-tokenizer';
import { GgufMeta } from './gguf-metadata';
import { ggufModel } from './gguf-model';
import { readGguf } from './gguf-reader';
import type { ModelSource } from './types';

export { readGguf } from './gguf-reader';
export type { GgufFile, GgufTensorInfo, GgufValue } from './gguf-reader';

export async function openGguf(file: string): Promise<ModelSource> {
  const gguf = await readGguf(path.resolve(file));
  const { spec, tensors } = ggufModel(gguf);
  const meta = new GgufMeta(gguf);
  const tokenizer = ggufTokenizer(meta);
  const chatTemplate = meta.string('tokenizer.chat_template');

  // the chat template's end-of-turn token stops generation too, when it is not EOS already
  if (chatTemplate !== undefined && tokenizer) {
    const eot = endOfTurnId(chatTemplate, tokenizer);
    if (eot !== undefined && !spec.eosTokenIds.includes(eot)) spec.eosTokenIds.push(eot);
  }
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

/** The id of the special token that closes an assistant turn in this template, if any. */
function endOfTurnId(template: string, tokenizer: TokenizerFiles): number | undefined {
  const special = new Map<string, number>();
  for (const t of tokenizer.json.added_tokens as Array<{ id: number; content: string; special: boolean }>) {
    if (t.special) special.set(t.content, t.id);
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const token = new ChatTemplate(template).endOfTurn(special.keys(), {
    bosToken: str(tokenizer.config.bos_token),
    eosToken: str(tokenizer.config.eos_token),
  });
  return token === undefined ? undefined : special.get(token);
}
