#!/usr/bin/env python3
"""Random-weight Llama models at real shapes, with transformers' answers on them, for test/gpu/fidelity.test.ts.

The GPU machine has PyTorch and transformers but no network, so the references are made there: for each shape a
Hugging Face directory (config.json + model.safetensors in float16, the weights gpuformer loads) and, beside it,
the golden files in the format of ../shared/fixtures (its README): cases.json (token-id prompts, greedy_steps,
greedy_min_margin) and golden.safetensors (<case>.logits [len, vocab] of a full prefill and <case>.greedy int32
[greedy_steps], the greedy continuation through the KV cache, EOS ignored), computed in float64 from the very
float16 weights that were saved. cases.json also records how far transformers' own float16 and bfloat16 runs land
from that float64 reference ("torch_errors", max |torch - golden| / max |golden| over the cases' logits), so the
suite can hold gpuformer to what the framework itself reaches at this depth and width.

    python3 bench/peers/torch_fidelity.py OUT_DIR [--shapes llama-3.2-1b,llama-2-7b-2l] [--device cuda] [--seed 1]

Shapes (hidden, heads / kv heads, head dim, intermediate, vocab, layers):
  llama-3.2-1b    2048, 32/8, 64, 8192, 128256, 16 layers, llama3 rope scaling, tied head (GQA 4:1)
  llama-2-7b-2l   4096, 32/32, 128, 11008, 32000, the first 2 of 32 layers, untied head (MHA)
  tiny            256, 4/2, 64, 512, 1000, 2 layers (a quick check of this script)
Weights are N(0, std) with std chosen per shape so that logits are well spread (random models with the usual
0.02 give nearly flat logits, where no greedy step is determined); norm weights are 1 + N(0, 0.1).
"""
import argparse
import json
import os
import sys
import time

SHAPES = {
    'llama-3.2-1b': dict(hidden_size=2048, num_attention_heads=32, num_key_value_heads=8, head_dim=64, intermediate_size=8192,
                         vocab_size=128256, num_hidden_layers=16, rope_theta=500000.0, tie_word_embeddings=True,
                         rope_scaling={'rope_type': 'llama3', 'factor': 32.0, 'low_freq_factor': 1.0, 'high_freq_factor': 4.0,
                                       'original_max_position_embeddings': 8192},
                         max_position_embeddings=131072, bos_token_id=128000, eos_token_id=128001),
    'llama-2-7b-2l': dict(hidden_size=4096, num_attention_heads=32, num_key_value_heads=32, head_dim=128, intermediate_size=11008,
                          vocab_size=32000, num_hidden_layers=2, rope_theta=10000.0, tie_word_embeddings=False,
                          max_position_embeddings=4096, bos_token_id=1, eos_token_id=2),
    'tiny': dict(hidden_size=256, num_attention_heads=4, num_key_value_heads=2, head_dim=64, intermediate_size=512,
                 vocab_size=1000, num_hidden_layers=2, rope_theta=10000.0, tie_word_embeddings=False,
                 max_position_embeddings=2048, bos_token_id=1, eos_token_id=2),
}

# prompt lengths of the cases (one of them crosses a 16-token KV block several times) and greedy steps
CASE_LENGTHS = [7, 33, 70]
GREEDY_STEPS = 12


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def make_model(torch, transformers, shape, seed, device):
    cfg = transformers.LlamaConfig(rms_norm_eps=1e-5, hidden_act='silu', attention_bias=False, mlp_bias=False,
                                   torch_dtype='float16', **SHAPES[shape])
    torch.manual_seed(seed)
    with torch.device(device):
        model = transformers.LlamaForCausalLM(cfg).to(torch.float64)
    # spread the logits: the residual stream grows through the layers only if each block's output is not tiny
    std = {'tiny': 0.08, 'llama-2-7b-2l': 0.03, 'llama-3.2-1b': 0.03}[shape]
    g = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('norm.weight'):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g, device=device, dtype=p.dtype))
            else:
                p.copy_(std * torch.randn(p.shape, generator=g, device=device, dtype=p.dtype))
        # what gpuformer loads is the float16 checkpoint: the reference uses exactly those numbers
        for p in model.parameters():
            p.copy_(p.to(torch.float16).to(torch.float64))
    return cfg, model.eval()


def logits_of(torch, model, ids, device):
    with torch.no_grad():
        return model(torch.tensor([ids], device=device)).logits[0]


