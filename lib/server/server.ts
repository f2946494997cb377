/**
 * The OpenAI-compatible HTTP server (DESIGN section 7) on node:http: routing, the API key, the request
 * limits every route shares (lib/server/limits.ts: body size and time, JSON only), the Host and CORS checks
 * (lib/server/access.ts), client disconnects (which abort the request and free its KV blocks), and the
 * per-request metrics and access log, aborted requests included.
 *
 *   POST /v1/embeddings  /v1/completions  /v1/chat/completions  /v1/rerank
 *   GET  /v1/models  /v1/models/{id}  /health  /metrics
 */
import * as http from 'http';
import { setMaxListeners } from 'events';
import type { AddressInfo, Socket } from 'net';
import { timingSafeEqual } from 'crypto';
import { shown } from '../errors';
import { AccessPolicy } from './access';
import { HttpError, checkJsonContentType, closeInStages, errorBody, readJsonBody, sendError, sendJson, toHttpError } from './http';
import { RequestLimits, resolveLimits } from './limits';
import { ServerMetrics } from './metrics';
import { chatCompletions } from './routes/chat';
import { completions } from './routes/completions';
import { RouteContext, unixSeconds } from './routes/context';
import { embeddings } from './routes/embeddings';
import { rerank } from './routes/rerank';
import type { ServedEngine, ServerOptions } from './types';
import { asBody, requiredString } from './validate';

type Handler = (ctx: RouteContext) => Promise<void>;

const POST_ROUTES: Record<string, Handler> = {
  '/v1/completions': completions,
  '/v1/chat/completions': chatCompletions,
  '/v1/embeddings': embeddings,
  '/v1/rerank': rerank,
};

/** The status a request the client abandoned is logged and counted with (nginx's "client closed request"). */
export const CLIENT_CLOSED = 499;

export class OpenAIServer {
  readonly metrics = new ServerMetrics();
  readonly limits: RequestLimits;
  private readonly server: http.Server;
  private readonly created = unixSeconds();
  private readonly access: AccessPolicy;

  constructor(private readonly engine: ServedEngine, private readonly options: ServerOptions) {
    this.limits = resolveLimits(options);
    this.access = new AccessPolicy({ host: options.host ?? '127.0.0.1', allowedHosts: options.allowedHosts, allowedOrigins: options.allowedOrigins });
    const timeout = this.limits.requestTimeoutMs;
    this.server = http.createServer({
      // slow headers: node answers 408 and closes the socket, checking every connectionsCheckingInterval
      headersTimeout: timeout,
      connectionsCheckingInterval: Math.min(30_000, Math.max(10, Math.floor(timeout / 4))),
      // the body's deadline is readJsonBody's (answered and counted like any error); a response then
      // streams for as long as its generation runs
      requestTimeout: 0,
    }, (req, res) => {
      this.handle(req, res).catch((e) => {
        // handle() answers every error itself; this only guards against a failure while answering
        if (!res.headersSent) sendError(res, toHttpError(e));
        else res.destroy(e);
      });
    });
    this.server.keepAliveTimeout = 5000;
    // a request node itself refuses before it has one (slow or oversized headers, a malformed request):
    // answered as node would, and counted and logged like any other
    this.server.on('connection', (socket: Socket) => this.waitingSince.set(socket, performance.now()));
    this.server.on('clientError', (e: NodeJS.ErrnoException, socket: Socket) => this.clientError(e, socket));
  }

  /** per connection: since when it waits for a request (its start, or its last response's end) */
  private readonly waitingSince = new WeakMap<Socket, number>();

