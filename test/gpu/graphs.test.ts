/**
 * CUDA graphs: a prepared program on one CUDA device runs eagerly once, is captured on its second run and
 * replayed from then on (native/addon/exec.cc). A replay must compute what the eager run computes on the
 * data then in its buffers; decode steps of the engine go through this path (the runner's prepared decode
 * programs), and their greedy tokens must equal those of the same engine with graphs off.
 */
import * as path from 'path';
import { Engine } from '../../lib/engine/engine';
import { native, Tensor } from '../../lib/native';
import { ops, runSync } from '../../lib/ops';
import { expectClose, poison } from '../helpers/compare';
import { uniform } from '../helpers/random';
import { decodeHalfBits } from '../helpers/reference';
import { FIXTURES } from '../models/golden';
import { describeCuda, VS_CPU } from './both-devices';

const GPU = 'cuda:0';

describeCuda('prepared programs as CUDA graphs', () => {
  test('eager, then captured, then replayed: every run equals the CPU on the data of that run', async () => {
    const [M, K, N] = [5, 64, 48];
    // f16 weights and inputs: the CPU computes from exactly the bits the device holds (its activations are f32)
    const half = (data: Float32Array, shape: number[]) => Tensor.fromData('cpu', 'f16', shape, data, 'weights', 'f32');
    const w = half(uniform(N * K, 1), [N, K]);
    const b = half(uniform(N, 2), [N]);
    const gpu = {
      x: Tensor.empty(GPU, 'f16', [M, K], 'activations'),
      w: Tensor.fromData(GPU, 'f16', [N, K], new Uint16Array(w.read()), 'weights'),
      b: Tensor.fromData(GPU, 'f16', [N], new Uint16Array(b.read()), 'weights'),
      h: Tensor.empty(GPU, 'f16', [M, N], 'activations'),
      out: Tensor.empty(GPU, 'f16', [M, N], 'activations'),
    };
    const cpu = {
      x: Tensor.empty('cpu', 'f32', [M, K], 'activations'),
      h: Tensor.empty('cpu', 'f32', [M, N], 'activations'),
      out: Tensor.empty('cpu', 'f32', [M, N], 'activations'),
    };
    const program = native.prepare([
      ops.linear({ x: gpu.x, w: gpu.w, bias: gpu.b, out: gpu.h }),
      ops.gelu({ x: gpu.h, out: gpu.out, tanh: false }),
    ]);
    try {
      for (let run = 0; run < 4; run++) {
        const xHalf = half(uniform(M * K, 10 + run), [M, K]); // fresh inputs every run
        gpu.x.write(new Uint16Array(xHalf.read()));
        runSync([
          ops.cast({ x: xHalf, out: cpu.x }),
          ops.linear({ x: cpu.x, w, bias: b, out: cpu.h }),
          ops.gelu({ x: cpu.h, out: cpu.out, tanh: false }),
        ]);
        xHalf.dispose();
        poison(gpu.out);
        await native.exec(program);
        expect(program.graphNote).toBe('');
        expect(program.graphed).toBe(run >= 1); // the first run is the eager warm-up
        const got = decodeHalfBits(new Uint16Array(gpu.out.read()), 'f16');
        expectClose(got, new Float32Array(cpu.out.read()), VS_CPU.f16, `run ${run}`);
      }
    } finally {
      program.dispose();
      for (const t of [w, b, ...Object.values(gpu), ...Object.values(cpu)]) t.dispose();
    }
  });

  test('engine decode: graphed steps give the same greedy tokens as eager ones', async () => {
    const prompt = [1, 5, 9, 14, 3, 7, 2, 11];
    const decode = async (graphs: boolean) => {
      native.setCudaGraphs(graphs);
      const engine = await Engine.load(path.join(FIXTURES, 'llama-gqa'), { device: GPU, dtype: 'float16',
        memoryBudgetBytes: 2 ** 30, maxNumSeqs: 4, maxModelLen: 128 });
      try {
        const out = await Promise.all([0, 1, 2].map((i) => engine.complete(prompt.slice(0, 4 + i), { maxTokens: 40, temperature: 0 })));
        return out.map((r) => r.tokenIds);
      } finally {
        await engine.dispose();
      }
    };
    try {
      const eager = await decode(false);
      const graphed = await decode(true);
      expect(graphed).toEqual(eager);
    } finally {
      native.setCudaGraphs(true);
    }
  });
});
