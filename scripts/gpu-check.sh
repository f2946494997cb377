#!/usr/bin/env bash
# What one call to a lent GPU machine runs (the `device` tool's `run`): every check and measurement that needs
# the GPU, each part time-boxed so that the call ends inside its budget, everything written under $OUT.
# Two parts, one call each, each useful alone:
#
#   ops     test/gpu (every CUDA op against the CPU, the golden models, graphs, invariance), the kernel
#           bench (bench/kernels/cuda-kernels.mjs --quick: copy and GEMM ceilings, prefill attention, paged
#           decode attention, embedding, the decode matmuls "gemv"), and where one decode step's time goes
#           (Nsight Compute over Llama-3.2-1B f16, one stream and 64 streams; ms per step with and without
#           CUDA graphs).                                            carry [".gpukit/base", ".gpukit/shared"]
#   models  end to end against PyTorch (Llama-3.2-1B f16: one stream against transformers, then 1 to 64
#           concurrent streams), Llama-2-7B-shaped random GGUFs in Q4_0 and Q8_0 made there by the project's
#           quantizer (make-7b-ggufs) and decoded (one stream), and fidelity at real shapes: random-weight Llama models made with transformers there
#           (bench/peers/torch_fidelity.py), gpuformer's logits and greedy ids against them
#           (test/gpu/fidelity.test.ts).                             carry [".gpukit/base"]
#
# Here first: bash scripts/gpu-kit.sh (builds the sm_90 addon and packs the kit). On the device:
#   run(command: "bash scripts/gpu-check.sh ops", carry: [".gpukit/base", ".gpukit/shared"], timeout_s: 540)
#   run(command: "bash scripts/gpu-check.sh models", carry: [".gpukit/base"], timeout_s: 540)
# The kit is unpacked by the script itself (skipped when a warm machine already has this kit unpacked).
# Back come $OUT/<part>-summary.md (also printed last) and $OUT/<part>.tar.gz with every log and record:
# copy them into bench/results/gpu-<date>-<machine>/ with the command that made them.
#
#   --budget SECONDS   the whole part's time (default 450): each step gets at most what is left, less a reserve
#   --dry-run          here, without a GPU: the same steps on the CPU (the test/gpu suites' stand-in mode, the
#                      kernel bench's --dry-run, tiny models), a check of this script; $OUT defaults to .tmp/
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

usage() { echo "usage: bash scripts/gpu-check.sh [--dry-run] [--budget SECONDS] ops|models" >&2; exit 2; }
dry=0
budget=450
part=''
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) dry=1 ;;
    --budget) shift; budget=${1:-}; [[ "$budget" =~ ^[0-9]+$ ]] || usage ;;
    ops|models) part=$1 ;;
    *) usage ;;
  esac
  shift
done
[ -n "$part" ] || usage

t_start=$(date +%s)
if [ -z "${OUT:-}" ]; then
  [ "$dry" = 1 ] || { echo "gpu-check: \$OUT is not set (the device tool sets it; --dry-run writes to .tmp/)" >&2; exit 2; }
  OUT=$root/.tmp/gpu-check-out
fi
mkdir -p "$OUT"
W=$(mktemp -d /tmp/gpu-check-$part.XXXXXX)   # logs and records; packed into $OUT at the end
big=/tmp/gpu-check-data                      # models and references: gigabytes, never packed
mkdir -p "$big"
summary=$W/summary.md

# ------------------------------------------------------------------------------------------- environment
if [ "$dry" = 1 ]; then
  export GPUFORMER_GPU_SUITE_DEVICE=cpu
  export GPUFORMER_ADDON=${GPUFORMER_ADDON:-$root/build/Release/gpuformer.node}
  DEVICE=cpu
  [ -d bench/.cache/build/bench ] || node node_modules/typescript/bin/tsc -p bench/tsconfig.json
else
  [ -f .gpukit/base/unpack.sh ] || { echo "gpu-check: no .gpukit/base (run bash scripts/gpu-kit.sh here and carry it)" >&2; exit 2; }
  # shellcheck disable=SC1091
  source .gpukit/base/unpack.sh
  DEVICE=cuda
fi
JEST="node node_modules/jest/bin/jest.js"
B=bench/.cache/build/bench

# ------------------------------------------------------------------------------------------------- steps
{
  echo "# gpu-check $part$([ "$dry" = 1 ] && echo ' (DRY RUN on the CPU: checks the script, numbers mean nothing)')"
  echo
  echo "$(date -u +%FT%TZ) · gpuformer $(git rev-parse --short HEAD 2>/dev/null || echo '?')$(git diff --quiet HEAD 2>/dev/null || echo ' (uncommitted changes)') · budget ${budget} s"
  echo
  echo '| step | exit | seconds | log |'
  echo '|---|---:|---:|---|'
} > "$summary"
notes=()

