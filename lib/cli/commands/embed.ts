/** `gpuformer embed --model M TEXT...`: sentence embeddings as JSON (one vector per line, or one array). */
import { POOLING_MODES } from '../../core/checks';
import type { PoolingMode } from '../../core/step';
import { Engine } from '../../engine/engine';
import { EMBED_PRECISIONS, EmbedPrecision } from '../../engine/embedding-output';
import { UsageError, choices, flag, int, parse, str } from '../args';
import { ENGINE_FLAGS, ENGINE_USAGE, loadOptions, requireModel } from '../engine-flags';
import { CliIO, readAll } from '../io';
import type { Command } from './command';

export const embed: Command = {
  name: 'embed',
  summary: 'embed texts with an embedding model; prints vectors as JSON',
  usage: `usage: gpuformer embed --model MODEL [TEXT...] [options]
  TEXT...                 texts to embed; without any, one text per line of standard input
  --file PATH             read texts from a file, one per line
  --pooling mean|cls|last how to pool token vectors (default: the model's sentence-transformers setting)
  --normalize             L2-normalize the vectors (default: the model's setting)
  --no-normalize          do not normalize
  --dimensions N          keep the first N components (Matryoshka models), normalized again
  --precision P           float32 (default), int8, uint8 (codes over the ranges of these texts' embeddings),
                          binary or ubinary (the signs, packed eight to a byte): sentence-transformers' quantize_embeddings
  --json                  print one JSON array of vectors instead of one vector per line
${ENGINE_USAGE}`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      ...ENGINE_FLAGS, file: { type: 'string' }, pooling: { type: 'string' }, normalize: { type: 'boolean' },
      'no-normalize': { type: 'boolean' }, json: { type: 'boolean' }, dimensions: { type: 'string' }, precision: { type: 'string' },
    });
    const model = str(p, 'model');
    if (!model) throw new UsageError('--model is required');
    const pooling = str(p, 'pooling');
    if (pooling !== undefined && !POOLING_MODES.includes(pooling as PoolingMode)) {
      throw new UsageError(`--pooling must be ${choices(POOLING_MODES)}, got '${pooling}'`);
    }
    if (flag(p, 'normalize') && flag(p, 'no-normalize')) throw new UsageError('--normalize and --no-normalize contradict each other');
    const normalize = flag(p, 'normalize') ? true : flag(p, 'no-normalize') ? false : undefined;
    const precision = str(p, 'precision');
    if (precision !== undefined && !EMBED_PRECISIONS.includes(precision as EmbedPrecision)) {
      throw new UsageError(`--precision must be ${choices(EMBED_PRECISIONS)}, got '${precision}'`);
    }
    const dimensions = int(p, 'dimensions');
    const texts = await inputTexts(p.positionals, str(p, 'file'), io);
    if (texts.length === 0) throw new UsageError('no text to embed: give TEXT arguments, --file, or lines on standard input');

    const { options, done } = loadOptions(p, io);
    const engine = await Engine.load(requireModel(p), options).finally(done);
    try {
      const vectors = await engine.embed(texts, { pooling: pooling as PoolingMode | undefined, normalize, dimensions, precision: precision as EmbedPrecision | undefined });
      const rows = vectors.map((v) => Array.from(v));
      io.stdout.write(flag(p, 'json') ? `${JSON.stringify(rows)}\n` : rows.map((r) => JSON.stringify(r)).join('\n') + '\n');
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};

async function inputTexts(positionals: string[], file: string | undefined, io: CliIO): Promise<string[]> {
  if (file) {
    const { readFile } = await import('fs/promises');
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  }
  if (positionals.length) return positionals;
  if (io.stdin && !io.stdin.isTTY) return (await readAll(io.stdin)).split('\n').filter((l) => l.trim() !== '');
  return [];
}
