/** `gpuformer pull ORG/NAME`: downloads a model from the Hugging Face hub into the standard cache. */
import { pull as pullModel } from '../../loader/hub';
import { UsageError, flag, list, parse, str } from '../args';
import type { CliIO } from '../io';
import { ProgressBar } from '../progress';
import type { Command } from './command';

export const pull: Command = {
  name: 'pull',
  summary: 'download a model from the Hugging Face hub into the local cache',
  usage: `usage: gpuformer pull ORG/NAME [options]
  --revision REV          branch, tag or commit (default main)
  --file PATH             download exactly this file of the repository (repeatable), e.g. one GGUF quantization
  --cache-dir DIR         the hub cache (default $HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub)
  --token TOKEN           access token for gated or private models (default $HF_TOKEN)
  --offline               use the cache only
prints the local snapshot directory, which every command takes as MODEL`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      revision: { type: 'string' }, file: { type: 'string', multiple: true }, 'cache-dir': { type: 'string' },
      token: { type: 'string' }, offline: { type: 'boolean' },
    }, 1);
    const id = p.positionals[0];
    if (!id) throw new UsageError('ORG/NAME is required');
    const bar = new ProgressBar(io.stderr, 'downloading');
    const files = list(p, 'file');
    const pulled = await pullModel(id, {
      revision: str(p, 'revision'), files: files.length ? files : undefined, cacheDir: str(p, 'cache-dir'), token: str(p, 'token'),
      offline: flag(p, 'offline') || undefined,
      onProgress: (x) => bar.update(x.bytesDone, x.bytesTotal, `downloading ${x.file}`),
    }).finally(() => bar.finish());
    io.stdout.write(`${pulled.dir}\n`);
    return 0;
  },
};