# step NAME MAX_SECONDS COMMAND...: runs COMMAND with at most MAX_SECONDS (less when the budget has less left,
# keeping 30 s to pack the results), its output in $W/NAME.log; exit 124 means it ran out of time.
step() {
  local name=$1 want=$2
  shift 2
  local left=$((budget - ($(date +%s) - t_start) - 30))
  local limit=$((want < left ? want : left))
  if [ "$limit" -lt 20 ]; then
    echo "| $name | skipped: ${left} s of the budget left | — | — |" >> "$summary"
    echo "== $name: skipped (budget)"
    return 0
  fi
  echo "== $name (at most ${limit} s)"
  local s=$(date +%s)
  # a fresh bash runs the step (the functions below are exported), stopping at its first failing command:
  # timeout can end it and all it started
  timeout --kill-after=10 "$limit" bash -ec '"$@"' step "$@" > "$W/$name.log" 2>&1
  local rc=$?
  echo "| $name | $rc$([ $rc = 124 ] && echo ' (time)') | $(($(date +%s) - s)) | $name.log |" >> "$summary"
  tail -n 3 "$W/$name.log" | sed 's/^/   /'
  return 0
}

environment() {
  if [ "$dry" = 0 ]; then nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.mem --format=csv; fi
  node -e "const d = require(process.env.GPUFORMER_ADDON).devices(); console.log(JSON.stringify(d, null, 1))"
  nproc; uptime
}

# test/gpu: every suite but fidelity (the models part runs it); engine-* need ../shared/models (gpu-kit.sh --models)
test_gpu() {
  local ignore='fidelity'
  [ -d ../shared/models/SmolLM2-135M-Instruct-GGUF ] || ignore="$ignore|engine-"
  $JEST test/gpu --testPathIgnorePatterns "$ignore" --maxWorkers=8 --json --outputFile="$W/jest-gpu.json"
}

kernels() {
  if [ "$dry" = 1 ]; then node bench/kernels/cuda-kernels.mjs --dry-run --min-ms 5 --repeats 3 --out "$W"
  else node bench/kernels/cuda-kernels.mjs --quick --out "$W"; fi
}

