"""What the PyTorch peers (torch_sdpa.py, torch_e2e.py) share: timing on the device, the copy-bandwidth ceiling,
the device's name, and JSON output that JavaScript's JSON.parse accepts.

torch is imported inside the functions that need it, so that a script can answer --help, and report a missing
torch as an error of its own, on a machine without it.
"""
import json
import math
import statistics
import sys
import time

# More calls than this in one timed region only lengthen the run: the fixed cost is long amortized by then.
MAX_ITERS = 20000


def emit(obj, stream=None):
    """Writes obj as one JSON line. NaN and infinities become null: JSON.parse rejects them."""

    def clean(x):
        if isinstance(x, float) and not math.isfinite(x):
            return None
        if isinstance(x, dict):
            return {k: clean(v) for k, v in x.items()}
        if isinstance(x, (list, tuple)):
            return [clean(v) for v in x]
        return x

    out = stream or sys.stdout
    out.write(json.dumps(clean(obj), allow_nan=False) + "\n")
    out.flush()


def is_cuda(device):
    return str(device).startswith("cuda")


def synchronize(device):
    import torch

    if is_cuda(device):
        torch.cuda.synchronize(device)


def device_name(device):
    import torch

    if is_cuda(device):
        return torch.cuda.get_device_name(device)
    return "CPU (torch)"


def _region_ms(fn, iters, device):
    """Milliseconds of `iters` calls: CUDA events on a GPU (device time, launch gaps included), else the host clock."""
    import torch

    if is_cuda(device):
        start = torch.cuda.Event(enable_timing=True)
        end = torch.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(iters):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end)
    t0 = time.perf_counter()
    for _ in range(iters):
        fn()
    return (time.perf_counter() - t0) * 1e3


def time_ms(fn, min_ms, repeats, device):
    """Milliseconds per call: one warm-up call, then calls per timed region grown until a region takes min_ms,
    then the median over `repeats` regions, as bench/kernels/device-timing.mjs times gpuformer's ops."""
    fn()
    synchronize(device)
    iters = 1
    while True:
        # the faster of two regions: one slow region (a page fault, a clock ramping up) must not stop the growth early
        ms = min(_region_ms(fn, iters, device), _region_ms(fn, iters, device))
        if ms >= min_ms or iters >= MAX_ITERS:
            break
        want = math.ceil(iters * min_ms * 1.2 / max(ms, 1e-3))
        iters = min(MAX_ITERS, max(2 * iters, want))
    per = [_region_ms(fn, iters, device) / iters for _ in range(repeats)]
    return {"ms": statistics.median(per), "min": min(per), "max": max(per), "iters": iters, "repeats": repeats}


def copy_bandwidth(device="cuda", nbytes=1 << 30, min_ms=25, repeats=11):
    """Device-to-device copy in bytes/s, bytes read plus bytes written, over buffers far larger than the L2."""
    import torch

    if is_cuda(device):
        free, _ = torch.cuda.mem_get_info(device)
        nbytes = min(nbytes, free // 4)
    n = nbytes // 4
    src = torch.rand(n, dtype=torch.float32, device=device)  # never zeros: see the device README's METHOD.md
    dst = torch.empty_like(src)
    t = time_ms(lambda: dst.copy_(src), min_ms, repeats, device)
    moved = 2 * src.numel() * src.element_size()
    return {"copyBytesPerSec": moved / (t["ms"] / 1e3), "bytes": moved, **t}
