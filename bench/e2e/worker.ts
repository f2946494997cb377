/**
 * One engine on one model in a process of its own, so that its peak RSS is its own: the runner forks this
 * file, sends a Job over IPC, and gets a JobResult back. Nothing engine-specific is loaded before the
 * baseline RSS reading.
 */
import { readFileSync } from 'fs';
import { join } from 'path';
import { measureConcurrency, measureDecode, measureEmbed, measurePrefill } from './scenarios';
import type { EmbedAdapter, GenerateAdapter, Job, JobResult } from './types';

const now = () => process.hrtime.bigint();
const log = (m: string) => process.stderr.write(`    ${m}\n`);

async function loadEmbed(job: Job): Promise<EmbedAdapter> {
  switch (job.engine) {
    case 'gpuformer': return (await import('./gpuformer')).loadGpuformerEmbed(job.model, job.device);
    case 'transformers.js': return (await import('../peers/transformers-js')).loadTransformersJs(job.model, job.threads);
    case 'node-llama-cpp': return (await import('../peers/llama-cpp')).loadLlamaCppEmbed(job.model, job.device, job.threads);
    default: throw new Error(`${job.engine} has no embedding adapter in the Node worker`);
  }
}

async function loadGenerate(job: Job): Promise<GenerateAdapter> {
  const s = job.generate!;
  switch (job.engine) {
    case 'gpuformer': return (await import('./gpuformer')).loadGpuformerGenerate(job.model, job.device, s);
    case 'node-llama-cpp': return (await import('../peers/llama-cpp')).loadLlamaCppGenerate(job.model, job.device, job.threads, s);
    default: throw new Error(`${job.engine} has no generation adapter in the Node worker`);
  }
}

/** Tokens per batch as the model's tokenizer counts them (special tokens included, truncated as embed() does). */
function tokenCounter(dir: string | undefined): (texts: string[]) => number {
  if (!dir) return () => NaN;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const { Tokenizer } = require('@huggingface/tokenizers');
  const tok = new Tokenizer(JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(dir, 'tokenizer_config.json'), 'utf8')));
  let max = 512;
  try { max = JSON.parse(readFileSync(join(dir, 'sentence_bert_config.json'), 'utf8')).max_seq_length; } catch { /* no sentence-transformers config */ }
  return (texts) => texts.reduce((n, t) => n + Math.min(max, tok.encode(t).ids.length), 0);
}

export async function runJob(job: Job): Promise<JobResult> {
  const t0 = now();
  const baselineBytes = process.memoryUsage().rss;
  const result: JobResult = {
    engine: job.engine, engineVersion: '?', device: job.device, threads: job.threads, model: job.model, ok: false,
    notes: [], wallSeconds: 0,
  };
  let adapter: EmbedAdapter | GenerateAdapter | null = null;
  try {
    const tl = now();
    if (job.embed) {
      const a = await loadEmbed(job);
      adapter = a;
      result.loadSeconds = Number(now() - tl) / 1e9;
      result.engineVersion = a.version;
      const afterLoadBytes = process.memoryUsage().rss;
      result.embed = await measureEmbed(a, job.embed, job.policy, tokenCounter(job.model.tokenizerDir), log);
      result.rss = { baselineBytes, afterLoadBytes, peakBytes: 0 };
      if (job.engine === 'node-llama-cpp') result.notes.push('node-llama-cpp embeds one input at a time (no batch API): batches are loops');
    } else if (job.generate) {
      const a = await loadGenerate(job);
      adapter = a;
      result.loadSeconds = Number(now() - tl) / 1e9;
      result.engineVersion = a.version;
      const afterLoadBytes = process.memoryUsage().rss;
      const s = job.generate;
      if (s.prefillLens.length) result.prefill = await measurePrefill(a, s, job.policy, log);
      if (s.decode) result.decode = await measureDecode(a, { ...s, decode: s.decode }, job.policy, log);
      if (s.concurrency.length) result.concurrency = [];
      for (const c of s.concurrency) result.concurrency!.push(await measureConcurrency(a, s, c, log));
      result.rss = { baselineBytes, afterLoadBytes, peakBytes: 0 };
    }
    result.engineMemory = adapter?.memory?.();
    result.ok = true;
  } catch (e) {
    result.error = e instanceof Error ? `${e.name}: ${e.message}${(e as { code?: string }).code ? ` (${(e as { code?: string }).code})` : ''}` : String(e);
  } finally {
    // getrusage's maxrss is in KiB on Linux
    const peakBytes = process.resourceUsage().maxRSS * 1024;
    if (result.rss) result.rss.peakBytes = peakBytes;
    else result.rss = { baselineBytes, afterLoadBytes: NaN, peakBytes };
    try { await adapter?.dispose(); } catch { /* the result is what matters now */ }
    result.wallSeconds = Number(now() - t0) / 1e9;
  }
  return result;
}

if (require.main === module) {
  process.once('message', (job: Job) => {
    runJob(job).then((r) => process.send!(r, () => process.exit(0)));
  });
}
