/**
 * Structured output's thread (off-loop.ts): compiles grammars and builds vocabularies, answering with their
 * arrays (the large ones handed over, not copied).
 */
import { parentPort } from 'worker_threads';
import { GpuformerError } from '../errors';
import type { TokenizerFiles } from '../tokenizer/tokenizer';
import { compileGrammar } from './grammar';
import { grammarOf } from './json-schema';
import type { GrammarParts, StructuredAnswer, StructuredJob } from './off-loop';
import { TokenVocabulary } from './vocabulary';

parentPort!.on('message', (job: StructuredJob) => {
  let answer: StructuredAnswer;
  let transfer: ArrayBuffer[] = [];
  try {
    if (job.kind === 'grammar') {
      const g = compileGrammar(grammarOf(job.format));
      const grammar: GrammarParts = [g.numStates, g.trans, g.accepting, g.calls, g.bytesOf, g.ruleOf, g.ruleNames, g.start];
      answer = { id: job.id, grammar };
      transfer = [g.trans.buffer as ArrayBuffer, g.accepting.buffer as ArrayBuffer, g.ruleOf.buffer as ArrayBuffer];
    } else {
      // copied out of the shared memory first: the decoder does not read shared buffers
      const files = JSON.parse(Buffer.from(new Uint8Array(job.shared)).toString('utf8')) as TokenizerFiles;
      const vocabulary = TokenVocabulary.fromTokenizerJson(files.json, job.size).toParts();
      answer = { id: job.id, vocabulary };
      const { packed, offsets, isNull, trie } = vocabulary;
      transfer = [packed, offsets, isNull, ...Object.values(trie)].map((a) => a.buffer as ArrayBuffer);
    }
  } catch (e) {
    answer = { id: job.id, error: { message: (e as Error).message, code: e instanceof GpuformerError ? e.code : undefined } };
  }
  parentPort!.postMessage(answer, [...new Set(transfer)]);
});
