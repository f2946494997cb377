/**
 * The floor plan of lib/ as ARCHITECTURE.md documents it, enforced: every import between lib's folders
 * points down the documented layers (never up, never sideways to a sibling on the same floor), no files
 * import each other in a loop, and every folder and top-level file of lib/ has its place in the list. The
 * layer list is read from ARCHITECTURE.md itself, so the document and this check cannot drift apart.
 */
import * as fs from 'fs';
import * as path from 'path';
import * as ts from 'typescript';

const ROOT = path.resolve(__dirname, '..');
const LIB = path.join(ROOT, 'lib');

/**
 * The layers, top first, from the fenced block that follows the "## Layers" heading of ARCHITECTURE.md:
 * each line starts with the units of one floor (`engine/`, `memory/ kv/`, `native.ts`), then says what
 * they hold; indented lines continue the description.
 */
function documentedLayers(markdown: string): string[][] {
  const section = /^## Layers\s*$([\s\S]*?)^```[^\n]*\n([\s\S]*?)^```/m.exec(markdown);
  if (!section) throw new Error('ARCHITECTURE.md has no "## Layers" section with a fenced block');
  const layers: string[][] = [];
  for (const line of section[2].split('\n')) {
    if (line.trim() === '' || /^\s/.test(line)) continue;
    const units: string[] = [];
    for (const word of line.trim().split(/\s+/)) {
      if (!/^[\w.-]+(\/|\.ts)$/.test(word)) break;
      units.push(word);
    }
    if (units.length === 0) throw new Error(`ARCHITECTURE.md layers: no folder or file at the start of '${line.trim()}'`);
    layers.push(units);
  }
  return layers;
}

/** lib/engine/loop.ts → 'engine/'; lib/native.ts → 'native.ts'. */
const unitOf = (libRelative: string) => {
  const parts = libRelative.split('/');
  return parts.length > 1 ? `${parts[0]}/` : parts[0];
};

function libFiles(dir = LIB): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return libFiles(p);
    return e.name.endsWith('.ts') ? [path.relative(LIB, p).split(path.sep).join('/')] : [];
  });
}

/** Every import of a file that names another file of lib/: static, type-only, re-exports, import() types, require(). */
function libImports(file: string, source: string, files: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (const { fileName } of ts.preProcessFile(source, true, true).importedFiles) {
    if (!fileName.startsWith('.')) continue; // packages and node built-ins
    const base = path.posix.normalize(path.posix.join(path.posix.dirname(file), fileName));
    const target = [`${base}.ts`, `${base}/index.ts`].find((c) => files.has(c));
    if (target) out.push(target);
  }
  return out;
}

interface Edge {
  from: string;
  to: string;
}

/** Imports that break the layering: up, or across to a sibling of the same floor; and units with no floor. */
function layerViolations(layers: string[][], files: string[], edges: Edge[]): string[] {
  const level = new Map<string, number>();
  layers.forEach((units, i) => units.forEach((u) => level.set(u, i)));
  const problems: string[] = [];
  const units = new Set(files.map(unitOf));
  for (const u of units) if (!level.has(u)) problems.push(`lib/${u} has no floor in ARCHITECTURE.md's layers`);
  for (const u of level.keys()) if (!units.has(u)) problems.push(`ARCHITECTURE.md's layers name lib/${u}, which does not exist`);
  for (const { from, to } of edges) {
    const a = unitOf(from);
    const b = unitOf(to);
    if (a === b || !level.has(a) || !level.has(b)) continue;
    if (level.get(b)! < level.get(a)!) problems.push(`lib/${from} imports lib/${to}: ${b} is above ${a}`);
    else if (level.get(b) === level.get(a)) problems.push(`lib/${from} imports lib/${to}: ${a} and ${b} share a floor`);
  }
  return problems;
}

/** Every group of files that import each other in a loop (Tarjan's strongly connected components), as 'a → b → a'. */
function importLoops(files: string[], edges: Edge[]): string[] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const { from, to } of edges) next.get(from)?.push(to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const loops: string[] = [];
  let counter = 0;
  const visit = (v: string) => {
    index.set(v, counter);
    low.set(v, counter++);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const component: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      component.push(w);
    } while (w !== v);
    if (component.length > 1 || (next.get(v) ?? []).includes(v)) loops.push([...component.reverse(), component[0]].join(' → '));
  };
  for (const f of files) if (!index.has(f)) visit(f);
  return loops;
}

describe('the floor plan of lib/ (ARCHITECTURE.md)', () => {
  const layers = documentedLayers(fs.readFileSync(path.join(ROOT, 'ARCHITECTURE.md'), 'utf8'));
  const files = libFiles();
  const fileSet = new Set(files);
  const edges = files.flatMap((from) =>
    libImports(from, fs.readFileSync(path.join(LIB, from), 'utf8'), fileSet).map((to) => ({ from, to })));

  test('the document lists the floors from the entry points down to the errors', () => {
    expect(layers[0]).toContain('index.ts');
    expect(layers[layers.length - 1]).toEqual(['errors.ts']);
    expect(edges.length).toBeGreaterThan(100); // the import scan sees the tree
  });

  test('every import between folders points down the layers', () => {
    expect(layerViolations(layers, files, edges)).toEqual([]);
  });

  test('no files import each other in a loop', () => {
    expect(importLoops(files, edges)).toEqual([]);
  });

  test('the checks catch an import up, one across a floor, a missing floor and a loop', () => {
    const toy = [['cli/'], ['engine/'], ['models/', 'loader/'], ['errors.ts']];
    const toyFiles = ['cli/a.ts', 'engine/b.ts', 'engine/c.ts', 'models/d.ts', 'loader/e.ts', 'errors.ts', 'extra/f.ts'];
    const toyEdges = [
      { from: 'cli/a.ts', to: 'errors.ts' }, // down, skipping floors: fine
      { from: 'models/d.ts', to: 'engine/b.ts' }, // up
      { from: 'models/d.ts', to: 'loader/e.ts' }, // across
      { from: 'engine/b.ts', to: 'engine/c.ts' },
      { from: 'engine/c.ts', to: 'engine/b.ts' }, // a loop inside one folder
    ];
    expect(layerViolations(toy, toyFiles, toyEdges)).toEqual([
      'lib/extra/ has no floor in ARCHITECTURE.md\'s layers',
      'lib/models/d.ts imports lib/engine/b.ts: engine/ is above models/',
      'lib/models/d.ts imports lib/loader/e.ts: models/ and loader/ share a floor',
    ]);
    expect(importLoops(toyFiles, toyEdges)).toEqual(['engine/b.ts → engine/c.ts → engine/b.ts']);
    expect(libImports('engine/x.ts', "import type { A } from '../core/step';\ntype B = import('./types').B;\n" +
      "// import { C } from '../server/server';\nconst d = require('../errors');\nexport * from '../ops';",
    new Set(['core/step.ts', 'engine/types.ts', 'server/server.ts', 'errors.ts', 'ops/index.ts'])))
      .toEqual(['core/step.ts', 'engine/types.ts', 'errors.ts', 'ops/index.ts']);
  });
});
