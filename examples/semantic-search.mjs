// Embedding-based search: embed a few sentences with all-MiniLM-L6-v2, then rank them against a query by
// cosine similarity (the vectors come back L2-normalized, as the model's sentence-transformers config says,
// so cosine similarity is a plain dot product).
//
//   npm run build && node examples/semantic-search.mjs ["your query"] [model dir]
import { Engine } from 'gpuformer';

const query = process.argv[2] ?? 'How do transformers cache keys and values?';
const modelDir = process.argv[3] ?? new URL('../../shared/models/all-MiniLM-L6-v2', import.meta.url).pathname;

const documents = [
  'Paged attention stores the KV cache in fixed-size blocks.',
  'A man is riding a horse along the beach.',
  'The recipe calls for two cups of flour and a pinch of salt.',
  'Continuous batching lets new requests join a running batch at every step.',
  'The stock market closed higher after the central bank held rates.',
  'Byte-pair encoding splits rare words into frequent subword pieces.',
  'The cat slept on the warm windowsill all afternoon.',
];

const engine = await Engine.load(modelDir, { device: 'auto' });
try {
  const [queryVector, ...docVectors] = await engine.embed([query, ...documents]);
  const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
  const ranked = documents
    .map((text, i) => ({ text, score: dot(queryVector, docVectors[i]) }))
    .sort((a, b) => b.score - a.score);

  console.log(`query: ${query}  (${engine.device}, ${queryVector.length}-dim vectors)\n`);
  for (const { text, score } of ranked) console.log(`${score.toFixed(3)}  ${text}`);
} finally {
  await engine.dispose();
}
