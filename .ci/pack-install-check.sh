#!/usr/bin/env bash
# The distribution check: `npm pack` the package (with its prebuilt binary), install the tarball into an
# empty project where no compiler can be found (no g++, cc, nvcc, cmake or make on PATH; CC and CXX set to
# `false`), then load gpuformer there, list devices and run one op.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
ls prebuilds/linux-x64/*.node >/dev/null || { echo "no prebuilt binary in prebuilds/linux-x64"; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball=$(npm pack --silent --pack-destination "$work" | tail -n 1)
echo "packed $tarball ($(du -h "$work/$tarball" | cut -f1))"

# A PATH holding only node and npm: any attempt to compile fails loudly.
mkdir -p "$work/bin" "$work/app"
ln -s "$(command -v node)" "$work/bin/node"
ln -s "$(command -v npm)" "$work/bin/npm"
ln -s "$(command -v sh)" "$work/bin/sh"   # npm runs install scripts through sh
for tool in g++ gcc cc c++ nvcc cmake make; do
  if PATH="$work/bin" command -v "$tool" >/dev/null 2>&1; then echo "$tool is still reachable"; exit 1; fi
done

cd "$work/app"
echo '{ "name": "gpuformer-install-check", "version": "1.0.0", "private": true }' > package.json
env -i HOME="$HOME" PATH="$work/bin" CC=false CXX=false npm_config_nodedir="${npm_config_nodedir:-}" \
  npm install --no-audit --no-fund "$work/$tarball"

cat > check.js <<'JS'
const gf = require('gpuformer');
const list = gf.devices();
console.log('devices:', JSON.stringify(list));
if (list[0].id !== 'cpu') throw new Error('cpu missing from devices()');
// one op: out = a + b on the cpu
const a = gf.Tensor.fromData('cpu', 'f32', [4], new Float32Array([1, 2, 3, 4]));
const b = gf.Tensor.fromData('cpu', 'f32', [4], new Float32Array([10, 20, 30, 40]));
const out = gf.Tensor.empty('cpu', 'f32', [4]);
gf.runSync([gf.ops.add({ a, b, out })]);
const got = Array.from(new Float32Array(out.read()));
if (got.join() !== '11,22,33,44') throw new Error('add gave ' + got);
console.log('add:', got.join(' '));
JS
env -i HOME="$HOME" PATH="$work/bin" CC=false CXX=false node check.js
cat > check.mjs <<'JS'
import { devices } from 'gpuformer';
if (devices()[0].id !== 'cpu') throw new Error('ESM import failed');
console.log('ESM import ok');
JS
env -i HOME="$HOME" PATH="$work/bin" node check.mjs
# the binary must come from prebuilds/, not from a compile
test ! -d node_modules/gpuformer/build || { echo "a build/ folder appeared: something compiled"; exit 1; }
echo "pack-and-install check passed"
