/** Loads a golden fixture model into a runner (no engine loop) on the CPU in f32, for runner-level tests. */
import * as path from 'path';
import { loadModel } from '../../lib/engine/load';
import type { Runner } from '../../lib/models/runner';
import { FIXTURES } from './golden';

export interface FixtureRunnerOptions {
  maxModelLen: number;
  maxNumBatchedTokens: number;
  maxNumSeqs: number;
  blockSize?: number;
}

export async function openFixtureRunner<R extends Runner>(name: string, o: FixtureRunnerOptions): Promise<R> {
  const { runner } = await loadModel(path.join(FIXTURES, name), { device: 'cpu', dtype: 'float32', ...o });
  return runner as R;
}
