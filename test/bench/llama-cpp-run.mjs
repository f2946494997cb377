// llama.cpp (node-llama-cpp, CPU prebuilt, one thread) on a GGUF for test/bench/gguf-writer.test.ts:
//   node llama-cpp-run.mjs FILE.gguf greedy '[[ids…]…]' '[steps…]'   → [[greedy ids…]…]
//   node llama-cpp-run.mjs FILE.gguf embed '[[ids…]…]'               → [[pooled embedding…]…]
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';

const [path, mode, inputsJson, stepsJson] = process.argv.slice(2);
const inputs = JSON.parse(inputsJson);
const llama = await getLlama({ gpu: false, build: 'never', logLevel: LlamaLogLevel.error });
const model = await llama.loadModel({ modelPath: path });
const out = [];
if (mode === 'embed') {
  const ctx = await model.createEmbeddingContext({ threads: 1, contextSize: 512 });
  for (const ids of inputs) out.push(Array.from((await ctx.getEmbeddingFor(ids)).vector));
} else {
  const steps = JSON.parse(stepsJson);
  const ctx = await model.createContext({ threads: 1, contextSize: 512 });
  const seq = ctx.getSequence();
  for (let i = 0; i < inputs.length; i++) {
    await seq.clearHistory();
    const ids = [];
    // yieldEogToken: the golden continuations ignore EOS, so llama.cpp must too
    for await (const t of seq.evaluate(inputs[i], { temperature: 0, yieldEogToken: true })) {
      ids.push(t);
      if (ids.length >= steps[i]) break;
    }
    out.push(ids);
  }
}
console.log(JSON.stringify(out));
process.exit(0);
