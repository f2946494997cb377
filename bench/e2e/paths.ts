/** Where things are, from the repository root (found from this file, compiled or not). */
import { existsSync, readFileSync } from 'fs';
import { dirname, join, resolve } from 'path';

function findRepoRoot(from: string): string {
  for (let d = from; ; d = dirname(d)) {
    const pkg = join(d, 'package.json');
    if (existsSync(pkg) && JSON.parse(readFileSync(pkg, 'utf8')).name === 'gpuformer') return d;
    if (dirname(d) === d) throw new Error(`no gpuformer package.json above ${from}`);
  }
}

export const REPO_ROOT = findRepoRoot(__dirname);
/** git-ignored: generated models, GGUF conversions, the compiled bench */
export const CACHE_DIR = join(REPO_ROOT, 'bench', '.cache');
export const RESULTS_DIR = join(REPO_ROOT, 'bench', 'results');
export const SHARED_MODELS = resolve(REPO_ROOT, '..', 'shared', 'models');
export const SHARED_FIXTURES = resolve(REPO_ROOT, '..', 'shared', 'fixtures');

/** An installed package's version (read from its package.json: ESM-only packages do not export it). */
export function packageVersion(name: string): string {
  try {
    return JSON.parse(readFileSync(join(REPO_ROOT, 'node_modules', name, 'package.json'), 'utf8')).version;
  } catch {
    return '?';
  }
}
