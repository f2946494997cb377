/**
 * The addon bench code loads: the compiled bench lives in bench/.cache/build, outside the search path of
 * lib/native (node-gyp-build from the package root), so bench scripts point it at the repository's own build.
 */
import { REPO_ROOT } from './paths';

/** GPUFORMER_ADDON if set, else what node-gyp-build finds from the repository root (a build or a prebuild). */
export function addonPath(): string | undefined {
  if (process.env.GPUFORMER_ADDON) return process.env.GPUFORMER_ADDON;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    return require('node-gyp-build').path(REPO_ROOT);
  } catch {
    return undefined;
  }
}

/** Makes lib/native load the repository's addon in this process: call before requiring lib code that loads it. */
export function useRepoAddon(): void {
  const p = addonPath();
  if (p) process.env.GPUFORMER_ADDON = p;
}

/**
 * The project's block quantizer (lib/ops/quantize: the native reference quantizer, the code weights quantized
 * at load go through), loaded on first use so that importing a bench module never loads the addon.
 */
export function quantizer(): typeof import('../../lib/ops/quantize').quantizeBlocks {
  useRepoAddon();
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  return (require('../../lib/ops/quantize') as typeof import('../../lib/ops/quantize')).quantizeBlocks;
}
