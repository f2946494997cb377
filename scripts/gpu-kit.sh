#!/usr/bin/env bash
# Packs what a lent GPU machine needs to run test/gpu and the CUDA benchmarks, for a session's `device`
# tool. That machine has nvcc, PyTorch and 16 cores but no Node.js and no package registry, and each call
# carries at most 64 MiB beside the working tree, so the kit is two compressed folders to name in `carry`:
#
#   .gpukit/base     Node.js (this machine's binary), node_modules without the CPU benchmark peers, the addon
#                    built for sm_90 only (H100/H200), the compiled benchmarks (bench/.cache/build) and the
#                    unpack script                                                    (~35 MB)
#   .gpukit/shared   ../shared/fixtures and the small llama2c-260K model              (~24 MB)
#
# The two real models of ../shared/models that test/gpu also uses (all-MiniLM-L6-v2, 87 MB; the SmolLM2
# GGUF, 94 MB) are each larger than a call may carry. With --models they are cut into .gpukit/part-NN folders
# of 26 MiB, one per call (with the 33 MiB base and the repository, under the 64 MiB a call carries): the
# machine keeps /tmp while it stays warm (30 s between calls), so a few
# consecutive calls, each carrying .gpukit/base and one part, gather them; the call that brings the last
# part assembles ../shared/models. Without them, those suites fail on their missing files.
#
#   bash scripts/gpu-kit.sh [--models]              # build the sm_90 addon (a few minutes on 2 cores) and pack
#   bash scripts/gpu-kit.sh --no-build [--models]   # pack an addon built before (build-kit/Release/gpuformer.node)
#
# On the device, scripts/gpu-check.sh runs everything (it sources the unpack script itself); by hand, in one call
# (carry [".gpukit/base", ".gpukit/shared"]; leave shared out for the op suites):
#   source .gpukit/base/unpack.sh && node node_modules/jest/bin/jest.js test/gpu
# (the kit carries `node` alone: no npm or npx there), and for the models, calls carrying [".gpukit/base", ".gpukit/part-00"], then part-01, … with the same first
# command; the last one can go on to run the suites. (Source it in the command's own shell, not in a pipeline:
# `source … | tail` would set PATH and GPUFORMER_ADDON in a subshell only.)
# Checked here: seven simulated calls in fresh clones gather byte-identical models, and the two model suites
# pass in the dry mode (GPUFORMER_GPU_SUITE_DEVICE=cpu).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
kit=$root/.gpukit
build=1
models=0
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    --models) models=1 ;;
    *) echo "usage: bash scripts/gpu-kit.sh [--no-build] [--models]" >&2; exit 2 ;;
  esac
done

