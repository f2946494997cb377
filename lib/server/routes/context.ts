/** What every route handler gets: the engine, the parsed body, the response, and the request's lifetime. */
import type { ServerResponse } from 'http';
import type { RequestLimits } from '../limits';
import type { ServerMetrics } from '../metrics';
import type { ServedEngine } from '../types';
import type { Body } from '../validate';

export interface RouteContext {
  engine: ServedEngine;
  modelId: string;
  body: Body;
  res: ServerResponse;
  /** fires when the client disconnects before the response is complete */
  signal: AbortSignal;
  metrics: ServerMetrics;
  /** performance.now() when the request arrived */
  startedAt: number;
  /** what one request may ask for (inputs, tokens, choices) */
  limits: RequestLimits;
}

/** OpenAI-style ids: a prefix and 24 random hex characters. */
export function responseId(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

export const unixSeconds = () => Math.floor(Date.now() / 1000);
