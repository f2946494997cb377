/**
 * The OpenAI-compatible HTTP server (DESIGN section 7) on node:http: routing, the API key, body limits,
 * client disconnects (which abort the request and free its KV blocks), and the per-request metrics.
 *
 *   POST /v1/embeddings  /v1/completions  /v1/chat/completions
 *   GET  /v1/models  /v1/models/{id}  /health  /metrics
 */
import * as http from 'http';
import type { AddressInfo } from 'net';
import { timingSafeEqual } from 'crypto';
import { HttpError, errorBody, readJsonBody, sendError, sendJson, toHttpError } from './http';
import { ServerMetrics } from './metrics';
import { chatCompletions } from './routes/chat';
import { completions } from './routes/completions';
import { RouteContext, unixSeconds } from './routes/context';
import { embeddings } from './routes/embeddings';
import type { ServedEngine, ServerOptions } from './types';
import { asBody, requiredString } from './validate';

const DEFAULT_MAX_BODY = 8 * 2 ** 20;

type Handler = (ctx: RouteContext) => Promise<void>;

const POST_ROUTES: Record<string, Handler> = {
  '/v1/completions': completions,
  '/v1/chat/completions': chatCompletions,
  '/v1/embeddings': embeddings,
};

export class OpenAIServer {
  readonly metrics = new ServerMetrics();
  private readonly server: http.Server;
  private readonly created = unixSeconds();
  private readonly maxBodyBytes: number;

  constructor(private readonly engine: ServedEngine, private readonly options: ServerOptions) {
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY;
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        // handle() answers every error itself; this only guards against a failure while answering
        if (!res.headersSent) sendError(res, toHttpError(e));
        else res.destroy();
      });
    });
    // generations can stream for minutes
    this.server.requestTimeout = 0;
    this.server.keepAliveTimeout = 5000;
  }

  /** Starts listening (127.0.0.1:8000 unless told otherwise); resolves with the bound address. */
  listen(): Promise<AddressInfo> {
    const host = this.options.host ?? '127.0.0.1';
    const port = this.options.port ?? 8000;
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** The base URL clients use, e.g. http://127.0.0.1:8000/v1 */
  get url(): string {
    const a = this.server.address() as AddressInfo | null;
    if (!a) throw new Error('the server is not listening');
    const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
    return `http://${host}:${a.port}/v1`;
  }

  /** Stops accepting connections and closes idle ones; requests in flight are aborted. */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  // ------------------------------------------------------------------------------- requests

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const startedAt = performance.now();
    const method = req.method ?? 'GET';
    const path = (req.url ?? '/').split('?')[0].replace(/\/+$/, '') || '/';
    const route = POST_ROUTES[path] ? path : path.startsWith('/v1/models') ? '/v1/models' : ['/health', '/metrics'].includes(path) ? path : 'other';
    // a client that goes away before the response is complete aborts its request (and frees its KV blocks)
    const ac = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) {
        this.metrics.aborted++;
        ac.abort();
      }
    });
    res.on('finish', () => {
      this.metrics.countRequest(route, res.statusCode);
      if (route !== '/metrics' && route !== '/health') this.metrics.requestLatency.observe((performance.now() - startedAt) / 1000);
      this.options.onRequest?.({ method, path, status: res.statusCode, ms: performance.now() - startedAt });
    });

    try {
      if (path.startsWith('/v1/')) this.authorize(req);
      if (method === 'GET' && path === '/health') return sendJson(res, 200, { status: 'ok' });
      if (method === 'GET' && path === '/metrics') {
        const text = this.metrics.render(this.engine);
        res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8', 'content-length': Buffer.byteLength(text) });
        res.end(text);
        return;
      }
      if (method === 'GET' && path === '/v1/models') return sendJson(res, 200, { object: 'list', data: [this.modelCard()] });
      if (method === 'GET' && path.startsWith('/v1/models/')) {
        const id = decodeURIComponent(path.slice('/v1/models/'.length));
        if (id !== this.options.modelId) throw this.unknownModel(id);
        return sendJson(res, 200, this.modelCard());
      }
      const handler = POST_ROUTES[path];
      if (!handler) {
        const known = path === '/health' || path === '/metrics' || path.startsWith('/v1/models');
        if (known) throw new HttpError(405, `${method} is not allowed on ${path}`, null, 'invalid_request_error', 'method_not_allowed');
        throw new HttpError(404, `no route ${method} ${path}`, null, 'invalid_request_error', 'not_found');
      }
      if (method !== 'POST') throw new HttpError(405, `${path} takes POST, not ${method}`, null, 'invalid_request_error', 'method_not_allowed');
      const body = asBody(await readJsonBody(req, this.maxBodyBytes));
      const model = requiredString(body, 'model');
      if (model !== this.options.modelId) throw this.unknownModel(model);
      await handler({ engine: this.engine, modelId: this.options.modelId, body, res, signal: ac.signal, metrics: this.metrics, startedAt });
    } catch (e) {
      this.fail(res, e, ac.signal);
    }
  }

  /** Answers an error: as JSON before anything was sent, as a final SSE event mid-stream. */
  private fail(res: http.ServerResponse, e: unknown, signal: AbortSignal): void {
    if (signal.aborted || res.destroyed) return;
    const err = toHttpError(e);
    if (!res.headersSent) {
      // after a 413 the rest of the body is not worth reading: close the connection
      sendError(res, err, err.status === 413 ? { connection: 'close' } : {});
      return;
    }
    if (!res.writableEnded) res.end(`data: ${JSON.stringify(errorBody(err))}\n\ndata: [DONE]\n\n`);
  }

  private authorize(req: http.IncomingMessage): void {
    const key = this.options.apiKey;
    if (!key) return;
    const header = req.headers.authorization ?? '';
    const given = /^Bearer\s+(.+)$/i.exec(header)?.[1]?.trim() ?? '';
    const a = Buffer.from(given);
    const b = Buffer.from(key);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new HttpError(401, given ? 'the API key is not valid' : 'this server needs an API key: send Authorization: Bearer <key>',
        null, 'invalid_request_error', 'invalid_api_key');
    }
  }

  private unknownModel(id: string): HttpError {
    return new HttpError(404, `the model '${id}' does not exist; this server serves '${this.options.modelId}'`, 'model',
      'invalid_request_error', 'model_not_found');
  }

  private modelCard() {
    return { id: this.options.modelId, object: 'model', created: this.created, owned_by: 'gpuformer', max_model_len: this.engine.maxModelLen };
  }
}

/** Creates the server and starts listening. */
export async function serve(engine: ServedEngine, options: ServerOptions): Promise<OpenAIServer> {
  const server = new OpenAIServer(engine, options);
  await server.listen();
  return server;
}
