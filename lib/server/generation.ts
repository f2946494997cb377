/**
 * Runs the generations of one HTTP request (one per prompt × n), concurrently so the engine loop batches
 * them, and measures what the client sees: time to first token and the gaps between tokens.
 */
import type { ServerMetrics } from './metrics';
import type { ServedChunk } from './types';

export interface GenerationResult {
  text: string;
  completionTokens: number;
  finishReason: 'stop' | 'length' | 'abort';
}

export interface GenerationJob {
  /** the choice index this generation answers */
  index: number;
  chunks: AsyncIterable<ServedChunk>;
}

/**
 * Drains every job; `onChunk` (when streaming) is awaited for each chunk, so a slow client holds back only
 * its own generations. A job that throws rejects the whole call after the others were told to stop (via the
 * shared abort signal the caller owns).
 */
export async function runGenerations(jobs: GenerationJob[], startedAt: number, metrics: ServerMetrics,
  onChunk?: (index: number, chunk: ServedChunk) => Promise<void>): Promise<GenerationResult[]> {
  return Promise.all(jobs.map(async (job) => {
    let text = '';
    let completionTokens = 0;
    let finishReason: GenerationResult['finishReason'] = 'length';
    let last = 0;
    for await (const chunk of job.chunks) {
      const real = chunk.tokenIds.filter((t) => t >= 0).length;
      if (real > 0) {
        const now = performance.now();
        if (completionTokens === 0) metrics.timeToFirstToken.observe((now - startedAt) / 1000);
        else metrics.interTokenLatency.observe((now - last) / 1000);
        last = now;
      }
      completionTokens += real;
      text += chunk.text;
      if (chunk.finishReason) finishReason = chunk.finishReason;
      if (onChunk) await onChunk(job.index, chunk);
    }
    return { text, completionTokens, finishReason };
  }));
}

/** OpenAI's finish_reason for ours ('abort' only happens when the client left, so it is never sent). */
export const openaiFinishReason = (r: GenerationResult['finishReason'] | undefined) => (r === 'stop' ? 'stop' : r === 'length' ? 'length' : null);
