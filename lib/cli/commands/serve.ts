/** `gpuformer serve --model M`: the OpenAI-compatible server, until Ctrl-C (or SIGTERM). */
import * as path from 'path';
import { Engine } from '../../engine/engine';
import { serve as startServer } from '../../server/server';
import type { ServerOptions } from '../../server/types';
import { DEFAULT_LIMITS } from '../../server/limits';
import { Parsed, UsageError, bytes, flag, int, list, num, parse, str } from '../args';
import { ENGINE_FLAGS, ENGINE_USAGE, loadOptions } from '../engine-flags';
import type { CliIO } from '../io';
import type { Command } from './command';

export const serve: Command = {
  name: 'serve',
  summary: 'serve a model over an OpenAI-compatible HTTP API',
  usage: `usage: gpuformer serve --model MODEL [options]
  --host HOST                 address to bind (default 127.0.0.1: this machine only)
  --port N                    port (default 8000; 0 picks a free one)
  --api-key KEY               require 'Authorization: Bearer KEY' on /v1 (default: $GPUFORMER_API_KEY, else none)
  --served-model-name ID      the name clients pass as 'model' (default: the model's directory or file name)
  --quiet                     no access log (one line per request on stderr; 499: the client went away)
browser safety:
  --allowed-hosts H,...       names accepted in the Host header besides localhost, 127.0.0.1 and [::1]
                              (checked when bound to loopback, or whenever given; '*' turns it off)
  --allowed-origins O,...     origins whose browser pages may call the API, e.g. http://localhost:3000
                              (CORS; '*': any; default none)
request limits (a request past one gets a 4xx that names it):
  --max-body-bytes SIZE       largest request body (default 8MiB)
  --request-timeout S         seconds a client has to send its headers, and again its body (default ${DEFAULT_LIMITS.requestTimeoutMs / 1000})
  --max-embedding-inputs N    inputs per /v1/embeddings request (default ${DEFAULT_LIMITS.maxEmbeddingInputs})
  --max-embedding-tokens N    tokens per /v1/embeddings request, counted after truncation (default ${DEFAULT_LIMITS.maxEmbeddingTokens})
  --max-prompts N             prompts per /v1/completions request (default ${DEFAULT_LIMITS.maxPrompts})
  --max-n N                   largest n, choices per prompt (default ${DEFAULT_LIMITS.maxN})
${ENGINE_USAGE}
endpoints: POST /v1/completions /v1/chat/completions /v1/embeddings; GET /v1/models /health /metrics`,

  async run(argv: string[], io: CliIO): Promise<number> {
    const p = parse(argv, {
      ...ENGINE_FLAGS, host: { type: 'string' }, port: { type: 'string' }, 'api-key': { type: 'string' },
      'served-model-name': { type: 'string' }, quiet: { type: 'boolean' },
      'allowed-hosts': { type: 'string', multiple: true }, 'allowed-origins': { type: 'string', multiple: true },
      'max-body-bytes': { type: 'string' }, 'request-timeout': { type: 'string' }, 'max-embedding-inputs': { type: 'string' },
      'max-embedding-tokens': { type: 'string' }, 'max-prompts': { type: 'string' }, 'max-n': { type: 'string' },
    }, 0);
    const model = str(p, 'model');
    if (!model) throw new UsageError('--model is required');
    const port = int(p, 'port', 0) ?? 8000;
    if (port > 65535) throw new UsageError(`--port must be at most 65535, got ${port}`);
    const modelId = str(p, 'served-model-name') ?? path.basename(model.replace(/[\\/]+$/, '')).replace(/\.gguf$/i, '');
    // every server flag is read before the model loads, so a mistake is reported at once
    const quiet = flag(p, 'quiet');
    const serverOptions: ServerOptions = {
      modelId, host: str(p, 'host') ?? '127.0.0.1', port, apiKey: str(p, 'api-key') ?? (process.env.GPUFORMER_API_KEY || undefined),
      allowedHosts: commaList(p, 'allowed-hosts'), allowedOrigins: commaList(p, 'allowed-origins'),
      maxBodyBytes: bytes(p, 'max-body-bytes'), requestTimeoutMs: seconds(p, 'request-timeout'),
      maxEmbeddingInputs: int(p, 'max-embedding-inputs'), maxEmbeddingTokens: int(p, 'max-embedding-tokens'),
      maxPrompts: int(p, 'max-prompts'), maxN: int(p, 'max-n'),
      onRequest: quiet ? undefined : (r) => io.stderr.write(`${r.method} ${r.path} ${r.status} ${r.ms.toFixed(1)} ms\n`),
    };
    const { options, done } = loadOptions(p, io);
    const engine = await Engine.load(model, options).finally(done);
    try {
      const server = await startServer(engine, serverOptions);
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

/** A flag given once or more, each value a comma-separated list. */
function commaList(p: Parsed, name: string): string[] | undefined {
  const values = list(p, name).flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return values.length > 0 ? values : undefined;
}

/** A duration flag in seconds (fractions allowed), as whole milliseconds. */
function seconds(p: Parsed, name: string): number | undefined {
  const s = num(p, name, 0.001, 86_400);
  return s === undefined ? undefined : Math.round(s * 1000);
}
