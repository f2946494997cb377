/**
 * import() of an ES module from this CommonJS build. TypeScript compiles a plain `import()` to require()
 * under "module": "commonjs", which cannot load ESM-only packages with top-level await (node-llama-cpp,
 * @huggingface/transformers); a Function keeps the real import().
 */
// eslint-disable-next-line @typescript-eslint/no-implied-eval
export const importEsm = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<any>; // eslint-disable-line @typescript-eslint/no-explicit-any
