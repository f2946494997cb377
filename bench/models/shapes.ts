/**
 * Real models' shapes for random-weight benchmark models: speed depends on the shapes (hidden size, heads,
 * layers, vocabulary), not on the weights' values. Each entry is the Hugging Face config.json of the real
 * model and the tensor names its checkpoints use.
 */

type Config = Record<string, unknown>;

export type Init = 'normal' | 'ones' | 'zeros';

export interface TensorShape {
  name: string;
  shape: number[];
  init: Init;
}

export interface RandomShape {
  name: string;
  /** what it has the shape of */
  like: string;
  kind: 'encoder' | 'decoder';
  config: Config;
  /** encoders reuse MiniLM's WordPiece vocabulary (BERT's uncased 30522 tokens); decoders get a synthetic one */
  tokenizer: 'minilm' | 'synthetic';
  /** too big for the benchmark's CPU runs (made on the GPU machine only) */
  gpuOnly?: boolean;
}

const bertConfig = (hidden: number, layers: number, heads: number, ffn: number): Config => ({
  architectures: ['BertModel'], model_type: 'bert', hidden_size: hidden, num_hidden_layers: layers,
  num_attention_heads: heads, intermediate_size: ffn, hidden_act: 'gelu', layer_norm_eps: 1e-12,
  max_position_embeddings: 512, type_vocab_size: 2, vocab_size: 30522, pad_token_id: 0,
  position_embedding_type: 'absolute', torch_dtype: 'float32',
});

const llamaConfig = (o: { hidden: number; layers: number; heads: number; kvHeads: number; ffn: number; vocab: number;
  maxPos: number; theta: number; tied: boolean; bos: number; eos: number; ropeScaling?: Config }): Config => ({
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: o.hidden, num_hidden_layers: o.layers,
  num_attention_heads: o.heads, num_key_value_heads: o.kvHeads, head_dim: o.hidden / o.heads,
  intermediate_size: o.ffn, hidden_act: 'silu', rms_norm_eps: 1e-5, vocab_size: o.vocab,
  max_position_embeddings: o.maxPos, rope_theta: o.theta, rope_scaling: o.ropeScaling ?? null,
  tie_word_embeddings: o.tied, bos_token_id: o.bos, eos_token_id: o.eos, attention_bias: false, mlp_bias: false,
  torch_dtype: 'float32',
});

export const SHAPES: RandomShape[] = [
  { name: 'minilm-l6', like: 'sentence-transformers/all-MiniLM-L6-v2', kind: 'encoder', tokenizer: 'minilm', config: bertConfig(384, 6, 12, 1536) },
  { name: 'bert-base', like: 'bert-base-uncased', kind: 'encoder', tokenizer: 'minilm', config: bertConfig(768, 12, 12, 3072) },
  {
    name: 'gpt2-124m', like: 'openai-community/gpt2', kind: 'decoder', tokenizer: 'synthetic',
    config: {
      architectures: ['GPT2LMHeadModel'], model_type: 'gpt2', n_embd: 768, n_layer: 12, n_head: 12, n_inner: null,
      n_positions: 1024, n_ctx: 1024, vocab_size: 50257, activation_function: 'gelu_new', layer_norm_epsilon: 1e-5,
      bos_token_id: 50256, eos_token_id: 50256, tie_word_embeddings: true, scale_attn_weights: true, torch_dtype: 'float32',
    },
  },
  {
    name: 'smollm2-135m', like: 'HuggingFaceTB/SmolLM2-135M-Instruct', kind: 'decoder', tokenizer: 'synthetic',
    config: llamaConfig({ hidden: 576, layers: 30, heads: 9, kvHeads: 3, ffn: 1536, vocab: 49152, maxPos: 8192, theta: 100000, tied: true, bos: 1, eos: 2 }),
  },
  {
    name: 'llama-3.2-1b', like: 'meta-llama/Llama-3.2-1B', kind: 'decoder', tokenizer: 'synthetic',
    config: llamaConfig({
      hidden: 2048, layers: 16, heads: 32, kvHeads: 8, ffn: 8192, vocab: 128256, maxPos: 131072, theta: 500000, tied: true,
      bos: 128000, eos: 128001,
      ropeScaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 },
    }),
  },
  {
    name: 'llama-7b', like: 'meta-llama/Llama-2-7b-hf', kind: 'decoder', tokenizer: 'synthetic', gpuOnly: true,
    config: llamaConfig({ hidden: 4096, layers: 32, heads: 32, kvHeads: 32, ffn: 11008, vocab: 32000, maxPos: 4096, theta: 10000, tied: false, bos: 1, eos: 2 }),
  },
];

