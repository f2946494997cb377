/**
 * Which transformer layer a weight belongs to, from its Hugging Face name (model.layers.N., transformer.h.N.,
 * encoder.layer.N.): what an offload split moves (memory/offload.ts plans it, models/offload.ts runs it).
 */

const LAYER = /(^|\.)(layers|h|layer)\.(\d+)\./;

/** The layer index of a weight, or undefined outside the layers (embeddings, final norm, LM head). */
export function layerOf(name: string): number | undefined {
  const m = LAYER.exec(name);
  return m ? Number(m[3]) : undefined;
}

/** The name with its layer index replaced by '*': the same weight of every layer has the same key. */
export function layerKey(name: string): string {
  return name.replace(LAYER, '$1$2.*.');
}
