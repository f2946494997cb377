/**
 * The llama.cpp peer through node-llama-cpp's prebuilt binaries (`build: 'never'`: no compiler involved),
 * with an explicit thread count (its default runs far slower on small machines, DESIGN section 10).
 * Decoders: greedy generation from token ids, ending at EOS as gpuformer does, on context sequences (one per concurrent stream; each
 * sequence owns a contiguous maxModelLen slice of the KV cache, which is what the KV-waste comparison
 * measures). Encoders (a BERT GGUF): node-llama-cpp embeds one input at a time, so a batch is a loop.
 */
import type { Device, EmbedAdapter, GenerateAdapter, GenerateScenario, KvProbe, ModelTarget, TokenTiming } from '../e2e/types';
import { packageVersion } from '../e2e/paths';
import { importEsm } from './esm';

/* eslint-disable @typescript-eslint/no-explicit-any */

async function loadModel(model: ModelTarget, device: Device): Promise<{ llama: any; model: any; version: string }> {
  const nlc = await importEsm('node-llama-cpp');
  const llama = await nlc.getLlama({ gpu: device === 'cuda' ? 'cuda' : false, build: 'never', logLevel: nlc.LlamaLogLevel.error });
  const m = await llama.loadModel({ modelPath: model.path, gpuLayers: device === 'cuda' ? 'max' : 0 });
  const release = llama.llamaCppRelease?.release ?? '?';
  return { llama, model: m, version: `node-llama-cpp ${packageVersion('node-llama-cpp')} (llama.cpp ${release}, ${llama.gpu || 'cpu'})` };
}

export async function loadLlamaCppGenerate(target: ModelTarget, device: Device, threads: number, s: GenerateScenario): Promise<GenerateAdapter> {
  const { llama, model, version } = await loadModel(target, device);
  let context: any = null;
  let free: any[] = [];
  let parallelism = 0;
  const meta = model.fileInfo.architectureMetadata;
  const layers: number = meta.block_count;
  const heads: number = meta.attention.head_count;
  const kvHeads: number = meta.attention.head_count_kv ?? heads;
  const headDim: number = meta.attention.key_length ?? meta.embedding_length / heads;
  // llama.cpp's KV cache is f16 unless told otherwise
  const kvBytesPerToken = 2 * layers * kvHeads * headDim * 2;

  const adapter: GenerateAdapter = {
    version,
    async setParallelism(n) {
      if (n === parallelism) return;
      await context?.dispose();
      context = await model.createContext({ threads, sequences: n, contextSize: s.maxModelLen, batchSize: Math.min(512, s.maxModelLen) });
      free = Array.from({ length: n }, () => context.getSequence());
      parallelism = n;
    },
    async generate(promptIds, maxTokens, onToken, opts): Promise<TokenTiming> {
      if (!context) await adapter.setParallelism(1);
      const seq = free.pop();
      if (!seq) throw new Error('llama-cpp adapter: more concurrent generations than sequences');
      const at: bigint[] = [];
      try {
        await seq.clearHistory();
        // The run ends at an end-of-generation token, which counts as generated, as gpuformer's generate()
        // ends at EOS and returns it; yieldEogToken yields that token so it can be timed. With ignoreEos it
        // goes on to maxTokens, as gpuformer's ignoreEos does (fixed-length decode runs).
        for await (const token of seq.evaluate(promptIds, { temperature: 0, yieldEogToken: true })) {
          at.push(process.hrtime.bigint());
          onToken?.();
          if (at.length >= maxTokens || (!opts?.ignoreEos && model.isEogToken(token))) break;
        }
      } finally {
        free.push(seq);
      }
      return { at };
    },
    kv(): KvProbe {
      const perSeq: number = context?.contextSize ?? s.maxModelLen;
      return {
        geometry: { bytesPerToken: kvBytesPerToken, blockSize: 16, maxModelLen: perSeq },
        reservedBytes: () => perSeq * parallelism * kvBytesPerToken,
      };
    },
    memory: () => ({ kvBytesPerToken, contextTokens: (context?.contextSize ?? 0) * parallelism, kvReservedBytes: (context?.contextSize ?? 0) * parallelism * kvBytesPerToken }),
    async dispose() {
      await context?.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
  return adapter;
}

export async function loadLlamaCppEmbed(target: ModelTarget, device: Device, threads: number): Promise<EmbedAdapter> {
  const { llama, model, version } = await loadModel(target, device);
  const ctx = await model.createEmbeddingContext({ threads, contextSize: 512 });
  return {
    version,
    async embed(texts) {
      for (const t of texts) await ctx.getEmbeddingFor(t);
    },
    async dispose() {
      await ctx.dispose();
      await model.dispose();
      await llama.dispose();
    },
  };
}
