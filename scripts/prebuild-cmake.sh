#!/usr/bin/env bash
# prebuildify has no cmake-js backend: it calls this script as if it were node-gyp. We ignore its arguments
# except the target architecture (PREBUILD_ARCH, which prebuildify sets), build with cmake-js and leave the
# addon where prebuildify looks for it (build/Release/gpuformer.node under the folder it runs us in).
#   - this machine's architecture: the build/ folder, CUDA backend included wherever a toolkit exists;
#   - arm64 from x64: build-arm64/build, the CPU backend cross-compiled with Debian's aarch64 toolchain
#     (scripts/aarch64-linux-gnu.cmake), incrementally (prebuildify moves the addon out after each build).
set -euo pipefail
cd "$(dirname "$0")/.."
host_arch=$(node -p process.arch)
target_arch=${PREBUILD_ARCH:-$host_arch}

if [ "$target_arch" = "$host_arch" ]; then
  npx cmake-js rebuild --out build
elif [ "$target_arch" = arm64 ] && [ "$(uname -s)-$host_arch" = Linux-x64 ]; then
  npx cmake-js compile --out build-arm64/build --arch arm64 \
    --CDCMAKE_TOOLCHAIN_FILE="$PWD/scripts/aarch64-linux-gnu.cmake" --CDGPUFORMER_CUDA=OFF
else
  echo "prebuild-cmake.sh: no cross build from $(uname -s)-$host_arch to $target_arch" >&2
  exit 1
fi
