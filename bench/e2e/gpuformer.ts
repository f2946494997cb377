/**
 * gpuformer behind the benchmark adapters, through its public API only (DESIGN section 7): Engine.load,
 * engine.embed, engine.generate (streamed, greedy), engine.memory(). The worker sets
 * GPUFORMER_NUM_THREADS before this module loads the addon.
 */
import { Engine } from '../../lib';
import { REPO_ROOT } from './paths';
import type { Device, EmbedAdapter, GenerateAdapter, GenerateScenario, KvProbe, ModelTarget, TokenTiming } from './types';

const BLOCK_SIZE = 16;

// eslint-disable-next-line @typescript-eslint/no-var-requires
const VERSION = `gpuformer ${require(`${REPO_ROOT}/package.json`).version}`;

/** f16 on CUDA; on the CPU the weights as stored, or the bf16 mode where the catalog asks for it. */
const dtypeOf = (model: ModelTarget, device: Device) =>
  device === 'cuda' ? 'float16' : model.weights === 'bf16' ? 'bfloat16' : 'auto';

export async function loadGpuformerEmbed(model: ModelTarget, device: Device): Promise<EmbedAdapter> {
  const engine = await Engine.load(model.path, { device, dtype: dtypeOf(model, device) });
  return {
    version: VERSION,
    async embed(texts) { await engine.embed(texts); },
    memory: () => engine.memory(),
    dispose: () => engine.dispose(),
  };
}

export async function loadGpuformerGenerate(model: ModelTarget, device: Device, s: GenerateScenario): Promise<GenerateAdapter> {
  const engine = await Engine.load(model.path, {
    device,
    dtype: dtypeOf(model, device),
    maxModelLen: s.maxModelLen,
    maxNumSeqs: Math.max(1, ...s.concurrency),
    blockSize: BLOCK_SIZE,
  });
  return {
    version: VERSION,
    async generate(promptIds, maxTokens, onToken, opts): Promise<TokenTiming> {
      const at: bigint[] = [];
      for await (const chunk of engine.generate(promptIds, { maxTokens, temperature: 0, ignoreEos: opts?.ignoreEos })) {
        for (let i = 0; i < chunk.tokenIds.length; i++) {
          at.push(process.hrtime.bigint());
          onToken?.();
        }
      }
      return { at };
    },
    // the loop batches concurrent callers by itself, up to maxNumSeqs
    async setParallelism() {},
    kv(): KvProbe {
      const m = engine.memory();
      return {
        geometry: { bytesPerToken: m.kv.blockBytes / BLOCK_SIZE, blockSize: BLOCK_SIZE, maxModelLen: engine.maxModelLen },
        reservedBytes: () => { const k = engine.memory().kv; return k.usedBlocks * k.blockBytes; },
      };
    },
    memory: () => engine.memory(),
    dispose: () => engine.dispose(),
  };
}