# Where a decode step's time goes: ms per step with CUDA graphs (the default) and eagerly, then every kernel of
# an eager run under Nsight Compute, one stream and 64 streams, summarized by bench/kernels/ncu_step.py.
decode_step() {
  local model profile
  if [ "$dry" = 1 ]; then model=../shared/models/llama2c-260K
  else node $B/models/make-random.js llama-3.2-1b --dtype f16 > /dev/null && model=bench/.cache/models/llama-3.2-1b-f16; fi
  profile="node $B/e2e/decode-profile.js $model --device ${DEVICE/cuda/cuda:0} --max-model-len 512"
  $profile --tokens 128 --reps 3
  GPUFORMER_CUDA_GRAPHS=0 $profile --tokens 128 --reps 2
  $profile --tokens 64 --reps 2 --streams 64
  local ncu
  ncu=$(command -v ncu || ls /usr/local/cuda/bin/ncu /opt/nvidia/nsight-compute/*/ncu 2>/dev/null | head -1)
  if [ -z "$ncu" ]; then echo "no ncu here: no kernel breakdown"; return 0; fi
  for streams in 1 64; do
    GPUFORMER_CUDA_GRAPHS=0 timeout 120 "$ncu" --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
      $profile --tokens 4 --reps 1 --streams $streams > "$W/ncu-$streams.csv" 2> "$W/ncu-$streams.err" || echo "ncu exited with $?"
    python3 bench/kernels/ncu_step.py "$W/ncu-$streams.csv" --json "$W/decode-step-$streams.json" | tee "$W/decode-step-$streams.md"
  done
}

e2e() {  # e2e ARGS...: the end-to-end bench, its record into $W
  node $B/run.js --device "$DEVICE" --out "$W" --job-timeout 150 "$@"
}

# The Llama-2-7B-shaped random GGUFs in Q4_0 and Q8_0, written by the project's quantizer (bench/models/random-gguf.ts,
# one worker per core) where the e2e bench looks for them, so the e2e step that follows reuses them and its time
# is the decode's. The dry run makes the SmolLM2-135M shape instead and decodes each file a few tokens on the CPU.
make_ggufs() {
  set -o pipefail
  local shape=llama-7b t f
  [ "$dry" = 1 ] && shape=smollm2-135m
  for t in q4_0 q8_0; do
    node $B/models/random-gguf.js $shape $t | tee "$W/gguf-$t.out"   # its log, the file, the seconds
    f=$(tail -n 2 "$W/gguf-$t.out" | head -n 1)
    ls -l "$f"
    if [ "$dry" = 1 ]; then node $B/e2e/decode-profile.js "$f" --device cpu --tokens 4 --reps 1 --max-model-len 64; fi
  done
}

fidelity() {
  if [ "$dry" = 1 ]; then
    if python3 -c 'import torch, transformers' 2> /dev/null; then
      python3 bench/peers/torch_fidelity.py "$big/fidelity" --shapes tiny --device cpu
    else
      # no transformers here: the suite's own logic checked on the fixtures, which are in the same format
      echo "no torch/transformers here: test/gpu/fidelity.test.ts runs on ../shared/fixtures instead"
      rm -rf "$big/fidelity" && ln -s "$(cd ../shared/fixtures && pwd)" "$big/fidelity"
    fi
  else
    rm -rf "$big/fidelity"
    PYTHONUNBUFFERED=1 python3 bench/peers/torch_fidelity.py "$big/fidelity" --shapes llama-3.2-1b,llama-2-7b-2l
  fi
}

fidelity_test() {
  GPUFORMER_FIDELITY_DIR="$big/fidelity" $JEST test/gpu/fidelity.test.ts --json --outputFile="$W/jest-fidelity.json"
}

export W B big dry DEVICE JEST
export -f environment test_gpu kernels decode_step e2e make_ggufs fidelity fidelity_test

case "$part" in
  ops)
    step environment 30 environment
    step test-gpu 200 test_gpu
    step kernels 130 kernels
    step decode-step 150 decode_step
    ;;
  models)
    step environment 30 environment
    if [ "$dry" = 1 ]; then
      step e2e-decode 120 e2e --quick --models llama2c --engines gpuformer --only decode,concurrency
      step make-ggufs 240 make_ggufs
      notes+=("dry run: the e2e steps ran llama2c-260K on the CPU in place of the GPU models, make-ggufs the SmolLM2-135M shape in place of Llama-2-7B")
    else
      step e2e-1b-vs-pytorch 100 e2e --quick --models llama-3.2-1b --engines gpuformer,pytorch --only decode
      step e2e-1b-streams 80 e2e --models llama-3.2-1b --engines gpuformer --only concurrency
      step make-7b-ggufs 90 make_ggufs
      step e2e-7b-q4_0-q8_0 120 e2e --quick --models q4_0,q8_0 --engines gpuformer --only decode
    fi
    step fidelity-make 120 fidelity
    step fidelity-test 120 fidelity_test
    ;;
esac

# --------------------------------------------------------------------------------------------------- pack
{
  echo
  for n in "${notes[@]+"${notes[@]}"}"; do echo "- $n"; done
  for f in "$W"/decode-step-*.md; do [ -f "$f" ] && { echo; echo "## $(basename "$f" .md)"; echo; cat "$f"; }; done
  if [ -f "$W/jest-gpu.json" ] || [ -f "$W/jest-fidelity.json" ]; then
    echo
    echo "## jest"
    echo
    for j in "$W"/jest-*.json; do
      node -e "const r = require(process.argv[1]); console.log('- ' + require('path').basename(process.argv[1]) + ': ' + r.numPassedTests + ' passed, ' + r.numFailedTests + ' failed, ' + r.numPendingTests + ' skipped of ' + r.numTotalTests);
        for (const s of r.testResults) for (const t of s.assertionResults) if (t.status === 'failed') console.log('  - FAILED ' + require('path').basename(s.name) + ': ' + t.fullName);" "$j"
    done
  fi
  for g in "$W"/cuda-kernels-*.md; do [ -f "$g" ] && { echo; sed -n '/^## Goals/,$p' "$g"; }; done
  floors=$(node $B/report/gpu.js "$W")   # the end-to-end records' decode against the floor (none for CPU runs)
  [ -n "$floors" ] && { echo; echo '## decode against the floor'; echo; echo "$floors"; }
  echo
  echo "total $(($(date +%s) - t_start)) s"
} >> "$summary"
cp "$summary" "$OUT/$part-summary.md"
tar -C "$W" -czf "$OUT/$part.tar.gz" .
echo
cat "$summary"
rm -rf "$W"
