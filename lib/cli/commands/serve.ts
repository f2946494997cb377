/** `gpuformer serve --model M`: the OpenAI-compatible server, until Ctrl-C (or SIGTERM). */
import * as path from 'path';
import { Engine } from '../../engine/engine';
import { serve as startServer } from '../../server/server';
import { UsageError, bytes, flag, int, parse, str } from '../args';
import { ENGINE_FLAGS, ENGINE_USAGE, loadOptions } from '../engine-flags';
import type { CliIO } from '../io';
import type { Command } from './command';

export const serve: Command = {
  name: 'serve',
  summary: 'serve a model over an OpenAI-compatible HTTP API',
  usage: `usage: gpuformer serve --model MODEL [options]
  --host HOST             address to bind (default 127.0.0.1: this machine only)
  --port N                port (default 8000; 0 picks a free one)
  --api-key KEY           require 'Authorization: Bearer KEY' on /v1 (default: $GPUFORMER_API_KEY, else none)
  --served-model-name ID  the name clients pass as 'model' (default: the model's directory or file name)
  --max-body-bytes SIZE   largest request body (default 8MiB)
  --quiet                 no access log
${ENGINE_USAGE}
endpoints: POST /v1/completions /v1/chat/completions /v1/embeddings; GET /v1/models /health /metrics`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      ...ENGINE_FLAGS, host: { type: 'string' }, port: { type: 'string' }, 'api-key': { type: 'string' },
      'served-model-name': { type: 'string' }, 'max-body-bytes': { type: 'string' }, quiet: { type: 'boolean' },
    }, 0);
    const model = str(p, 'model');
    if (!model) throw new UsageError('--model is required');
    const port = int(p, 'port', 0) ?? 8000;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const modelId = str(p, 'served-model-name') ?? path.basename(model.replace(/[\\/]+$/, '')).replace(/\.gguf$/i, '');
    const { options, done } = loadOptions(p, io);
    const engine = await Engine.load(model, options).finally(done);
    try {
      const quiet = flag(p, 'quiet');
      const server = await startServer(engine, {
        modelId, host: str(p, 'host') ?? '127.0.0.1', port, apiKey: str(p, 'api-key') ?? (process.env.GPUFORMER_API_KEY || undefined),
        maxBodyBytes: bytes(p, 'max-body-bytes'),
        onRequest: quiet ? undefined : (r) => io.stderr.write(`${r.method} ${r.path} ${r.status} ${r.ms.toFixed(1)} ms\n`),
      });
      io.stdout.write(`serving '${modelId}' (${engine.spec.architecture} on ${engine.device}) at ${server.url}\n`);
      await (io.interrupted ?? new Promise<void>(() => undefined));
      io.stderr.write('shutting down\n');
      await server.close();
    } finally {
      await engine.dispose();
    }
    return 0;
  },
};
