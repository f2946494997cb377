/**
 * POST /v1/rerank over real HTTP: a tiny random cross-encoder (test/models/cross-encoder.ts) behind the
 * server answers in the shape vLLM, Jina and Cohere use (results best first with index and relevance_score,
 * top_n, return_documents, usage), with engine.rerank()'s very scores; bad requests get a 400 naming the
 * field, the per-request caps hold, and a model that is no cross-encoder is refused.
 */
import { Engine } from '../../lib/engine/engine';
import { OpenAIServer } from '../../lib/server/server';
import { removeTempDirs, tempDir } from '../loader/helpers';
import { makeCrossEncoder } from '../models/cross-encoder';
import { FakeEngine } from './fake-engine';
import { errorOf } from './helpers';

const MODEL = 'tiny-reranker';
const QUERY = 'Who wrote the novel?';
const DOCUMENTS = ['Harper Lee wrote the novel in 1960.', 'The cat sat on the mat.', 'Paris is the capital of France.', 'Herman Melville wrote Moby Dick.'];

let engine: Engine;
let server: OpenAIServer;
const post = (s: OpenAIServer, body: unknown, path = '/v1/rerank') => fetch(`${s.url.replace(/\/v1$/, '')}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
});

interface RerankBody {
  id: string; model: string; usage: { total_tokens: number };
  results: Array<{ index: number; relevance_score: number; document?: { text: string } }>;
}

beforeAll(async () => {
  engine = await Engine.load(makeCrossEncoder(tempDir('gf-rerank')).dir, { device: 'cpu', maxNumSeqs: 4, maxNumBatchedTokens: 256 });
  server = new OpenAIServer(engine, { modelId: MODEL, port: 0, maxEmbeddingInputs: 8, maxEmbeddingTokens: 300 });
  await server.listen();
});
afterAll(async () => {
  await server?.close();
  await engine?.dispose();
  removeTempDirs();
});

it('ranks the documents with the engine\'s scores, best first, with usage', async () => {
  const r = await post(server, { model: MODEL, query: QUERY, documents: DOCUMENTS });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('application/json');
  const body = (await r.json()) as RerankBody;
  const want = await engine.rerank(QUERY, DOCUMENTS);
  expect(body.id).toMatch(/^rerank-[0-9a-f]{24}$/);
  expect(body.model).toBe(MODEL);
  expect(body.results.map((x) => x.index)).toEqual(want.map((x) => x.index));
  body.results.forEach((x, i) => expect(x.relevance_score).toBeCloseTo(want[i].relevanceScore, 6));
  expect(body.results[0]).not.toHaveProperty('document');
  const tokens = await engine.tokenizeRerankInputs(QUERY, DOCUMENTS);
  expect(body.usage.total_tokens).toBe(tokens.reduce((n, t) => n + t.ids.length, 0));
});

it('top_n, return_documents, and documents as { text } (Cohere\'s form)', async () => {
  const r = await post(server, { model: MODEL, query: QUERY, documents: DOCUMENTS.map((text) => ({ text })), top_n: 2, return_documents: true });
  const body = (await r.json()) as RerankBody;
  const want = await engine.rerank(QUERY, DOCUMENTS, { topN: 2 });
  expect(body.results).toHaveLength(2);
  body.results.forEach((x, i) => {
    expect(x.index).toBe(want[i].index);
    expect(x.document).toEqual({ text: DOCUMENTS[x.index] });
  });
});

it('refuses a bad request with a 400 naming the field, and holds the caps', async () => {
  const refused = async (body: object, status: number, param: string, pattern: RegExp, s = server, path?: string) => {
    const r = await post(s, { model: s === server ? MODEL : 'fake-embed', query: QUERY, documents: DOCUMENTS, ...body }, path);
    expect(r.status).toBe(status);
    const e = await errorOf(r);
    expect(e.param).toBe(param);
    expect(e.message).toMatch(pattern);
  };
  await refused({ query: 7 }, 400, 'query', /'query' is required and must be a string/);
  await refused({ documents: [] }, 400, 'documents', /non-empty array/);
  await refused({ documents: ['ok', { title: 'x' }] }, 400, 'documents[1]', /a string or \{ text: string \}/);
  await refused({ top_n: 0 }, 400, 'top_n', /positive integer/);
  await refused({ return_documents: 'yes' }, 400, 'return_documents', /boolean/);
  await refused({ max_chunks_per_doc: 2 }, 400, 'max_chunks_per_doc', /not a field of \/v1\/rerank/);
  await refused({ documents: new Array(9).fill('a') }, 400, 'documents', /at most 8 items on this server \(--max-embedding-inputs\)/);
  await refused({ documents: new Array(8).fill('the cat sat on the mat and the dog sat on the mat too '.repeat(3)) }, 413, 'documents', /at most 300 per request \(--max-embedding-tokens\)/);
  await refused({ input: 'x' }, 400, 'input', /not a field/);
  // a cross-encoder does not embed
  const e = await post(server, { model: MODEL, input: 'x' }, '/v1/embeddings');
  expect(e.status).toBe(400);
  expect((await errorOf(e)).message).toMatch(/cross-encoder; it scores pairs at \/v1\/rerank/);

  // and an embedding model does not rerank
  const fake = new FakeEngine('encoder');
  const other = new OpenAIServer(fake, { modelId: 'fake-embed', port: 0 });
  await other.listen();
  try {
    await refused({}, 400, 'model', /an embedding model; \/v1\/rerank needs a cross-encoder/, other);
  } finally {
    await other.close();
    await fake.loop.shutdown();
  }
});
