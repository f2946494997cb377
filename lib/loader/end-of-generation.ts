/**
 * The token ids that end a generation, decided here once for every format, so a model behaves the same
 * whether it came from a Hugging Face directory or a GGUF file: the model's EOS (config.json's
 * eos_token_id; GGUF's eos, eot and eom ids), generation_config.json's eos_token_id, and the special token
 * that closes an assistant turn in the chat template (ChatML's <|im_end|>, Llama 3's <|eot_id|>) where it is
 * not one of those already. generate() and chat() both stop at any of them (as llama.cpp stops at its
 * end-of-generation tokens); ignoreEos stops at none.
 */
import type { ModelSource } from '../core/source';
import { endOfTurnTokenId } from '../tokenizer/chat-template';

export function endOfGenerationIds(source: Pick<ModelSource, 'spec' | 'generationConfig' | 'chatTemplate' | 'tokenizer'>): number[] {
  const ids = new Set<number>(source.spec.eosTokenIds);
  const g = source.generationConfig?.eos_token_id;
  for (const id of Array.isArray(g) ? g : [g]) if (Number.isInteger(id)) ids.add(id as number);
  if (source.chatTemplate !== undefined && source.tokenizer) {
    const eot = endOfTurnTokenId(source.chatTemplate, source.tokenizer);
    if (eot !== undefined) ids.add(eot);
  }
  return [...ids];
}