if [ "$build" = 1 ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
  npx cmake-js compile --out build-kit --CDCMAKE_CUDA_ARCHITECTURES=90-real --CDGPUFORMER_CUDA=ON
fi
addon=build-kit/Release/gpuformer.node
[ -f "$addon" ] || { echo "no $addon: run without --no-build" >&2; exit 1; }
npx tsc -p bench/tsconfig.json   # the benchmarks' JavaScript (bench/.cache/build), for the machine's node

rm -rf "$kit"
mkdir -p "$kit/base" "$kit/shared"
xzc() { xz -T0 -6; }

node_bin=$(readlink -f "$(command -v node)")
tar -C "$(dirname "$node_bin")" -cf - "$(basename "$node_bin")" | xzc > "$kit/base/node.tar.xz"
strip -o "$kit/base/gpuformer.node" "$addon" 2>/dev/null || cp "$addon" "$kit/base/gpuformer.node"
xz -T0 -6 "$kit/base/gpuformer.node"

# node_modules minus what only the CPU benchmarks and their plots use (llama.cpp and onnxruntime binaries,
# transformers.js, the chart renderer, the openai client of the server tests)
tar -cf - \
  --exclude=node_modules/@node-llama-cpp --exclude=node_modules/node-llama-cpp \
  --exclude='node_modules/onnxruntime-*' --exclude=node_modules/@huggingface/transformers \
  --exclude=node_modules/@img --exclude=node_modules/sharp --exclude='node_modules/vega*' --exclude='node_modules/d3*' \
  --exclude=node_modules/@resvg --exclude=node_modules/openai --exclude=node_modules/.cache \
  --exclude=node_modules/caniuse-lite --exclude=node_modules/protobufjs \
  node_modules | xzc > "$kit/base/node_modules.tar.xz"
tar -cf - --exclude='*.map' --exclude=tsbuildinfo bench/.cache/build | xzc > "$kit/base/bench-build.tar.xz"

cat > "$kit/base/unpack.sh" <<'EOF'
# Sourced on the device from the repository root: unpacks the kit and sets PATH and GPUFORMER_ADDON.
set -e
k=.gpukit/base
mkdir -p /tmp/gpukit/bin /tmp/gpukit/parts
# a warm machine that already unpacked this very kit (node_modules and build-kit stay between calls) skips it
stamp="$(cksum < "$k/gpuformer.node.xz") $(cksum < "$k/node_modules.tar.xz") $(cksum < "$k/bench-build.tar.xz")"
if [ "$(cat /tmp/gpukit/stamp 2>/dev/null)" != "$stamp" ] || [ ! -f build-kit/Release/gpuformer.node ] || [ ! -d node_modules/jest ]; then
  tar -C /tmp/gpukit/bin -xJf "$k/node.tar.xz"
  tar -xJf "$k/node_modules.tar.xz"
  tar -xJf "$k/bench-build.tar.xz"
  mkdir -p build-kit/Release
  xz -dc "$k/gpuformer.node.xz" > build-kit/Release/gpuformer.node
  echo "$stamp" > /tmp/gpukit/stamp
else
  echo "gpu kit: already unpacked"
fi
if [ -f .gpukit/shared/shared.tar.xz ]; then mkdir -p ../shared && tar -C ../shared -xJf .gpukit/shared/shared.tar.xz; fi
# model parts: kept in /tmp across the calls that carry them; the last one completes ../shared/models
for p in .gpukit/part-*/models.tar.*; do [ -f "$p" ] && cp "$p" /tmp/gpukit/parts/; done
if [ -f "$k/model-parts" ]; then
  have=$(ls /tmp/gpukit/parts | wc -l)
  echo "gpu kit: model parts $have of $(cat "$k/model-parts")"
  # every call with all parts in /tmp (they stay there while the machine is warm) extracts them again
  if [ "$have" = "$(cat "$k/model-parts")" ]; then
    mkdir -p ../shared && cat /tmp/gpukit/parts/models.tar.* | tar -C ../shared -xf -
  fi
fi
export PATH="/tmp/gpukit/bin:$PWD/node_modules/.bin:$PATH"
export GPUFORMER_ADDON="$PWD/build-kit/Release/gpuformer.node"
set +e
node -e "const d = require(process.env.GPUFORMER_ADDON).devices(); console.log('gpu kit: node', process.version, '| cuda:', d.cuda.available ? d.devices.filter(x => x.id !== 'cpu').map(x => x.name).join(', ') : d.cuda.reason)"
EOF

tar -C "$root/../shared" -cf - fixtures models/llama2c-260K | xzc > "$kit/shared/shared.tar.xz"
if [ "$models" = 1 ]; then
  # weights do not compress: plain tar, cut into 26 MiB parts, one folder per device call
  tar -C "$root/../shared" -cf - models/all-MiniLM-L6-v2 models/SmolLM2-135M-Instruct-GGUF |
    split -b 26M -d -a 2 - "$kit/models.tar."
  n=0
  for f in "$kit"/models.tar.*; do
    d="$kit/part-${f##*.}"
    mkdir -p "$d" && mv "$f" "$d/"
    n=$((n + 1))
  done
  echo "$n" > "$kit/base/model-parts"
fi
du -sh "$kit"/*