def greedy(torch, model, ids, steps, device):
    """Greedy continuation through transformers' KV cache (EOS ignored) and the smallest top-2 gap on the way."""
    out, margins = [], []
    with torch.no_grad():
        res = model(torch.tensor([ids], device=device), use_cache=True)
        past = res.past_key_values
        last = res.logits[0, -1]
        for _ in range(steps):
            top = torch.topk(last.double(), 2)
            margins.append(float(top.values[0] - top.values[1]))
            tok = int(top.indices[0])
            out.append(tok)
            res = model(torch.tensor([[tok]], device=device), past_key_values=past, use_cache=True)
            past = res.past_key_values
            last = res.logits[0, -1]
    return out, min(margins)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('out')
    ap.add_argument('--shapes', default='llama-3.2-1b,llama-2-7b-2l')
    ap.add_argument('--device', default='cuda')
    ap.add_argument('--seed', type=int, default=1)
    args = ap.parse_args()
    import torch
    import transformers
    from safetensors.torch import save_file
    shapes = [s for s in args.shapes.split(',') if s]
    bad = [s for s in shapes if s not in SHAPES]
    if bad:
        raise SystemExit(f'unknown shape(s) {bad}; known: {", ".join(SHAPES)}')
    summary = {}
    for shape in shapes:
        t0 = time.time()
        d = os.path.join(args.out, shape)
        os.makedirs(d, exist_ok=True)
        cfg, model = make_model(torch, transformers, shape, args.seed, args.device)
        V = cfg.vocab_size
        g = torch.Generator().manual_seed(args.seed + 7)
        cases, golden = [], {}
        for i, n in enumerate(CASE_LENGTHS):
            ids = [int(x) for x in torch.randint(3, V, (n,), generator=g)]
            name = f'len{n}'
            ref = logits_of(torch, model, ids, args.device)
            toks, margin = greedy(torch, model, ids, GREEDY_STEPS, args.device)
            golden[f'{name}.logits'] = ref.float().cpu().contiguous()
            golden[f'{name}.greedy'] = torch.tensor(toks, dtype=torch.int32)
            cases.append({'name': name, 'input_ids': ids, 'greedy_steps': GREEDY_STEPS, 'greedy_min_margin': margin})
        # transformers' own half-precision runs against the float64 reference, the yardstick for gpuformer's
        errors = {}
        for label, dt in (('f16', torch.float16), ('bf16', torch.bfloat16)):
            model.to(dt)
            worst = 0.0
            for c in cases:
                ref = golden[f"{c['name']}.logits"].to(args.device).double()
                got = logits_of(torch, model, c['input_ids'], args.device).double()
                worst = max(worst, float((got - ref).abs().max() / ref.abs().max()))
            errors[label] = worst
        model.to(torch.float16)
        # the checkpoint: float16 safetensors under the Hugging Face names; tied heads are stored once
        state = {k: v.contiguous().cpu() for k, v in model.state_dict().items()}
        if cfg.tie_word_embeddings:
            state.pop('lm_head.weight', None)
        save_file(state, os.path.join(d, 'model.safetensors'), metadata={'format': 'pt'})
        cfg_json = cfg.to_dict()
        cfg_json['torch_dtype'] = 'float16'
        cfg_json['architectures'] = ['LlamaForCausalLM']
        with open(os.path.join(d, 'config.json'), 'w') as f:
            json.dump(cfg_json, f, indent=1)
        save_file(golden, os.path.join(d, 'golden.safetensors'))
        with open(os.path.join(d, 'cases.json'), 'w') as f:
            json.dump({'cases': cases, 'torch_errors': errors, 'shape': shape, 'seed': args.seed,
                       'made_with': {'torch': torch.__version__, 'transformers': transformers.__version__,
                                     'device': torch.cuda.get_device_name() if args.device.startswith('cuda') else 'cpu'}}, f, indent=1)
        summary[shape] = {'dir': d, 'seconds': round(time.time() - t0, 1), 'torch_errors': errors,
                          'min_margins': [c['greedy_min_margin'] for c in cases],
                          'max_logit': max(float(golden[f"{c['name']}.logits"].abs().max()) for c in cases)}
        log(f"{shape}: {summary[shape]}")
        del model
        if args.device.startswith('cuda'):
            torch.cuda.empty_cache()
    print(json.dumps(summary))


if __name__ == '__main__':
    main()
