/**
 * Reranking with a cross-encoder (sentence-transformers' CrossEncoder.rank): each (query, document) pair is
 * read as one input, the classifier's one logit becomes the relevance score through the activation the
 * model's config names, and the documents come back best first. The Engine runs the model; this file holds
 * what turns its logits into the answer, shared by engine.rerank() and POST /v1/rerank.
 */
import type { ScoreActivation } from '../core/source';

export interface RerankResult {
  /** the document's position in the request */
  index: number;
  /** the model's score for (query, document), through its activation: higher is more relevant */
  relevanceScore: number;
  /** the document's text, when returnDocuments is set */
  document?: string;
}

/** A logit as the cross-encoder's score (computed in float64 from the f32 logit). */
export function activateScore(logit: number, activation: ScoreActivation): number {
  switch (activation) {
    case 'sigmoid': return 1 / (1 + Math.exp(-logit));
    case 'tanh': return Math.tanh(logit);
    case 'identity': return logit;
  }
}

/** Documents by score, best first (ties keep request order), the best topN of them, with their text when asked. */
export function rankDocuments(scores: number[], documents: readonly string[], o: { topN?: number; returnDocuments: boolean }): RerankResult[] {
  const ranked = scores.map((relevanceScore, index) => ({ index, relevanceScore })).sort((a, b) => b.relevanceScore - a.relevanceScore || a.index - b.index);
  return ranked.slice(0, o.topN ?? ranked.length).map((r) => (o.returnDocuments ? { ...r, document: documents[r.index] } : r));
}
