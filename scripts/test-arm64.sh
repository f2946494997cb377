#!/usr/bin/env bash
# npm run test:arm64: tests prebuilds/linux-arm64/gpuformer.node on an x86-64 Linux machine, under qemu-aarch64
# with the official arm64 Node.js (scripts/arm64-node.sh; QEMU_CPU picks the emulated CPU):
#   test/native/foundation.test.ts   the addon loads, lists its devices, tensors and coded errors work
#   test/ops/small-shapes.test.ts    every op on small shapes against its float64 reference
#   test/engine/engine-real.test.ts  the real models: all-MiniLM-L6-v2 embeddings at cosine >= 0.9999 to
#                                    sentence-transformers, llama2c-260K greedy tokens identical to the reference
# A subset: the full op suites are sized for native speed and would take most of an hour under emulation.
# Extra arguments go to jest (e.g. --json --outputFile=FILE). Needs npm run prebuilds first.
set -euo pipefail
cd "$(dirname "$0")/.."
addon=prebuilds/linux-arm64/gpuformer.node
[ -f "$addon" ] || { echo "test-arm64.sh: no $addon (npm run prebuilds makes it)" >&2; exit 1; }
export GPUFORMER_ADDON="$PWD/$addon"
exec bash scripts/arm64-node.sh node_modules/jest/bin/jest.js --runInBand --ci \
  test/native/foundation.test.ts test/ops/small-shapes.test.ts test/engine/engine-real.test.ts "$@"
