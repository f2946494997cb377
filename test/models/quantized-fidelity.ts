/**
 * How far weights quantized at load (dtype 'q8_0' | 'q4_0' | 'q4_1') move a model from its float32 self, on
 * the CPU: the measurements test/models/quantized.test.ts holds to their bounds and
 * bench/loader/quantized-fidelity.ts prints for the README.
 *
 * Decoders: the float32 greedy path of each case is the reference. Both precisions are teacher-forced along it
 * one token per step (the decode path's own arithmetic: one-row matmuls on 8-bit activations), which gives at
 * every step the float32 margin (top logit − runner-up) and the largest change quantization makes to any logit.
 * Where the margin exceeds twice that change the argmax cannot move, so quantized greedy decoding must agree
 * with float32 up to the first step where it does not (`decided`); the quantized model's own greedy ids
 * (generated freely) are compared with float32's for how far they agree (`agree`).
 */
import * as path from 'path';
import { loadModel } from '../../lib/engine/load';
import { planForSource } from '../../lib/engine/plan';
import { openModel } from '../../lib/loader/open';
import { loadWeights } from '../../lib/loader/weights';
import { Tensor } from '../../lib/native';
import { ops, run } from '../../lib/ops';
import { createRunner } from '../../lib/models/runner';
import type { DtypeChoice } from '../../lib/models/precision';
import type { ModelDecoderRunner } from '../../lib/models/decoder-runner';
import type { ModelEncoderRunner } from '../../lib/models/encoder-runner';
import { FIXTURES, MODELS, TestBlocks, readCases } from './golden';
import { greedy } from '../helpers/sampling';

const BLOCK = 16;

/** A decoder and its cases: token-id prompts and how many greedy steps to take. */
export interface DecoderCases {
  name: string;
  dir: string;
  cases: Array<{ name: string; prompt: number[]; steps: number }>;
}

/** The llama-family golden fixtures (random weights, made by transformers). */
export function llamaFixtures(): DecoderCases[] {
  return ['llama-gqa', 'qwen2-bias-bf16', 'llama3-rope-scaled-sharded'].map((name) => ({
    name, dir: path.join(FIXTURES, name),
    cases: readCases(name).map((c) => ({ name: c.name, prompt: c.input_ids, steps: c.greedy_steps! })),
  }));
}

/** The trained llama2.c stories260K (its MLP's down_proj rows of 172 are not whole blocks: they stay float). */
export function llama2c(): DecoderCases {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ref = require(path.join(FIXTURES, 'llama2c-260K.json')) as { cases: Array<{ input_ids: number[]; greedy: number[] }> };
  return {
    name: 'llama2c-260K', dir: path.join(MODELS, 'llama2c-260K'),
    cases: ref.cases.map((c, i) => ({ name: `case${i}`, prompt: c.input_ids, steps: Math.min(64, c.greedy.length) })),
  };
}

export interface CaseFidelity {
  model: string;
  case: string;
  steps: number;
  /** greedy ids of the quantized model (free running) equal float32's for this many steps */
  agree: number;
  /** steps before the first one whose float32 margin is at most twice the largest logit change (argmax may move) */
  decided: number;
  /** the smallest float32 margin along the path, and the largest logit change by quantization */
  minMargin: number;
  maxLogitChange: number;
  /** max |quantized − float32| ÷ max |float32| over every step's logits */
  relLogitError: number;
}

async function openDecoder(dir: string, dtype: DtypeChoice, longest: number): Promise<ModelDecoderRunner> {
  const { runner } = await loadModel(dir, { device: 'cpu', dtype, maxModelLen: longest, maxNumBatchedTokens: 512, maxNumSeqs: 2, blockSize: BLOCK });
  return runner as ModelDecoderRunner;
}

/** Greedy ids from a prompt, one batched prefill then one token per step. */
async function greedyIds(r: ModelDecoderRunner, prompt: number[], steps: number): Promise<number[]> {
  const table = new TestBlocks(BLOCK, r.numBlocks).take(prompt.length + steps);
  const ids: number[] = [];
  for (let s = 0; s < steps; s++) {
    const res = await r.step([s === 0
      ? { tokens: prompt, start: 0, blockTable: table, sample: greedy(0) }
      : { tokens: [ids[s - 1]], start: prompt.length + s - 1, blockTable: table, sample: greedy(s) }]);
    ids.push(res.tokens[0]);
  }
  return ids;
}

/** The logits of each step along a given path: the prompt prefilled, then the path's tokens one at a time. */
async function pathLogits(r: ModelDecoderRunner, prompt: number[], path: number[]): Promise<Float32Array[]> {
  const table = new TestBlocks(BLOCK, r.numBlocks).take(prompt.length + path.length);
  const [all] = await r.logits([{ tokens: prompt, start: 0, blockTable: table, sample: null }]);
  const V = all.length / prompt.length;
  const out = [all.subarray((prompt.length - 1) * V)];
  for (let s = 0; s + 1 < path.length; s++) {
    const [row] = await r.logits([{ tokens: [path[s]], start: prompt.length + s, blockTable: table, sample: null }]);
    out.push(row);
  }
  return out;
}

