/**
 * Starting a worker thread from this package's own sources, whether they run compiled (dist/*.js) or as
 * TypeScript (the tests run them through ts-jest, which a worker thread does not have: there the thread first
 * teaches its require() to compile .ts files with the TypeScript compiler, then loads the entry).
 */
import * as path from 'path';
import { Worker } from 'worker_threads';

/**
 * A thread running the module `name` of directory `dir` (tokenizer/worker, structured/worker), with
 * `workerData` as the thread's workerData.
 */
export function startWorker(dir: string, name: string, workerData: Record<string, unknown>): Worker {
  const entry = path.join(dir, `${name}${path.extname(__filename)}`);
  if (!entry.endsWith('.ts')) return new Worker(entry, { workerData });
  return new Worker(TS_BOOTSTRAP, { eval: true, workerData: { ...workerData, entry, typescript: require.resolve('typescript') } });
}

const TS_BOOTSTRAP = `
const { readFileSync } = require('fs');
const { workerData } = require('worker_threads');
const ts = require(workerData.typescript);
const compilerOptions = { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true };
require.extensions['.ts'] = (module, file) =>
  module._compile(ts.transpileModule(readFileSync(file, 'utf8'), { fileName: file, compilerOptions }).outputText, file);
require(workerData.entry);
`;
