#!/usr/bin/env python3
"""The GPU peer of the end-to-end benchmark: PyTorch + Hugging Face transformers (generation) and
sentence-transformers (embeddings), run by bench/peers/pytorch.ts in a process of its own.

    python3 bench/peers/torch_e2e.py --job -       # a Job (bench/e2e/types.ts) on stdin, its JobResult on stdout
    python3 bench/peers/torch_e2e.py --bandwidth   # {"copyBytesPerSec": ...}: device-to-device copy, read + write

The answer is the last line of stdout (one JSON object); everything else (progress, library warnings) goes to
stderr. A job that fails still answers, with ok: false and the error, and exits 0; a Job that cannot be read
exits 2.

Same inputs, same measurements: the sentences and prompt token ids come from bench/e2e/inputs.ts itself (its
compiled form in bench/.cache/build, which `npm run bench` writes before it runs this), through node, and the
scenarios follow bench/e2e/scenarios.ts with the repetition policy of bench/e2e/repeat.ts:
  - embed: SentenceTransformer(dir).half() on the GPU, encode(texts, batch_size=len(texts)) with the model's own
    modules (pooling, normalization) and truncation, synchronized; tokens counted by its tokenizer.
  - prefill: time to the first token of a one-token greedy generate() on a fresh prompt each repetition.
  - decode: one stream, greedy; token times taken as generate() hands each token to a streamer (it copies the
    token to the host, so the device has finished that step).
  - concurrency: transformers' generate() has no continuous batching, so the c requests run as one left-padded
    batch (static batching): all start together, the batch steps until its longest request is done, and each
    request counts its tokens up to its own maxTokens or end-of-sequence token.
Weights are loaded in float16 on CUDA (float32 on the CPU), attention through torch's SDPA.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ beside the scripts in the repository
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_common import copy_bandwidth, device_name, emit, synchronize  # noqa: E402

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
INPUTS_JS = os.path.join(REPO_ROOT, "bench", ".cache", "build", "bench", "e2e", "inputs.js")

# Calls [name, ...args] of bench/e2e/inputs.ts's exports in, their results out (one JSON array each way).
NODE_CALLS = """
const inputs = require(process.argv[1]);
let text = '';
process.stdin.on('data', (d) => { text += d; }).on('end', () => {
  const out = JSON.parse(text).map(([name, ...args]) => inputs[name](...args));
  process.stdout.write(JSON.stringify(out));
});
"""


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def now_ns():
    return time.perf_counter_ns()


def log(msg):
    print(f"    {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------- inputs
def shared_inputs(calls):
    """Runs bench/e2e/inputs.ts's generators (compiled) on `calls`, so both sides see the very same inputs."""
    if not calls:
        return []
    if not os.path.exists(INPUTS_JS):
        raise RuntimeError(f"{os.path.relpath(INPUTS_JS, REPO_ROOT)} is missing: `npm run bench` compiles bench/ first "
                           "(or: npx tsc -p bench/tsconfig.json)")
    node = os.environ.get("NODE", "node")
    p = subprocess.run([node, "-e", NODE_CALLS, INPUTS_JS], input=json.dumps(calls), capture_output=True, text=True)
    if p.returncode != 0:
        raise RuntimeError(f"{node} could not run bench/e2e/inputs: {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)


# ---------------------------------------------------------------------------------------------- statistics
def quantile(xs, q):
    """numpy's default (linear interpolation between order statistics), as bench/e2e/stats.ts."""
    s = sorted(xs)
    pos = q * (len(s) - 1)
    lo, hi = int(pos // 1), int(-(-pos // 1))
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def summarize(xs):
    if not xs:
        raise ValueError("summary of no samples")
    return {"n": len(xs), "median": quantile(xs, 0.5), "p10": quantile(xs, 0.1), "p90": quantile(xs, 0.9),
            "min": min(xs), "max": max(xs), "mean": sum(xs) / len(xs)}


def wants_another(done, elapsed, p):
    """bench/e2e/repeat.ts's wantsAnother."""
    if done >= p["maxReps"]:
        return False
    if done >= 1 and elapsed >= p["maxSeconds"]:
        return False
    if done < p["minReps"]:
        return True
    return elapsed < p["minSeconds"]


def repeat_measured(fn, p):
    """bench/e2e/repeat.ts's repeatMeasured: fn(rep) returns the seconds it measured; warm-ups get rep < 0."""
    for i in range(p["warmup"]):
        fn(i - p["warmup"])
    times, elapsed = [], 0.0
    while wants_another(len(times), elapsed, p):
        s = fn(len(times))
        times.append(s)
        elapsed += s
    return times


def rep_range(p):
    return range(-p["warmup"], p["maxReps"])


# ---------------------------------------------------------------------------------------------- embeddings
def run_embed(job, result, dev, torch):
    import sentence_transformers

    s = job["embed"]
    t0 = now_ns()
    model = sentence_transformers.SentenceTransformer(job["model"]["path"], device=dev)
    if dev.startswith("cuda"):
        model = model.half()
    model.eval()
    synchronize(dev)
    result["loadSeconds"] = (now_ns() - t0) / 1e9
    result["engineVersion"] = f"PyTorch {torch.__version__} + sentence-transformers {sentence_transformers.__version__}"
    after_load = rss_bytes()

    calls = [["sentences", b, length] for length in s["lengths"] for b in s["batchSizes"]]
    texts_of = dict(zip([(c[2], c[1]) for c in calls], shared_inputs(calls)))
    points = []
    for length in s["lengths"]:
        for batch in s["batchSizes"]:
            texts = texts_of[(length, batch)]

            def once(_rep):
                t = now_ns()
                model.encode(texts, batch_size=len(texts), convert_to_tensor=True, show_progress_bar=False)
                synchronize(dev)
                return (now_ns() - t) / 1e9

            seconds = summarize(repeat_measured(once, job["policy"]))
            tokens = int(model.tokenize(texts)["attention_mask"].sum())
            points.append({"batch": batch, "length": length, "tokensPerBatch": tokens, "seconds": seconds,
                           "sentencesPerSec": batch / seconds["median"], "tokensPerSec": tokens / seconds["median"]})
            log(f"embed {length} ×{batch}: {batch / seconds['median']:.1f} sentences/s ({seconds['n']} reps)")
    result["embed"] = points
    result["notes"].append("sentence-transformers in float16 (model.half()), one encode() call per batch")
    return model, after_load


# ---------------------------------------------------------------------------------------------- generation
def token_clock(torch):
    from transformers.generation.streamers import BaseStreamer

    class TokenClock(BaseStreamer):
        """The time of each generated step and its tokens. generate() first puts the prompt (2-D), then one
        1-D tensor of next tokens per step, already on the host."""

        def __init__(self):
            self.at, self.tokens = [], []

        def put(self, value):
            if value.dim() >= 2:
                return
            self.at.append(now_ns())
            self.tokens.append(value.reshape(-1).tolist())

        def end(self):
            pass

    return TokenClock


class Generator:
    def __init__(self, model, torch, dev):
        self.model, self.torch, self.dev = model, torch, dev
        self.Clock = token_clock(torch)
        eos = model.generation_config.eos_token_id
        self.eos = set(eos if isinstance(eos, list) else [] if eos is None else [eos])
        self.pad = model.generation_config.pad_token_id
        if self.pad is None:
            self.pad = min(self.eos) if self.eos else 0

    def generate(self, prompts, max_tokens, ignore_eos=False):
        """Greedy generation of a left-padded batch; answers (t0, clock). ignore_eos: exactly max_tokens each."""
        torch = self.torch
        width = max(len(p) for p in prompts)
        ids = torch.tensor([[self.pad] * (width - len(p)) + p for p in prompts], device=self.dev)
        mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts], device=self.dev)
        clock = self.Clock()
        t0 = now_ns()
        extra = {"min_new_tokens": max_tokens} if ignore_eos else {}
        with torch.inference_mode():
            self.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_tokens, do_sample=False,
                                streamer=clock, pad_token_id=self.pad, **extra)
        return t0, clock

    def one(self, prompt, max_tokens, ignore_eos=False):
        """Token times of one stream, up to its end-of-sequence token (or max_tokens exactly, with ignore_eos)."""
        t0, clock = self.generate([prompt], max_tokens, ignore_eos)
        return t0, clock.at[:self.count(clock, 0, max_tokens, ignore_eos)]

    def count(self, clock, i, max_tokens, ignore_eos=False):
        """Tokens request i of a batch generated: up to max_tokens or its first end-of-sequence token."""
        n = 0
        for step in clock.tokens:
            n += 1
            if n >= max_tokens or (not ignore_eos and step[i] in self.eos):
                break
        return n