function topTwo(x: Float32Array): [number, number] {
  let a = -Infinity;
  let b = -Infinity;
  for (const v of x) {
    if (v > a) { b = a; a = v; } else if (v > b) b = v;
  }
  return [a, b];
}

/** Every case of a decoder in `dtype` against float32. */
export async function decoderFidelity(m: DecoderCases, dtype: DtypeChoice): Promise<CaseFidelity[]> {
  const longest = Math.max(...m.cases.map((c) => c.prompt.length + c.steps));
  const f32 = await openDecoder(m.dir, 'float32', longest);
  const q = await openDecoder(m.dir, dtype, longest);
  try {
    const out: CaseFidelity[] = [];
    for (const c of m.cases) {
      const ref = await greedyIds(f32, c.prompt, c.steps);
      const own = await greedyIds(q, c.prompt, c.steps);
      const fl = await pathLogits(f32, c.prompt, ref);
      const ql = await pathLogits(q, c.prompt, ref);
      let decided = c.steps;
      let minMargin = Infinity;
      let maxChange = 0;
      let maxRef = 0;
      for (let s = 0; s < c.steps; s++) {
        const [a, b] = topTwo(fl[s]);
        let change = 0;
        for (let v = 0; v < fl[s].length; v++) {
          change = Math.max(change, Math.abs(ql[s][v] - fl[s][v]));
          maxRef = Math.max(maxRef, Math.abs(fl[s][v]));
        }
        minMargin = Math.min(minMargin, a - b);
        maxChange = Math.max(maxChange, change);
        if (decided === c.steps && a - b <= 2 * change) decided = s;
      }
      const firstDiff = own.findIndex((id, s) => id !== ref[s]);
      out.push({
        model: m.name, case: c.name, steps: c.steps, agree: firstDiff < 0 ? c.steps : firstDiff, decided,
        minMargin, maxLogitChange: maxChange, relLogitError: maxChange / maxRef,
      });
    }
    return out;
  } finally {
    f32.dispose();
    q.dispose();
  }
}

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0; let aa = 0; let bb = 0;
  for (let i = 0; i < a.length; i++) { ab += a[i] * b[i]; aa += a[i] * a[i]; bb += b[i] * b[i]; }
  return ab / Math.sqrt(aa * bb);
}

/** all-MiniLM-L6-v2's reference sentences as ids (sentence-transformers' own, truncated to 256). */
export function miniLmSentences(): number[][] {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const ref = require(path.join(FIXTURES, 'all-MiniLM-L6-v2.json')) as { cases: Array<{ input_ids: number[] }> };
  return ref.cases.map((c) => c.input_ids);
}

const MINILM_OPTIONS = { device: 'cpu', maxNumSeqs: 16, maxNumBatchedTokens: 4096 } as const;

/**
 * all-MiniLM-L6-v2 with its weights quantized at load in `dtype` and widened back to f32, run by float32's
 * kernels: the quantizer's error alone. (Loading with `dtype` itself adds the CPU kernels' 8-bit activations:
 * native/cpu/linear_kernels.h, quantized weights always meet llama.cpp's Q8 activation blocks.)
 */
async function dequantizedMiniLm(dir: string, dtype: DtypeChoice): Promise<ModelEncoderRunner> {
  const source = await openModel(dir);
  const quantized = planForSource(source, { ...MINILM_OPTIONS, dtype });
  const float32 = planForSource(source, { ...MINILM_OPTIONS, dtype: 'float32' });
  const loaded = await loadWeights(source.tensors, quantized.weightPlan.requests, { device: 'cpu' });
  const widened = new Map<string, Tensor>();
  try {
    for (const [name, t] of loaded) {
      const out = Tensor.empty('cpu', 'f32', t.shape, 'weights');
      widened.set(name, out);
      await run([ops.cast({ x: t, out })]);
    }
  } catch (e) {
    for (const t of widened.values()) t.dispose();
    throw e;
  } finally {
    for (const t of loaded.values()) t.dispose();
  }
  return createRunner(source.spec, float32.weightPlan, widened, float32.runner) as ModelEncoderRunner;
}

/**
 * Cosine of each reference sentence's embedding in `dtype` to its float32 embedding: as loaded and run
 * ('run'), or with the quantized weights widened back to f32 under float32's kernels ('weights': the
 * quantizer's error alone).
 */
export async function miniLmCosines(dtype: DtypeChoice, what: 'run' | 'weights' = 'run'): Promise<number[]> {
  const dir = path.join(MODELS, 'all-MiniLM-L6-v2');
  const ids = miniLmSentences();
  const embed = async (runner: ModelEncoderRunner) => {
    try {
      return await runner.embed(ids, { pooling: 'mean', normalize: true });
    } finally {
      runner.dispose();
    }
  };
  const open = async (d: DtypeChoice) => (await loadModel(dir, { ...MINILM_OPTIONS, dtype: d })).runner as ModelEncoderRunner;
  const f32 = await embed(await open('float32'));
  const q = await embed(what === 'run' ? await open(dtype) : await dequantizedMiniLm(dir, dtype));
  return f32.map((v, i) => cosine(v, q[i]));
}