  /**
   * A connection whose request node's parser refused: 408 when its headers did not all arrive within the
   * request timeout (headersTimeout), 431 when they are too large, 400 when malformed. The answer is written
   * where nothing of a response went out yet (node's own rule), counted under route 'other' and logged with
   * method and path '-' (the request never got as far as having them), and the connection closed.
   */
  private clientError(e: NodeJS.ErrnoException, socket: Socket): void {
    const unanswered = socket.writable && socket.bytesWritten === 0 && !(socket as { _httpMessage?: unknown })._httpMessage;
    if (unanswered && e.code !== 'ECONNRESET') {
      const timedOut = e.code === 'ERR_HTTP_REQUEST_TIMEOUT';
      const error = timedOut
        ? new HttpError(408, `the request headers did not arrive within ${this.limits.requestTimeoutMs / 1000} s (the server's request timeout)`,
          null, 'invalid_request_error', 'request_timeout')
        : e.code === 'HPE_HEADER_OVERFLOW'
          ? new HttpError(431, 'the request headers are too large', null, 'invalid_request_error', 'headers_too_large')
          : new HttpError(400, 'the request is not valid HTTP', null, 'invalid_request_error', 'bad_request');
      const body = JSON.stringify(errorBody(error));
      socket.write(`HTTP/1.1 ${error.status} ${http.STATUS_CODES[error.status]}\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
      const ms = performance.now() - (this.waitingSince.get(socket) ?? performance.now());
      this.metrics.countRequest('other', error.status);
      this.options.onRequest?.({ method: '-', path: '-', status: error.status, ms });
    }
    socket.destroy(e);
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
    // a client that goes away before the response is complete aborts its request (and frees its KV blocks);
    // the request's generations (at most maxPrompts × maxN) and its tokenization each listen to the signal
    const ac = new AbortController();
    setMaxListeners(this.limits.maxPrompts * this.limits.maxN + 4, ac.signal);
    let recorded = false;
    const record = (status: number) => {
      if (recorded) return;
      recorded = true;
      const ms = performance.now() - startedAt;
      this.metrics.countRequest(route, status);
      if (route !== '/metrics' && route !== '/health') this.metrics.requestLatency.observe(ms / 1000);
      this.options.onRequest?.({ method: loggable(method), path: loggable(path), status, ms });
    };
    res.on('finish', () => {
      record(res.statusCode);
      this.waitingSince.set(req.socket, performance.now());
    });
    res.on('close', () => {
      if (res.writableFinished) return;
      this.metrics.aborted++;
      ac.abort();
      record(CLIENT_CLOSED);
    });

    try {
      this.access.checkHost(req);
      if (this.access.cors(req, res)) return;
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
        const id = decodePathSegment(path.slice('/v1/models/'.length));
        if (id !== this.options.modelId) throw this.unknownModel(id);
        return sendJson(res, 200, this.modelCard());
      }
      const handler = POST_ROUTES[path];
      if (!handler) {
        const known = path === '/health' || path === '/metrics' || path.startsWith('/v1/models');
        if (known) throw new HttpError(405, `${shown(method)} is not allowed on ${shown(path)}`, null, 'invalid_request_error', 'method_not_allowed');
        throw new HttpError(404, `no route ${shown(method)} ${shown(path)}`, null, 'invalid_request_error', 'not_found');
      }
      if (method !== 'POST') throw new HttpError(405, `${path} takes POST, not ${shown(method)}`, null, 'invalid_request_error', 'method_not_allowed');
      checkJsonContentType(req);
      const body = asBody(await readJsonBody(req, this.limits));
      const model = requiredString(body, 'model');
      if (model !== this.options.modelId) throw this.unknownModel(model);
      await handler({
        engine: this.engine, modelId: this.options.modelId, body, res, signal: ac.signal, metrics: this.metrics, startedAt, limits: this.limits,
      });
    } catch (e) {
      this.fail(req, res, e, ac.signal);
    }
  }

  /** Answers an error: as JSON before anything was sent, as a final SSE event mid-stream. */
  private fail(req: http.IncomingMessage, res: http.ServerResponse, e: unknown, signal: AbortSignal): void {
    if (signal.aborted || res.destroyed) return;
    const err = toHttpError(e);
    if (!res.headersSent) {
      if (req.complete) return sendError(res, err);
      // refused before its body was all read (too large, too slow, not JSON): what is left of it is
      // dropped unparsed, and the connection closes once the client has had the answer
      closeInStages(req.socket);
      sendError(res, err, { connection: 'close' });
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
    return new HttpError(404, `the model ${shown(id)} does not exist; this server serves '${this.options.modelId}'`, 'model',
      'invalid_request_error', 'model_not_found');
  }

  private modelCard() {
    // the longest input a request uses: a generator's context, or what an embedding model truncates to
    const maxLen = this.engine.spec.causal ? this.engine.maxModelLen : this.engine.maxSeqLength;
    return { id: this.options.modelId, object: 'model', created: this.created, owned_by: 'gpuformer', max_model_len: maxLen };
  }
}

/** Creates the server and starts listening. */
export async function serve(engine: ServedEngine, options: ServerOptions): Promise<OpenAIServer> {
  const server = new OpenAIServer(engine, options);
  await server.listen();
  return server;
}

/** A percent-encoded path segment decoded; 400 when its encoding is broken (%E0%A4%A). */
function decodePathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new HttpError(400, `the URL path segment ${shown(segment)} is not valid percent-encoded UTF-8`, null, 'invalid_request_error', 'invalid_url');
  }
}

/** A request's method or path as the access log shows it: at most 200 characters, controls escaped. */
function loggable(s: string): string {
  const cut = s.length > 200 ? `${s.slice(0, 200)}…` : s;
  return cut.replace(/[^\x20-\x7e]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
