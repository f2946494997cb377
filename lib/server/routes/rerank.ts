/**
 * POST /v1/rerank: a query and documents → the documents by relevance, scored by a cross-encoder, in the
 * request and response shape vLLM, Jina and Cohere share:
 *
 *   { model, query, documents: [string | { text }], top_n?, return_documents? }
 *   → { id, model, usage: { total_tokens }, results: [{ index, relevance_score, document?: { text } }] }
 *
 * Every (query, document) pair is tokenized once (the usage and the per-request caps count these tokens, as
 * for embeddings: --max-embedding-inputs documents, --max-embedding-tokens tokens); the ranking itself is
 * engine.rerank()'s (lib/engine/rerank.ts). A field this route does not know is refused, naming it.
 */
import { RERANK_OPTIONS } from '../../engine/options';
import { rankDocuments } from '../../engine/rerank';
import { shown } from '../../errors';
import { badRequest } from '../http';
import { checkCount, checkTokenTotal } from '../limits';
import { Body, engineOptions } from '../validate';
import { RouteContext, responseId } from './context';

const FIELDS = new Set(['model', 'query', 'documents', 'top_n', 'return_documents']);

/** `documents`: a non-empty array of strings or of { text } objects (Cohere's form), as texts. */
function documentTexts(b: Body): string[] {
  const v = b.documents;
  if (!Array.isArray(v) || v.length === 0) throw badRequest('documents', `'documents' must be a non-empty array of strings, got ${shown(v)}`);
  return v.map((d, i) => {
    if (typeof d === 'string') return d;
    if (d !== null && typeof d === 'object' && typeof (d as { text?: unknown }).text === 'string') return (d as { text: string }).text;
    throw badRequest(`documents[${i}]`, `'documents[${i}]' must be a string or { text: string }, got ${shown(d)}`);
  });
}

export async function rerank(ctx: RouteContext): Promise<void> {
  const { engine, body } = ctx;
  for (const k of Object.keys(body)) {
    if (!FIELDS.has(k)) throw badRequest(k, `'${k}' is not a field of /v1/rerank on this server (it takes ${[...FIELDS].join(', ')})`);
  }
  if (engine.spec.numLabels === undefined) {
    throw badRequest('model', `${ctx.modelId} is ${engine.spec.causal ? 'a text generator' : 'an embedding model'}; /v1/rerank needs a cross-encoder`);
  }
  if (typeof body.query !== 'string') throw badRequest('query', `'query' is required and must be a string, got ${shown(body.query)}`);
  const documents = documentTexts(body);
  checkCount('documents', documents.length, ctx.limits, 'maxEmbeddingInputs');
  const o = { returnDocuments: false, ...engineOptions(body, RERANK_OPTIONS, undefined) };
  const tokens = await engine.tokenizeRerankInputs(body.query, documents, { signal: ctx.signal });
  const total = tokens.reduce((n, t) => n + t.ids.length, 0);
  checkTokenTotal('documents', total, ctx.limits, 'maxEmbeddingTokens');
  if (ctx.signal.aborted) return;
  const scores = await engine.score(tokens, { signal: ctx.signal });
  if (ctx.signal.aborted) return;
  const results = rankDocuments(scores, documents, o).map((r) => ({
    index: r.index, relevance_score: r.relevanceScore, ...(r.document !== undefined ? { document: { text: r.document } } : {}),
  }));
  ctx.res.writeHead(200, { 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify({ id: responseId('rerank'), model: ctx.modelId, usage: { total_tokens: total }, results }));
}
