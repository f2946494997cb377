#!/usr/bin/env bash
# The distribution checks, on the tarball `npm pack` makes (it must hold both prebuilt binaries), each in an
# empty project:
#   1. linux-x64: installed with no compiler reachable (PATH holds only node, npm and sh; CC and CXX are
#      `false`), then gpuformer loads from prebuilds/linux-x64, lists devices and runs one op (CommonJS and ESM).
#   2. linux-arm64: the same under qemu-aarch64, npm itself run by the official arm64 node
#      (scripts/arm64-node.sh); the binary must come from prebuilds/linux-arm64.
#   3. a platform with no prebuilt binary (node-gyp-build honours npm_config_platform): require fails with
#      ERR_GPUFORMER_UNSUPPORTED and the README's source-build commands.
#   4. the README's source build on Linux: the package with its prebuilds/ removed, installed with its install
#      script blocked, fails to load with that message; the README's commands, run as written with no network
#      (a fresh network namespace), compile the CPU backend with node-gyp from binding.gyp; then it loads and runs.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
for p in linux-x64 linux-arm64; do
  [ -f "prebuilds/$p/gpuformer.node" ] || { echo "no prebuilt binary prebuilds/$p/gpuformer.node (npm run prebuilds)"; exit 1; }
done

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tarball="$work/$(npm pack --silent --pack-destination "$work" | tail -n 1)"
echo "packed $(basename "$tarball") ($(du -h "$tarball" | cut -f1))"
listing=$(tar -tzf "$tarball")
for p in linux-x64 linux-arm64; do
  grep -qx "package/prebuilds/$p/gpuformer.node" <<< "$listing" || { echo "the tarball lacks prebuilds/$p"; exit 1; }
done

# check.js: load gpuformer, say which binary node-gyp-build picked (it must be the one expected), list
# devices and run one op on the cpu.
cat > "$work/check.js" <<'JS'
const path = require('path');
const gf = require('gpuformer');
const pkg = path.dirname(require.resolve('gpuformer/package.json'));
const binary = path.relative(pkg, require('node-gyp-build').path(pkg));
const expected = process.argv[2];
if (binary !== expected) throw new Error(`loaded ${binary}, expected ${expected}`);
const list = gf.devices();
console.log(`${process.platform}-${process.arch}: ${binary}; devices:`, JSON.stringify(list));
if (list[0].id !== 'cpu') throw new Error('cpu missing from devices()');
const a = gf.Tensor.fromData('cpu', 'f32', [4], new Float32Array([1, 2, 3, 4]));
const b = gf.Tensor.fromData('cpu', 'f32', [4], new Float32Array([10, 20, 30, 40]));
const out = gf.Tensor.empty('cpu', 'f32', [4]);
gf.runSync([gf.ops.add({ a, b, out })]);
const got = Array.from(new Float32Array(out.read()));
if (got.join() !== '11,22,33,44') throw new Error('add gave ' + got);
console.log('add:', got.join(' '));
JS
cat > "$work/check.mjs" <<'JS'
import { devices } from 'gpuformer';
if (devices()[0].id !== 'cpu') throw new Error('ESM import failed');
console.log('ESM import ok');
JS
# expect-unsupported.js: require must fail with ERR_GPUFORMER_UNSUPPORTED naming each command given.
cat > "$work/expect-unsupported.js" <<'JS'
let err;
try { require('gpuformer'); } catch (e) { err = e; }
if (!err || err.code !== 'ERR_GPUFORMER_UNSUPPORTED') throw new Error(`expected ERR_GPUFORMER_UNSUPPORTED, got ${err && err.stack}`);
for (const command of process.argv.slice(2)) {
  if (!err.message.includes(`\n  ${command}\n`)) throw new Error(`the message does not say to run "${command}":\n${err.message}`);
}
console.log(`require('gpuformer') fails as it should:\n${err.message}`);
JS

# readme-commands.js: the commands of the shell block that follows "build the CPU backend from source" in the
# README's Install section, one a line.
cat > "$work/readme-commands.js" <<'JS'
const md = require('fs').readFileSync(process.argv[2], 'utf8');
const at = md.indexOf('build the CPU backend from source');
const block = at < 0 ? null : /```sh\n([\s\S]*?)```/.exec(md.slice(at));
if (!block) throw new Error('README: no source-build commands after "build the CPU backend from source"');
console.log(block[1].trim());
JS

