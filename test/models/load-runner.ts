/**
 * Loads a golden fixture model into a runner (no engine loop) on the CPU in f32, for runner-level tests; and a
 * runner whose chosen layers stream from host memory (an offload split forced on any device).
 */
import * as path from 'path';
import { loadModel } from '../../lib/engine/load';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { loadWeights } from '../../lib/loader/weights';
import { streamedNames } from '../../lib/models/offload';
import type { DtypeChoice } from '../../lib/models/precision';
import { Runner, createRunner } from '../../lib/models/runner';
import type { DeviceName } from '../../lib/native';
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

/**
 * A runner on `device` whose `streamed` layers keep their weights in host memory (pinned on a GPU) and reach the
 * device through the staging slots, as an offload split would have it; none streamed: the plain runner. (The
 * planner never streams on the CPU, so the split is set here rather than planned.)
 */
export async function openStreamedRunner<R extends Runner>(dir: string, device: DeviceName, streamed: number[],
  dtype: DtypeChoice = 'auto'): Promise<R> {
  const source = await openModel(dir);
  const plan = planForSource(source, { device, dtype, maxModelLen: 128, maxNumBatchedTokens: 256, maxNumSeqs: 4, memoryBudgetBytes: 2 ** 30 });
  const requests = plan.weightPlan.requests;
  const loaded = await loadWeights(source.tensors, requests, { device, host: streamedNames(requests.keys(), streamed) });
  return createRunner(source.spec, plan.weightPlan, loaded, { ...plan.runner, ...(streamed.length ? { streamedLayers: streamed } : {}) }) as R;
}
