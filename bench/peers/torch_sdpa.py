#!/usr/bin/env python3
"""PyTorch's fused attention as the peer of gpuformer's: torch.nn.functional.scaled_dot_product_attention
TFLOP/s on the prefill shapes of bench/kernels/cuda-kernels.mjs, one JSON line on stdout.

    python3 bench/peers/torch_sdpa.py [--cases FILE|-] [--quick] [--dtypes f16,bf16] [--device cuda:0]
        [--min-ms 25] [--repeats 11] [--backends default,flash,cudnn,efficient]

--cases takes a JSON list of {dtype, headDim, causal, seq, batch, heads} (cuda-kernels.mjs sends its own on
stdin with `--cases -`); without it, the grid cuda-kernels.mjs uses: 16384 tokens per call, model width 2048,
sequence 512..8192, head dim 64 and 128, causal and not. Tensors are [batch, heads, seq, headDim], uniform in
[-1, 1). "default" is the backend torch picks by itself; each other backend is forced with sdpa_kernel and
reported with its error where it does not take the case. Timing: CUDA events around enough calls to fill
--min-ms, median of --repeats regions (torch_common.time_ms). FLOPs as cuda-kernels.mjs counts them: 4·D per
visible (query, key) pair, S(S+1)/2 pairs per head when causal.

Output: {"torch", "cuda", "device", "cases": [{...case, "flops", "results": {backend: {ms, min, max, tflops} |
{error}}}]}. Progress goes to stderr. Exit status 2 when torch is missing or the device is unusable.
"""
import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import device_name, emit, time_ms  # noqa: E402

DTYPES = ("f16", "bf16")
BACKENDS = ("default", "flash", "cudnn", "efficient")
TOTAL_TOKENS = 16384
MODEL_DIM = 2048


def default_cases(dtypes, quick):
    seqs = (512, 2048, 8192) if quick else (512, 1024, 2048, 4096, 8192)
    return [
        {"dtype": dt, "headDim": d, "causal": causal, "seq": s, "batch": TOTAL_TOKENS // s, "heads": MODEL_DIM // d}
        for dt in dtypes for d in (64, 128) for causal in (False, True) for s in seqs
    ]


def flops(c):
    s = c["seq"]
    pairs = s * (s + 1) // 2 if c["causal"] else s * s
    return 4 * c["headDim"] * c["heads"] * c["batch"] * pairs


def backend_context(torch, name):
    """A context that forces one SDPA backend, or None for torch's own choice."""
    if name == "default":
        return None
    from torch.nn.attention import SDPBackend, sdpa_kernel

    enum = {"flash": "FLASH_ATTENTION", "cudnn": "CUDNN_ATTENTION", "efficient": "EFFICIENT_ATTENTION"}[name]
    if not hasattr(SDPBackend, enum):
        raise RuntimeError(f"this torch has no SDPBackend.{enum}")
    return sdpa_kernel(getattr(SDPBackend, enum))


def run_case(torch, c, backends, device, min_ms, repeats, gen):
    dtype = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}[c["dtype"]]
    shape = (c["batch"], c["heads"], c["seq"], c["headDim"])
    q, k, v = (torch.rand(shape, generator=gen, device=device, dtype=torch.float32).mul_(2).sub_(1).to(dtype) for _ in range(3))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    results = {}
    for name in backends:
        try:
            ctx = backend_context(torch, name)
            if ctx is None:
                t = time_ms(lambda: sdpa(q, k, v, is_causal=c["causal"]), min_ms, repeats, device)
            else:
                with ctx:
                    t = time_ms(lambda: sdpa(q, k, v, is_causal=c["causal"]), min_ms, repeats, device)
            results[name] = {**t, "tflops": flops(c) / (t["ms"] / 1e3) / 1e12}
        except RuntimeError as e:  # the backend does not take these inputs on this device
            results[name] = {"error": str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__}
    del q, k, v
    return {**c, "flops": flops(c), "results": results}


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", help="JSON list of cases, a file or - for stdin")
    p.add_argument("--quick", action="store_true", help="the short grid (without --cases)")
    p.add_argument("--dtypes", default=",".join(DTYPES), help="dtypes of the default grid")
    p.add_argument("--device", default="cuda:0")
    p.add_argument("--min-ms", type=float, default=25.0)
    p.add_argument("--repeats", type=int, default=11)
    p.add_argument("--backends", default=",".join(BACKENDS))
    a = p.parse_args(argv)
    a.dtypes = [x for x in a.dtypes.split(",") if x]
    a.backends = [x for x in a.backends.split(",") if x]
    for x in a.dtypes:
        if x not in DTYPES:
            p.error(f"--dtypes: {x} is not one of {', '.join(DTYPES)}")
    for x in a.backends:
        if x not in BACKENDS:
            p.error(f"--backends: {x} is not one of {', '.join(BACKENDS)}")
    if a.min_ms <= 0 or a.repeats < 1:
        p.error("--min-ms must be positive and --repeats at least 1")
    return a


def read_cases(spec):
    text = sys.stdin.read() if spec == "-" else open(spec, encoding="utf8").read()
    cases = json.loads(text)
    keys = ("dtype", "headDim", "causal", "seq", "batch", "heads")
    if not isinstance(cases, list) or not all(isinstance(c, dict) and all(k in c for k in keys) for c in cases):
        raise ValueError(f"--cases must be a JSON list of objects with {', '.join(keys)}")
    return [{k: c[k] for k in keys} for c in cases]


def main(argv):
    a = parse_args(argv)
    try:
        cases = read_cases(a.cases) if a.cases else default_cases(a.dtypes, a.quick)
    except (OSError, ValueError) as e:
        print(f"torch_sdpa.py: {e}", file=sys.stderr)
        return 2
    try:
        import torch
    except ImportError as e:
        print(f"torch_sdpa.py: PyTorch is not installed for {sys.executable} ({e})", file=sys.stderr)
        return 2
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"torch_sdpa.py: torch {torch.__version__} sees no CUDA device", file=sys.stderr)
        return 2
    gen = torch.Generator(device=a.device).manual_seed(12345)
    out = []
    for c in cases:
        r = run_case(torch, c, a.backends, a.device, a.min_ms, a.repeats, gen)
        out.append(r)
        shown = ", ".join(f"{k} {v['tflops']:.1f}" if "tflops" in v else f"{k} —" for k, v in r["results"].items())
        print(f"torch sdpa {c['dtype']} D={c['headDim']} {'causal' if c['causal'] else 'full'} S={c['seq']}: {shown} TFLOP/s",
              file=sys.stderr)
    emit({"torch": torch.__version__, "cuda": torch.version.cuda, "device": device_name(a.device), "cases": out})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
