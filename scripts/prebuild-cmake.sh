#!/usr/bin/env bash
# prebuildify has no cmake-js backend: it calls this script as if it were node-gyp. We ignore its arguments,
# build with cmake-js (CUDA backend included wherever a toolkit exists) and leave the addon where
# prebuildify looks for it (build/Release/gpuformer.node).
set -euo pipefail
cd "$(dirname "$0")/.."
npx cmake-js rebuild --out build
