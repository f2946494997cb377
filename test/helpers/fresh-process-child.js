/**
 * Runs one exported function of a TypeScript test module in a fresh Node process, so that the addon loads
 * with the environment the parent chose (GPUFORMER_CPU_ISA / GPUFORMER_CPU_BASELINE are read once per process,
 * which a jest worker that already loaded the addon cannot change) and that nothing else lives in the process
 * (memory measurements). test/helpers/fresh-process.ts starts it.
 * Usage: node fresh-process-child.js MODULE.ts EXPORT 'JSON-ARG'. The function may return a promise.
 * Prints {"ok":true,"result":…,"isa":{…}} or {"ok":false,"error":"…","code":…} on stdout; isa is the CPU level
 * the addon ran at (devices()[0].isa).
 */
const fs = require('fs');
const path = require('path');
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
(async () => {
  const result = await require(modulePath)[exportName](JSON.parse(argJson));
  const { native } = require(path.join(__dirname, '..', '..', 'lib', 'native.ts'));
  return { ok: true, result, isa: native.devices().devices[0].isa };
})().then(
  (reply) => process.stdout.write(JSON.stringify(reply)),
  (e) => process.stdout.write(JSON.stringify({ ok: false, error: String((e && e.stack) || e), code: e && e.code })),
);
