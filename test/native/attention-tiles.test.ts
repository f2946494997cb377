/**
 * The index arithmetic of the prefill attention kernels (native/cuda/attention_tiles.h: key tiles and masks,
 * paged tile loads, the Hopper kernel's wgmma descriptors over TMA-swizzled shared memory, the wgmma
 * register layouts, the epilogue's staging) checked on the host by attention-tiles.cc against brute-force
 * loops and the PTX ISA's layout definitions: what a machine without a GPU can prove about code that only
 * runs on one. Built with the C++ compiler the native build uses.
 */
import { execFileSync, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

const root = path.resolve(__dirname, '../..');

test('attention tile arithmetic agrees with brute force and the PTX ISA layouts', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gf-attn-tiles-'));
  try {
    const exe = path.join(dir, 'attention-tiles');
    const cxx = process.env.CXX ?? 'c++';
    execFileSync(cxx, ['-std=c++17', '-O1', '-Wall', '-Wextra', '-Werror', '-I', path.join(root, 'native'),
      path.join(__dirname, 'attention-tiles.cc'), '-o', exe], { stdio: 'pipe' });
    const r = spawnSync(exe, { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`attention-tiles failed (${r.status ?? r.signal}):\n${r.stderr}`);
    expect(r.stdout.trim()).toBe('ok');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