def run_generate(job, result, dev, torch):
    import transformers

    s, policy = job["generate"], job["policy"]
    t0 = now_ns()
    dtype = torch.float16 if dev.startswith("cuda") else torch.float32
    major = int(transformers.__version__.split(".")[0])
    kw = {"dtype": dtype} if major >= 5 else {"torch_dtype": dtype}
    model = transformers.AutoModelForCausalLM.from_pretrained(job["model"]["path"], attn_implementation="sdpa", **kw)
    model = model.to(dev).eval()
    synchronize(dev)
    result["loadSeconds"] = (now_ns() - t0) / 1e9
    result["engineVersion"] = f"PyTorch {torch.__version__} + transformers {transformers.__version__}"
    after_load = rss_bytes()
    gen = Generator(model, torch, dev)
    vocab = s["vocabSize"]

    # every prompt any repetition may use, generated in one call of bench/e2e/inputs.ts
    calls, keys = [], []
    for n in s["prefillLens"]:
        for rep in rep_range(policy):
            calls.append(["promptIds", n, vocab, 10_000 + n * 100 + rep])
            keys.append(("prefill", n, rep))
    if s.get("decode"):
        for rep in rep_range(policy):
            calls.append(["promptIds", s["decode"]["promptLen"], vocab, 20_000 + rep])
            keys.append(("decode", rep))
    for c in s["concurrency"]:
        calls.append(["requestMix", c, vocab, s["mix"]["promptRange"], s["mix"]["genRange"], 30 + c])
        keys.append(("mix", c))
    inputs = dict(zip(keys, shared_inputs(calls)))

    if s["prefillLens"]:
        result["prefill"] = []
        for n in s["prefillLens"]:
            def once(rep, n=n):
                t0, at = gen.one(inputs[("prefill", n, rep)], 1)
                return (at[0] - t0) / 1e9

            seconds = summarize(repeat_measured(once, policy))
            result["prefill"].append({"promptLen": n, "seconds": seconds, "tokensPerSec": n / seconds["median"]})
            log(f"prefill {n}: {n / seconds['median']:.1f} tokens/s ({seconds['n']} reps)")

    if s.get("decode"):
        d = s["decode"]
        rates, gaps, tokens = [], [], [None]

        def once(rep):
            _, at = gen.one(inputs[("decode", rep)], d["tokens"], ignore_eos=True)  # fixed length, as bench/e2e
            n = len(at)
            if rep >= 0:
                tokens[0] = n if tokens[0] is None else min(tokens[0], n)
                if n >= 2:
                    rates.append((n - 1) / ((at[-1] - at[0]) / 1e9))
                gaps.extend((at[i] - at[i - 1]) / 1e6 for i in range(1, n))
            return (at[-1] - at[0]) / 1e9 if n >= 2 else 0.0

        repeat_measured(once, policy)
        if not rates:
            raise RuntimeError("decode: every generation stopped after one token")
        result["decode"] = {"promptLen": d["promptLen"], "tokens": tokens[0], "tokensPerSec": summarize(rates),
                            "interTokenMs": summarize(gaps)}
        log(f"decode: {result['decode']['tokensPerSec']['median']:.2f} tokens/s over {tokens[0]} tokens ({len(rates)} reps)")

    if s["concurrency"]:
        result["concurrency"] = [run_concurrency(gen, c, inputs[("mix", c)]) for c in s["concurrency"]]
        result["notes"].append("PyTorch concurrency runs are static batches (one left-padded generate() per point; "
                               "transformers has no continuous batching): every stream steps until the longest is done")
    result["notes"].append("transformers generate() in float16 with SDPA attention and its default dynamic KV cache")
    return model, after_load


