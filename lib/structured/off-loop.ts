/**
 * Structured output's heavy host work on a worker thread (worker.ts), off the event loop: compiling a JSON
 * schema into its automaton (hundreds of milliseconds for a large schema, up to about a second at the
 * compile's limits) and building a model's vocabulary trie (0.3–2 s for a 49k vocabulary). A server answers
 * other requests meanwhile (/health within its deadline). One thread, started on first use and not keeping
 * the process alive while idle; a thread that dies fails what it held, and the next job starts a new one.
 */
import type { Worker } from 'worker_threads';
import { startWorker } from '../worker-thread';
import { GpuformerError } from '../errors';
import { CompiledGrammar } from './grammar';
import type { FormatSource } from './json-schema';
import { TokenVocabulary, VocabularyParts } from './vocabulary';

/** What the thread is sent: a grammar to compile, or a vocabulary to build from tokenizer files in shared memory. */
type Job = { kind: 'grammar'; format: FormatSource } | { kind: 'vocabulary'; shared: SharedArrayBuffer; size: number };
export type StructuredJob = Job & { id: number };
/** CompiledGrammar's fields, as they cross threads. */
export type GrammarParts = ConstructorParameters<typeof CompiledGrammar>;
export type StructuredAnswer =
  | { id: number; grammar: GrammarParts }
  | { id: number; vocabulary: VocabularyParts }
  | { id: number; error: { message: string; code?: string } };

interface Pending {
  resolve: (a: StructuredAnswer) => void;
  reject: (e: Error) => void;
}

let thread: Worker | undefined;
const pending = new Map<number, Pending>();
let nextId = 1;

function started(): Worker {
  if (thread) return thread;
  const w = startWorker(__dirname, 'worker', {});
  w.on('message', (answer: StructuredAnswer) => {
    const p = pending.get(answer.id);
    if (!p) return;
    pending.delete(answer.id);
    if (pending.size === 0) w.unref();
    p.resolve(answer);
  });
  const lost = (e: Error) => {
    if (thread !== w) return;
    thread = undefined;
    const held = [...pending.values()];
    pending.clear();
    for (const p of held) p.reject(new Error(`structured output's thread stopped: ${e.message}`));
  };
  w.on('error', lost);
  w.on('exit', (code) => lost(new Error(`exit code ${code}`)));
  w.unref();
  thread = w;
  return w;
}

async function run(job: Job): Promise<StructuredAnswer> {
  const w = started();
  const id = nextId++;
  const answer = await new Promise<StructuredAnswer>((resolve, reject) => {
    pending.set(id, { resolve, reject });
    w.ref();
    w.postMessage({ ...job, id });
  });
  if ('error' in answer) {
    const { message, code } = answer.error;
    throw code ? new GpuformerError(code as GpuformerError['code'], message) : new Error(message);
  }
  return answer;
}

/** A format's grammar compiled on the thread (the errors compileGrammar(grammarOf(format)) throws). */
export async function compileOffLoop(format: FormatSource): Promise<CompiledGrammar> {
  const answer = await run({ kind: 'grammar', format });
  return new CompiledGrammar(...(answer as { grammar: GrammarParts }).grammar);
}

/**
 * A model's vocabulary built on the thread from its tokenizer files, as UTF-8 JSON in shared memory (the
 * TokenizerPool's copy): TokenVocabulary.fromTokenizerJson(files.json, size), the same errors.
 */
export async function vocabularyOffLoop(shared: SharedArrayBuffer, size: number): Promise<TokenVocabulary> {
  const answer = await run({ kind: 'vocabulary', shared, size });
  return TokenVocabulary.fromParts((answer as { vocabulary: VocabularyParts }).vocabulary);
}

/** Jobs the thread holds now (for tests: whether a compile is still running). */
export function jobsInFlight(): number {
  return pending.size;
}
