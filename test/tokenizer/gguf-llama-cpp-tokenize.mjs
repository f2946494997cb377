/**
 * The reference tokenizer for the GGUF tokenizer tests: llama.cpp itself (node-llama-cpp's prebuilt CPU
 * binary), loading only the vocabulary of each GGUF file named. Reads a JSON array of strings on stdin and
 * prints, per file, a JSON array of their token ids (special tokens in the text parsed; tokenize() adds no BOS).
 * Usage: node gguf-llama-cpp-tokenize.mjs FILE.gguf [FILE.gguf…] < texts.json
 */
import { getLlama } from 'node-llama-cpp';

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const texts = JSON.parse(Buffer.concat(chunks).toString('utf8'));

const llama = await getLlama({ gpu: false, build: 'never', logLevel: 'error' });
const out = [];
for (const file of process.argv.slice(2)) {
  const model = await llama.loadModel({ modelPath: file, vocabOnly: true });
  out.push(texts.map((t) => Array.from(model.tokenize(t, true))));
  await model.dispose();
}
await llama.dispose();
process.stdout.write(JSON.stringify(out));
