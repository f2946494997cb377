/**
 * Fidelity at real shapes: random-weight Llama models of Llama-3.2-1B's and Llama-2-7B's widths, made on the
 * GPU machine by bench/peers/torch_fidelity.py with transformers' float64 answers beside them (the fixtures'
 * format), on the device as decoder-golden.ts checks the fixtures. Runs when GPUFORMER_FIDELITY_DIR names the
 * folder the script wrote (scripts/gpu-check.sh does); otherwise this suite has nothing to read and is skipped.
 *
 * Tolerance: a model of 16 layers and width 2048 in half precision lands farther from float64 than the
 * fixtures' 2-layer toys, and the script measures how far transformers' own float16 / bfloat16 runs land
 * (cases.json torch_errors). gpuformer is held to the fixtures' tolerance or 2 × that, whichever is larger;
 * f32 to the fixtures' 1e-4, with greedy continuations identical.
 */
import * as fs from 'fs';
import * as path from 'path';
import { TOLERANCE } from '../helpers/compare';
import type { Act } from './both-devices';
import { describeDecoderGolden, PRECISIONS } from './decoder-golden';

const ROOT = process.env.GPUFORMER_FIDELITY_DIR;

interface Made { cases: Array<{ greedy_steps?: number }>; torch_errors?: Partial<Record<Act, number>> }
const made = (dir: string): Made => JSON.parse(fs.readFileSync(path.join(dir, 'cases.json'), 'utf8'));

/** The decoder directories under ROOT (those whose cases have greedy continuations). */
const dirs = ROOT && fs.existsSync(ROOT)
  ? fs.readdirSync(ROOT).map((d) => path.resolve(ROOT, d))
    .filter((d) => fs.existsSync(path.join(d, 'cases.json')) && made(d).cases.every((c) => c.greedy_steps))
  : [];

/** Bytes of a directory's safetensors: the weights the load will hold (twice that in f32 from f16 files). */
const weightBytes = (dir: string) => fs.readdirSync(dir).filter((f) => f.endsWith('.safetensors') && f !== 'golden.safetensors')
  .reduce((n, f) => n + fs.statSync(path.join(dir, f)).size, 0);

if (dirs.length === 0) {
  describe.skip(`fidelity at real shapes: no models (GPUFORMER_FIDELITY_DIR=${ROOT ?? ''})`, () => {
    it('reads the models bench/peers/torch_fidelity.py makes', () => undefined);
  });
} else {
  describe.each(dirs)('fidelity at real shapes: %s', (dir) => {
    const errors = made(dir).torch_errors ?? {};
    const bytes = weightBytes(dir);
    describeDecoderGolden(path.basename(dir), dir, {
      fixture: dir,
      precisions: PRECISIONS,
      tolerance: (a) => (a === 'f32' ? TOLERANCE.f32 : Math.max(TOLERANCE[a], 2 * (errors[a] ?? 0))),
      // weights (twice the file in f32), plus room for the KV cache and activations of a few hundred tokens
      budgetBytes: (a) => Math.ceil(bytes * (a === 'f32' ? 2 : 1) * 1.25) + (1 << 30),
    });
  });
}
