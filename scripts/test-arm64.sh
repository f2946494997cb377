#!/usr/bin/env bash
# npm run test:arm64: tests prebuilds/linux-arm64/gpuformer.node on an x86-64 Linux machine, under qemu-aarch64
# with the official arm64 Node.js (scripts/arm64-node.sh):
#   1. on an emulated CPU with every extension (-cpu max: NEON with SDOT), in jest:
#      test/native/foundation.test.ts   the addon loads, lists its devices, tensors and coded errors work
#      test/ops/small-shapes.test.ts    every op on small shapes against its float64 reference; linear batch
#                                       invariant and bit-identical on every Arm tier (portable, neon without
#                                       and with SDOT, each in a child process; GPUFORMER_TEST_ALL_TIERS=1
#                                       makes a tier the emulated CPU does not run a failure, not a skip)
#      test/engine/engine-real.test.ts  the real models: all-MiniLM-L6-v2 embeddings at cosine >= 0.9999 to
#                                       sentence-transformers, llama2c-260K greedy tokens identical to the reference
#   2. on a CPU without SDOT (-cpu cortex-a53): detected as neon without dotprod, and its linear kernels give
#      the same bits as the portable ones.
# A subset: the full op suites are sized for native speed and would take most of an hour under emulation.
# Extra arguments go to the jest run (e.g. --json --outputFile=FILE). Needs npm run prebuilds first.
set -euo pipefail
cd "$(dirname "$0")/.."
addon=prebuilds/linux-arm64/gpuformer.node
[ -f "$addon" ] || { echo "test-arm64.sh: no $addon (npm run prebuilds makes it)" >&2; exit 1; }
export GPUFORMER_ADDON="$PWD/$addon"
node_bin=$(bash scripts/arm64-node.sh --path)
# Child processes (test/helpers/fresh-process.ts) start through qemu too, on the same emulated CPU: an
# emulated process cannot start an arm64 program by itself.
on_cpu() {  # QEMU_CPU, then the emulated node's arguments
  local cpu=$1
  shift
  QEMU_CPU=$cpu GPUFORMER_TEST_NODE="[\"$(command -v qemu-aarch64-static)\", \"-L\", \"/usr/aarch64-linux-gnu\", \"-cpu\", \"$cpu\", \"$node_bin\"]" \
    bash scripts/arm64-node.sh "$@"
}

echo "== 1. qemu-aarch64 -cpu max (NEON + SDOT)"
status=0
# every Arm tier must run here (tiers.ts): none may pass as skipped. Emulation runs tens of times slower than
# the CPU jest.config.js sizes its 2-minute test timeout for (the MiniLM tests embed with two engines).
GPUFORMER_TEST_ALL_TIERS=1 on_cpu max node_modules/jest/bin/jest.js --runInBand --ci --testTimeout=600000 \
  test/native/foundation.test.ts test/ops/small-shapes.test.ts test/engine/engine-real.test.ts "$@" || status=$?

echo "== 2. qemu-aarch64 -cpu cortex-a53 (NEON without SDOT) against the portable kernels"
# linear-cases' invariance cases in fresh-process-child.js, which also reports the CPU level the addon ran at
cases=$(node -p "JSON.stringify(['f32', 'f16', 'bf16', 'q8_0', 'q4_0', 'q4_1'].map((wdtype, i) => ({ wdtype, seed: 101 + i, threads: 2, rows: [1, 3, 9] })))")
invariance() { on_cpu "$1" test/helpers/fresh-process-child.js "$PWD/test/ops/linear-cases.ts" runInvariance "$cases"; }
a53=$(invariance cortex-a53)
portable=$(GPUFORMER_CPU_ISA=portable invariance max)
node -e "
  const [a53, portable] = process.argv.slice(1).map((s) => JSON.parse(s));
  for (const r of [a53, portable]) if (!r.ok) throw new Error(r.error);
  const { tier, dotprod, machine } = a53.isa;
  if (tier !== 'neon' || dotprod || machine.dotprod) throw new Error('cortex-a53 ran at ' + JSON.stringify(a53.isa));
  if (portable.isa.tier !== 'portable') throw new Error('GPUFORMER_CPU_ISA=portable ran at ' + JSON.stringify(portable.isa));
  a53.result.forEach((r, i) => {
    const bad = r.mismatches.filter((m) => m.count > 0);
    if (bad.length) throw new Error('case ' + i + ' is not batch invariant: ' + JSON.stringify(bad));
    if (r.digest !== portable.result[i].digest) throw new Error('case ' + i + ': the neon bits differ from the portable ones');
  });
  console.log('cortex-a53: neon without dotprod; linear bit-identical to portable for every weight dtype');
" "$a53" "$portable" || status=1
exit "$status"