def run_concurrency(gen, c, reqs):
    t0, clock = gen.generate([r["promptIds"] for r in reqs], max(r["maxTokens"] for r in reqs))
    ttft, gaps, generated, end = [], [], 0, t0
    for i, r in enumerate(reqs):
        at = clock.at[:gen.count(clock, i, r["maxTokens"])]
        if not at:
            continue
        generated += len(at)
        ttft.append((at[0] - t0) / 1e6)
        gaps.extend((at[k] - at[k - 1]) / 1e6 for k in range(1, len(at)))
        end = max(end, at[-1])
    wall = (end - t0) / 1e9
    point = {"concurrency": c, "requests": len(reqs), "generatedTokens": generated, "wallSeconds": wall,
             "tokensPerSec": generated / wall if wall > 0 else 0.0, "ttftMs": summarize(ttft),
             "interTokenMs": summarize(gaps or [0.0])}
    log(f"concurrency {c}: {point['tokensPerSec']:.1f} tokens/s, TTFT p50 {point['ttftMs']['median']:.0f} ms, "
        f"ITL p50 {point['interTokenMs']['median']:.1f} ms (static batch)")
    return point


# ---------------------------------------------------------------------------------------------- job
def run_job(job):
    started = now_ns()
    baseline = rss_bytes()
    result = {"engine": "pytorch", "engineVersion": "?", "device": job.get("device"), "threads": job.get("threads"),
              "model": job.get("model"), "ok": False, "notes": [], "wallSeconds": 0.0}
    after_load = float("nan")
    try:
        t_import = now_ns()
        import torch

        dev = "cuda" if job["device"] == "cuda" else "cpu"
        if dev == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"torch {torch.__version__} sees no CUDA device")
        torch.set_num_threads(max(1, int(job.get("threads") or 1)))
        import_seconds = (now_ns() - t_import) / 1e9
        if job.get("embed"):
            model, after_load = run_embed(job, result, dev, torch)
        elif job.get("generate"):
            model, after_load = run_generate(job, result, dev, torch)
        else:
            raise ValueError("the job has neither 'embed' nor 'generate'")
        result["loadSeconds"] += import_seconds  # as gpuformer's load includes loading its module
        memory = {"weightsBytes": sum(p.numel() * p.element_size() for p in model.parameters())}
        if dev == "cuda":
            memory["cudaPeakAllocatedBytes"] = torch.cuda.max_memory_allocated()
            memory["cudaReservedBytes"] = torch.cuda.memory_reserved()
            result["notes"].append(f"on {device_name(dev)}")
        result["engineMemory"] = memory
        result["ok"] = True
    except Exception as e:  # the runner wants a JobResult whatever happened
        traceback.print_exc(file=sys.stderr)
        result["error"] = f"{type(e).__name__}: {e}"
    finally:
        result["rss"] = {"baselineBytes": baseline, "afterLoadBytes": after_load,
                         "peakBytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
        result["wallSeconds"] = (now_ns() - started) / 1e9
    return result


def main(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--job", metavar="FILE", help="a Job as JSON: a file, or - for stdin")
    g.add_argument("--bandwidth", action="store_true", help="device-to-device copy bandwidth of cuda:0")
    a = p.parse_args(argv)
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries that print must not break the one-line answer
    if a.bandwidth:
        try:
            import torch

            if not torch.cuda.is_available():
                raise RuntimeError(f"torch {torch.__version__} sees no CUDA device")
            bw = copy_bandwidth("cuda")
        except Exception as e:
            print(f"torch_e2e.py --bandwidth: {type(e).__name__}: {e}", file=sys.stderr)
            return 1
        log(f"copy: {bw['copyBytesPerSec'] / 1e9:.0f} GB/s (read + write) on {device_name('cuda')}")
        emit({**bw, "device": device_name("cuda"), "torch": torch.__version__}, out)
        return 0
    try:
        job = json.loads(sys.stdin.read() if a.job == "-" else open(a.job, encoding="utf8").read())
        if not isinstance(job, dict) or not isinstance(job.get("model"), dict) or "policy" not in job:
            raise ValueError("a Job needs 'model' and 'policy' (bench/e2e/types.ts)")
    except (OSError, ValueError) as e:
        print(f"torch_e2e.py: cannot read the job: {e}", file=sys.stderr)
        return 2
    emit(run_job(job), out)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
