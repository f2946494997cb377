/**
 * Runs one exported function of a TypeScript test module in a fresh Node process, so the addon loads with
 * the environment the parent chose (GPUFORMER_CPU_BASELINE=1 is read once per process, which a jest worker
 * that already loaded the addon cannot change). Usage: node baseline-child.js MODULE.ts EXPORT 'JSON-ARG'.
 * Prints {"ok":true,"result":…} or {"ok":false,"error":"…"} on stdout.
 */
const fs = require('fs');
const ts = require('typescript');

require.extensions['.ts'] = (module, filename) => {
  const source = fs.readFileSync(filename, 'utf8');
  const { outputText } = ts.transpileModule(source, {
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    fileName: filename,
  });
  module._compile(outputText, filename);
};

const [modulePath, exportName, argJson] = process.argv.slice(2);
try {
  const result = require(modulePath)[exportName](JSON.parse(argJson));
  process.stdout.write(JSON.stringify({ ok: true, result }));
} catch (e) {
  process.stdout.write(JSON.stringify({ ok: false, error: String((e && e.stack) || e) }));
}