export function shapeByName(name: string): RandomShape {
  const s = SHAPES.find((x) => x.name === name);
  if (!s) throw new Error(`no random model shape ${name}; known: ${SHAPES.map((x) => x.name).join(', ')}`);
  return s;
}

/** The tensors a checkpoint of this shape holds, with Hugging Face's names. */
export function tensorShapes(s: RandomShape): TensorShape[] {
  const c = s.config as Record<string, number & boolean>;
  const out: TensorShape[] = [];
  const mat = (name: string, shape: number[]) => out.push({ name, shape, init: 'normal' });
  const norm = (name: string, n: number, bias: boolean) => {
    out.push({ name: `${name}.weight`, shape: [n], init: 'ones' });
    if (bias) out.push({ name: `${name}.bias`, shape: [n], init: 'zeros' });
  };
  const linear = (name: string, outF: number, inF: number, bias: boolean) => {
    mat(`${name}.weight`, [outF, inF]);
    if (bias) out.push({ name: `${name}.bias`, shape: [outF], init: 'zeros' });
  };
  switch (c.model_type as unknown as string) {
    case 'bert': {
      const h = c.hidden_size;
      mat('embeddings.word_embeddings.weight', [c.vocab_size, h]);
      mat('embeddings.position_embeddings.weight', [c.max_position_embeddings, h]);
      mat('embeddings.token_type_embeddings.weight', [c.type_vocab_size, h]);
      norm('embeddings.LayerNorm', h, true);
      for (let i = 0; i < c.num_hidden_layers; i++) {
        const p = `encoder.layer.${i}`;
        for (const x of ['query', 'key', 'value']) linear(`${p}.attention.self.${x}`, h, h, true);
        linear(`${p}.attention.output.dense`, h, h, true);
        norm(`${p}.attention.output.LayerNorm`, h, true);
        linear(`${p}.intermediate.dense`, c.intermediate_size, h, true);
        linear(`${p}.output.dense`, h, c.intermediate_size, true);
        norm(`${p}.output.LayerNorm`, h, true);
      }
      return out;
    }
    case 'gpt2': {
      const h = c.n_embd;
      const ffn = (c.n_inner as number | null) ?? 4 * h;
      mat('transformer.wte.weight', [c.vocab_size, h]);
      mat('transformer.wpe.weight', [c.n_positions, h]);
      for (let i = 0; i < c.n_layer; i++) {
        const p = `transformer.h.${i}`;
        norm(`${p}.ln_1`, h, true);
        // Conv1D layout: [in, out]
        mat(`${p}.attn.c_attn.weight`, [h, 3 * h]);
        out.push({ name: `${p}.attn.c_attn.bias`, shape: [3 * h], init: 'zeros' });
        mat(`${p}.attn.c_proj.weight`, [h, h]);
        out.push({ name: `${p}.attn.c_proj.bias`, shape: [h], init: 'zeros' });
        norm(`${p}.ln_2`, h, true);
        mat(`${p}.mlp.c_fc.weight`, [h, ffn]);
        out.push({ name: `${p}.mlp.c_fc.bias`, shape: [ffn], init: 'zeros' });
        mat(`${p}.mlp.c_proj.weight`, [ffn, h]);
        out.push({ name: `${p}.mlp.c_proj.bias`, shape: [h], init: 'zeros' });
      }
      norm('transformer.ln_f', h, true);
      return out;
    }
    case 'llama': {
      const h = c.hidden_size;
      const hd = c.head_dim;
      mat('model.embed_tokens.weight', [c.vocab_size, h]);
      for (let i = 0; i < c.num_hidden_layers; i++) {
        const p = `model.layers.${i}`;
        norm(`${p}.input_layernorm`, h, false);
        linear(`${p}.self_attn.q_proj`, c.num_attention_heads * hd, h, false);
        linear(`${p}.self_attn.k_proj`, c.num_key_value_heads * hd, h, false);
        linear(`${p}.self_attn.v_proj`, c.num_key_value_heads * hd, h, false);
        linear(`${p}.self_attn.o_proj`, h, c.num_attention_heads * hd, false);
        norm(`${p}.post_attention_layernorm`, h, false);
        linear(`${p}.mlp.gate_proj`, c.intermediate_size, h, false);
        linear(`${p}.mlp.up_proj`, c.intermediate_size, h, false);
        linear(`${p}.mlp.down_proj`, h, c.intermediate_size, false);
      }
      norm('model.norm', h, false);
      if (!c.tie_word_embeddings) mat('lm_head.weight', [c.vocab_size, h]);
      return out;
    }
    default:
      throw new Error(`tensorShapes: unknown model_type ${String(c.model_type)}`);
  }
}

export function parameterCount(s: RandomShape): number {
  return tensorShapes(s).reduce((n, t) => n + t.shape.reduce((a, b) => a * b, 1), 0);
}
