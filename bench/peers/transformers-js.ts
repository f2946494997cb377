/**
 * The CPU embedding peer: transformers.js (@huggingface/transformers on onnxruntime-node) running the ONNX
 * export of the same model (all-MiniLM-L6-v2/model.onnx, whose external data is model.safetensors' bytes),
 * with mean pooling and L2 normalization as sentence-transformers does, ORT limited to the job's threads.
 */
import { basename, dirname } from 'path';
import type { EmbedAdapter, ModelTarget } from '../e2e/types';
import { importEsm } from './esm';

export async function loadTransformersJs(model: ModelTarget, threads: number): Promise<EmbedAdapter> {
  const t = await importEsm('@huggingface/transformers');
  t.env.localModelPath = dirname(model.path) + '/';
  t.env.allowRemoteModels = false;
  const pipe = await t.pipeline('feature-extraction', basename(model.path), {
    dtype: 'fp32', subfolder: '', device: 'cpu',
    session_options: { intraOpNumThreads: threads, interOpNumThreads: 1 },
  });
  return {
    version: `@huggingface/transformers ${t.env.version}`,
    async embed(texts) {
      const out = await pipe(texts, { pooling: 'mean', normalize: true });
      out.dispose?.();
    },
    dispose: () => pipe.dispose(),
  };
}
