/**
 * What the README promises a newcomer works from a clone: its main-job command (read from README.md itself,
 * so the two cannot drift apart) chats with the real SmolLM2 GGUF through the CLI, and the semantic-search
 * example ranks its documents. The example imports 'gpuformer' by name, so it needs `npm run build` first
 * (the README's set-up step; CI builds before testing).
 */
import { execFile } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { promisify } from 'util';
import { main } from '../lib/cli/main';
import type { CliIO } from '../lib/cli/io';

const ROOT = path.resolve(__dirname, '..');

class Buffered {
  text = '';
  isTTY = false;
  write(s: string) {
    this.text += s;
    return true;
  }
}

/** Splits a shell command line into words: plain words and double-quoted strings (all the README uses). */
function shellWords(line: string): string[] {
  return Array.from(line.matchAll(/"([^"]*)"|(\S+)/g), (m) => m[1] ?? m[2]);
}

/** The README's links to files (relative targets, anchors dropped; web addresses left out). */
function readmeLinks(): string[] {
  const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
  return Array.from(readme.matchAll(/\]\(([^)#\s]+)[^)]*\)/g), (m) => m[1]).filter((t) => !/^[a-z]+:/.test(t));
}

describe('README', () => {
  it('main-job command: a streamed chat answer from the real GGUF model', async () => {
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const line = readme.split('\n').find((l) => l.startsWith('npx gpuformer generate'));
    expect(line).toBeDefined();
    const [, , ...argv] = shellWords(line!);
    const model = argv[argv.indexOf('--model') + 1];
    expect(fs.existsSync(path.resolve(ROOT, model))).toBe(true);
    const stdout = new Buffered();
    const stderr = new Buffered();
    // the README's command as written, with fewer tokens to keep the test short
    const code = await main([...argv, '--max-tokens', '24'], { stdout, stderr } as unknown as CliIO);
    expect(stderr.text).toMatch(/^24 tokens in .* finish: length$/m);
    expect(code).toBe(0);
    expect(stdout.text.trim().length).toBeGreaterThan(40);
    expect(stdout.text).not.toMatch(/<\|im_(start|end)\|>/); // template tokens are not part of the answer
  });

  it('the inspect examples print what the README shows under them', async () => {
    const lines = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8').split('\n');
    const examples = lines.flatMap((l, i) => (l.startsWith('npx gpuformer inspect ') ? [i] : []));
    expect(examples.length).toBeGreaterThanOrEqual(2);
    for (const at of examples) {
      const [, , ...argv] = shellWords(lines[at]);
      const shown: string[] = [];
      for (let j = at + 1; lines[j].startsWith('# '); j++) shown.push(lines[j].slice(2));
      expect(shown.length).toBeGreaterThan(0);
      const stdout = new Buffered();
      const stderr = new Buffered();
      // relative paths in the README are from the repository root
      const args = argv.map((a) => (a.startsWith('../') ? path.resolve(ROOT, a) : a));
      expect(await main(args, { stdout, stderr } as unknown as CliIO)).toBe(0);
      for (const s of shown) expect(stdout.text).toContain(s);
    }
  });

  it('links only to files of the repository (a clone has everything it points at), ARCHITECTURE.md among them', () => {
    const targets = readmeLinks();
    expect(targets).toContain('ARCHITECTURE.md');
    for (const t of targets) {
      const file = path.resolve(ROOT, t);
      expect(path.relative(ROOT, file).startsWith('..')).toBe(false);
      expect(fs.existsSync(file)).toBe(true);
    }
  });

  it('ships every file it links to in the npm package (npm shows the README: its links must work there too)', async () => {
    const { stdout } = await promisify(execFile)('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT });
    const shipped = new Set((JSON.parse(stdout) as Array<{ files: Array<{ path: string }> }>)[0].files.map((f) => f.path));
    expect(readmeLinks().filter((t) => !shipped.has(path.posix.normalize(t)))).toEqual([]);
  });

  it('examples/semantic-search.mjs ranks the matching document first', async () => {
    expect(fs.existsSync(path.join(ROOT, 'dist', 'index.mjs'))).toBe(true); // run `npm run build` first
    const { stdout } = await promisify(execFile)(process.execPath, [path.join(ROOT, 'examples', 'semantic-search.mjs')], { cwd: ROOT });
    const ranked = stdout.split('\n').filter((l) => /^-?\d\.\d{3} {2}/.test(l));
    expect(ranked).toHaveLength(7);
    expect(ranked[0]).toMatch(/Paged attention stores the KV cache/);
    const scores = ranked.map((l) => Number(l.split(' ')[0]));
    expect(scores).toEqual([...scores].sort((a, b) => b - a));
  });
});
