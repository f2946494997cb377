/** `gpuformer inspect MODEL`: the model's description and memory plan, without loading any weight. */
import { cpuDevice, describeCpuIsa } from '../../devices';
import { formatInspection, inspectModel } from '../../engine/inspect';
import { UsageError, bytes, flag, parse } from '../args';
import { planFlags } from '../engine-flags';
import type { CliIO } from '../io';
import type { Command } from './command';

export const inspect: Command = {
  name: 'inspect',
  summary: 'show a model\'s architecture and memory plan (reads no weights, downloads none)',
  usage: `usage: gpuformer inspect MODEL [options]
  MODEL                           a model directory (config.json alone will do), a .gguf file, or a hub id
                                  (org/name: only config.json and the weight files' headers are fetched)
  --json                          print the inspection as JSON
  --device auto|cpu|cuda|cuda:N   plan for this device (default auto)
  --device-memory SIZE            plan for a GPU of this size that this machine lacks, e.g. 80GiB
  --dtype auto|float32|float16|bfloat16|q8_0|q4_0|q4_1   q*: quantize the float matrices while loading
  --max-model-len N               longest sequence to plan for
  --max-num-seqs N                most sequences in one step
  --max-num-batched-tokens N      most tokens in one step
  --gpu-memory-utilization F      share of GPU memory to use (default 0.9)
  --memory-budget SIZE            an explicit byte budget, e.g. 4GiB
  --block-size N                  tokens per KV-cache block (default 16)
  --gpu-layers N                  offload: keep N layers on the GPU, stream the rest from pinned host memory
  --cpu-offload-gb F              offload: stream at least F GiB of layer weights from host memory`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      json: { type: 'boolean' }, device: { type: 'string' }, 'device-memory': { type: 'string' }, dtype: { type: 'string' },
      'max-model-len': { type: 'string' }, 'max-num-seqs': { type: 'string' }, 'max-num-batched-tokens': { type: 'string' },
      'gpu-memory-utilization': { type: 'string' }, 'memory-budget': { type: 'string' }, 'block-size': { type: 'string' },
      'gpu-layers': { type: 'string' }, 'cpu-offload-gb': { type: 'string' },
    }, 1);
    const model = p.positionals[0];
    if (!model) throw new UsageError('MODEL is required');
    const x = await inspectModel(model, { ...planFlags(p), deviceTotalBytes: bytes(p, 'device-memory') });
    const cpu = cpuDevice();  // the CPU kernels this machine runs (whichever device the plan is for)
    io.stdout.write(flag(p, 'json')
      ? `${JSON.stringify({ ...x, cpu }, null, 2)}\n`
      : `${formatInspection(x)}\ncpu kernels: ${describeCpuIsa(cpu.isa)}, ${cpu.threads} threads\n`);
    return 0;
  },
};
