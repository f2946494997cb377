/** The OpenAI-compatible server: construct it over an Engine (or anything that meets ServedEngine). */
export { OpenAIServer, serve } from './server';
export type { ServedEngine, ServedChunk, ServerOptions } from './types';
export { parsePrometheus } from './metrics';
