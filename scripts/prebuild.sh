#!/usr/bin/env bash
# npm run prebuilds: the binaries the package ships in prebuilds/<platform>-<arch>/, which node-gyp-build
# loads at require time (so `npm install gpuformer` needs no compiler and no install script):
#   - this machine's platform, built natively by prebuildify through scripts/prebuild-cmake.sh (cmake-js; the
#     CUDA backend too wherever nvcc is found);
#   - on linux-x64, also linux-arm64: the CPU backend cross-compiled with Debian's aarch64 toolchain
#     (apt-get install g++-aarch64-linux-gnu), tested under emulation by scripts/test-arm64.sh.
# (Not named "prebuild": npm would run a script of that name before every `npm run build`.)
set -euo pipefail
cd "$(dirname "$0")/.."

npx prebuildify --napi --strip --node-gyp ./scripts/prebuild-cmake.sh

if [ "$(node -p 'process.platform + "-" + process.arch')" = linux-x64 ]; then
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    echo "prebuilds: the linux-arm64 binary needs Debian's aarch64 cross compiler:" >&2
    echo "  apt-get install g++-aarch64-linux-gnu" >&2
    exit 1
  fi
  # prebuildify runs the build in --cwd and takes the addon from <cwd>/build/Release, so the cross build gets a
  # folder of its own (build-arm64/) and leaves this machine's build/ alone; --out puts it in ./prebuilds.
  mkdir -p build-arm64
  npx prebuildify --napi --strip --arch arm64 --strip-bin aarch64-linux-gnu-strip --name gpuformer \
    --cwd build-arm64 --out . --node-gyp "$PWD/scripts/prebuild-cmake.sh"
fi
ls -l prebuilds/*/
