/**
 * The tensors each family's checkpoint must hold, with the shape config.json implies for each, and the
 * check that a checkpoint agrees: a required tensor missing, or a shape that disagrees with the config,
 * is ERR_GPUFORMER_BAD_WEIGHTS naming the tensor and both shapes, before any byte is loaded. Names are
 * the checkpoint's own (Hugging Face); the prefix ('model.', 'transformer.', 'bert.' or none) is found
 * from the names present, as lib/models/weights.ts does.
 */
import { badWeights } from '../errors';
import type { ModelSpec } from '../core/spec';
import type { TensorSource } from '../core/source';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** false: may be absent (optional biases, an lm_head of a tied model); checked when present */
  required: boolean;
}

function pickPrefix(names: ReadonlySet<string>, candidates: string[], probe: string): string {
  return candidates.find((p) => names.has(p + probe)) ?? candidates[0];
}

/**
 * The tensors a model of this spec has. `names` (the checkpoint's tensor names) only decides the prefix
 * and whether an untied Llama head is present; pass an empty set for a checkpoint-free description
 * (the planner does, to size a model from config.json alone).
 */
export function expectedTensors(spec: ModelSpec, names: ReadonlySet<string> = new Set()): ExpectedTensor[] {
  const out: ExpectedTensor[] = [];
  const req = (name: string, shape: number[]) => out.push({ name, shape, required: true });
  const opt = (name: string, shape: number[]) => out.push({ name, shape, required: false });
  const { vocabSize: V, hiddenSize: C, numLayers: L, numHeads: Hq, numKvHeads: Hkv, headDim: D, intermediateSize: F } = spec;

  if (spec.family === 'llama') {
    const p = pickPrefix(names, ['model.', ''], 'embed_tokens.weight');
    req(`${p}embed_tokens.weight`, [V, C]);
    for (let i = 0; i < L; i++) {
      const l = `${p}layers.${i}.`;
      req(`${l}input_layernorm.weight`, [C]);
      const qkv: Array<[string, number]> = [['q_proj', Hq * D], ['k_proj', Hkv * D], ['v_proj', Hkv * D]];
      for (const [proj, rows] of qkv) {
        req(`${l}self_attn.${proj}.weight`, [rows, C]);
        (spec.attentionBias ? req : opt)(`${l}self_attn.${proj}.bias`, [rows]);
      }
      req(`${l}self_attn.o_proj.weight`, [C, Hq * D]);
      (spec.mlpBias ? req : opt)(`${l}self_attn.o_proj.bias`, [C]);
      req(`${l}post_attention_layernorm.weight`, [C]);
      for (const [proj, shape] of [['gate_proj', [F, C]], ['up_proj', [F, C]], ['down_proj', [C, F]]] as const) {
        req(`${l}mlp.${proj}.weight`, [...shape]);
        (spec.mlpBias ? req : opt)(`${l}mlp.${proj}.bias`, [shape[0]]);
      }
    }
    req(`${p}norm.weight`, [C]);
    (spec.tieWordEmbeddings ? opt : req)('lm_head.weight', [V, C]);
    return out;
  }

  if (spec.family === 'gpt2') {
    const p = pickPrefix(names, ['transformer.', ''], 'wte.weight');
    req(`${p}wte.weight`, [V, C]);
    req(`${p}wpe.weight`, [spec.maxPositionEmbeddings, C]);
    for (let i = 0; i < L; i++) {
      const l = `${p}h.${i}.`;
      // Conv1D stores [in, out]
      const convs: Array<[string, number, number]> = [['attn.c_attn', C, 3 * C], ['attn.c_proj', C, C], ['mlp.c_fc', C, F], ['mlp.c_proj', F, C]];
      for (const ln of ['ln_1', 'ln_2']) {
        req(`${l}${ln}.weight`, [C]);
        req(`${l}${ln}.bias`, [C]);
      }
      for (const [conv, nIn, nOut] of convs) {
        req(`${l}${conv}.weight`, [nIn, nOut]);
        req(`${l}${conv}.bias`, [nOut]);
      }
    }
    req(`${p}ln_f.weight`, [C]);
    req(`${p}ln_f.bias`, [C]);
    (spec.tieWordEmbeddings ? opt : req)('lm_head.weight', [V, C]);
    return out;
  }

  const p = pickPrefix(names, ['', 'bert.'], 'embeddings.word_embeddings.weight');
  req(`${p}embeddings.word_embeddings.weight`, [V, C]);
  req(`${p}embeddings.position_embeddings.weight`, [spec.maxPositionEmbeddings, C]);
  if ((spec.typeVocabSize ?? 0) > 0) req(`${p}embeddings.token_type_embeddings.weight`, [spec.typeVocabSize!, C]);
  req(`${p}embeddings.LayerNorm.weight`, [C]);
  req(`${p}embeddings.LayerNorm.bias`, [C]);
  for (let i = 0; i < L; i++) {
    const l = `${p}encoder.layer.${i}.`;
    const linears: Array<[string, number, number]> = [
      ['attention.self.query', Hq * D, C], ['attention.self.key', Hq * D, C], ['attention.self.value', Hq * D, C],
      ['attention.output.dense', C, Hq * D], ['intermediate.dense', F, C], ['output.dense', C, F],
    ];
    for (const [lin, nOut, nIn] of linears) {
      req(`${l}${lin}.weight`, [nOut, nIn]);
      req(`${l}${lin}.bias`, [nOut]);
    }
    for (const ln of ['attention.output.LayerNorm', 'output.LayerNorm']) {
      req(`${l}${ln}.weight`, [C]);
      req(`${l}${ln}.bias`, [C]);
    }
  }
  if (spec.numLabels !== undefined) {
    // BertForSequenceClassification: the pooler inside the encoder's prefix, the classifier outside it
    req(`${p}pooler.dense.weight`, [C, C]);
    req(`${p}pooler.dense.bias`, [C]);
    req('classifier.weight', [spec.numLabels, C]);
    req('classifier.bias', [spec.numLabels]);
  }
  return out;
}

const sameShape = (a: number[], b: number[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/** Checks a checkpoint against its config: every required tensor present, every expected tensor the right shape. */
export function checkTensorsAgainstSpec(spec: ModelSpec, tensors: Map<string, TensorSource>, where: string): void {
  const names = new Set(tensors.keys());
  for (const e of expectedTensors(spec, names)) {
    const t = tensors.get(e.name);
    if (!t) {
      if (e.required) throw badWeights(`${where}: tensor '${e.name}' [${e.shape}] is missing from the checkpoint (a ${spec.architecture} needs it)`);
      continue;
    }
    if (!sameShape(t.shape, e.shape)) {
      throw badWeights(`${where}: tensor '${e.name}' has shape [${t.shape}], but config.json implies [${e.shape}]`);
    }
  }
}