new_app() {  # an empty project folder
  rm -rf "$work/app" && mkdir -p "$work/app" && cd "$work/app"
  echo '{ "name": "gpuformer-install-check", "version": "1.0.0", "private": true }' > package.json
  cp "$work/check.js" "$work/check.mjs" "$work/expect-unsupported.js" .   # require() resolves from the script's folder
}
bin_dir() {  # $1: a folder for PATH holding only node (runs the command $2), npm (run by that node) and sh
  mkdir -p "$1"
  printf '#!/bin/sh\nexec %s "$@"\n' "$2" > "$1/node"
  printf '#!/bin/sh\nexec "%s/node" "%s" "$@"\n' "$1" "$(dirname "$(readlink -f "$(command -v npm)")")/npm-cli.js" > "$1/npm"
  chmod +x "$1/node" "$1/npm"
  ln -s "$(command -v sh)" "$1/sh"   # npm runs install scripts through sh
  for tool in g++ gcc cc c++ nvcc cmake make aarch64-linux-gnu-g++; do
    if PATH="$1" command -v "$tool" >/dev/null 2>&1; then echo "$tool is still reachable"; exit 1; fi
  done
}
# The machine's npm configuration (registry, CA file, nodedir) is found through node's prefix, which the
# arm64 node's differs from: name it.
npm_globalconfig=$(npm config get globalconfig)
clean_env() {
  env -i HOME="$HOME" PATH="$1" CC=false CXX=false npm_config_globalconfig="$npm_globalconfig" \
    npm_config_nodedir="${npm_config_nodedir:-}" "${@:2}"
}
install_and_check() {  # $1: bin folder, $2: the binary that must load
  new_app
  clean_env "$1" npm install --no-audit --no-fund "$tarball"
  clean_env "$1" node check.js "$2"
  clean_env "$1" node check.mjs
  test ! -d node_modules/gpuformer/build || { echo "a build/ folder appeared: something compiled"; exit 1; }
}

echo "== 1. linux-x64, no compiler"
bin_dir "$work/bin-x64" "$(command -v node)"
install_and_check "$work/bin-x64" prebuilds/linux-x64/gpuformer.node

echo "== 2. linux-arm64 under qemu-aarch64 (npm and gpuformer run by the arm64 node), no compiler"
arm64_node=$(bash "$root/scripts/arm64-node.sh" --path)   # installs it if needed
bin_dir "$work/bin-arm64" "$(command -v qemu-aarch64-static) -L /usr/aarch64-linux-gnu -cpu max $arm64_node"
install_and_check "$work/bin-arm64" prebuilds/linux-arm64/gpuformer.node

echo "== 3. a platform without a prebuilt binary (npm_config_platform=darwin)"
readme_commands=()
while IFS= read -r line; do readme_commands+=("$line"); done < <(node "$work/readme-commands.js" "$root/README.md")
[ "${#readme_commands[@]}" -ge 1 ] || { echo "README: no source-build commands"; exit 1; }
said=$(clean_env "$work/bin-x64" npm_config_platform=darwin node expect-unsupported.js "${readme_commands[@]}")
echo "$said"
[[ "$said" == *"no prebuilt binary for darwin-x64 (prebuilt: linux-arm64, linux-x64)"* ]] || { echo "the message does not say so"; exit 1; }

echo "== 4. the README's source build on Linux (prebuilds removed, no network)"
mkdir -p "$work/nobin" && tar -xzf "$tarball" -C "$work/nobin"
rm -rf "$work/nobin/package/prebuilds"
(cd "$work/nobin" && tar -czf ../gpuformer-no-prebuilds.tgz package)
new_app
# as npm does where install scripts are blocked (strict-allow-scripts, or --ignore-scripts)
npm install --no-audit --no-fund --ignore-scripts "$work/gpuformer-no-prebuilds.tgz"
node expect-unsupported.js "${readme_commands[@]}" >/dev/null
for command in "${readme_commands[@]}"; do
  echo "\$ $command"
  # --strict-allow-scripts: the rebuild fails unless the approval really covers gpuformer
  unshare --net env npm_config_strict_allow_scripts=true JOBS=2 bash -c "$command"
done
node check.js build/Release/gpuformer.node
echo "pack-and-install check passed"
