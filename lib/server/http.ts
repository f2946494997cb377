/**
 * HTTP plumbing shared by the routes: OpenAI-style error objects, JSON responses (the official client needs
 * `content-type: application/json` to see any data), and strict body reading: JSON only, UTF-8 only, size-
 * and time-limited.
 */
import type { IncomingMessage, ServerResponse } from 'http';
import type { Socket } from 'net';
import { GpuformerError, shown } from '../errors';

/** An error the client caused or should see, with the HTTP status and the OpenAI error fields. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error', readonly code: string | null = null) {
    super(message);
  }
}

export const badRequest = (param: string, message: string) => new HttpError(400, message, param);

/**
 * Longest error message sent. Messages quote a caller's values through shown() (a short escaped prefix);
 * this bounds whatever else a message could carry (a chat template's exception, a library's text).
 */
const MAX_MESSAGE = 500;

/** The body OpenAI answers errors with: { error: { message, type, param, code } }. */
export function errorBody(e: HttpError): object {
  const message = e.message.length > MAX_MESSAGE ? `${e.message.slice(0, MAX_MESSAGE)}…` : e.message;
  return { error: { message, type: e.type, param: e.param, code: e.code } };
}

/** Maps anything thrown while serving to an HttpError: the engine's input errors are the client's fault. */
export function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof GpuformerError) {
    if (e.code === 'ERR_GPUFORMER_INPUT') return new HttpError(400, e.message, null, 'invalid_request_error', e.code);
    if (e.code === 'ERR_GPUFORMER_UNSUPPORTED') return new HttpError(400, e.message, null, 'invalid_request_error', e.code);
    if (e.code === 'ERR_GPUFORMER_ABORTED') return new HttpError(503, e.message, null, 'server_error', e.code);
    return new HttpError(500, e.message, null, 'server_error', e.code);
  }
  return new HttpError(500, e instanceof Error ? e.message : String(e), null, 'server_error');
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError, headers: Record<string, string> = {}): void {
  sendJson(res, e.status, errorBody(e), headers);
}

export interface BodyLimits {
  /** largest body (bytes, declared or streamed): 413 past it */
  maxBodyBytes: number;
  /** the whole body must have arrived this long after the request's headers: 408 otherwise */
  requestTimeoutMs: number;
}

/**
 * 415 unless the body is JSON as the API sends it: Content-Type application/json (charset, if given,
 * UTF-8) and no Content-Encoding. Checked before a byte of the body is read. A browser page on another site
 * can send a cross-origin POST without asking first only as text/plain, form data or multipart: refusing
 * those here is what keeps such a page from running generations on a server without an API key.
 */
export function checkJsonContentType(req: IncomingMessage): void {
  const header = req.headers['content-type'] ?? '';
  const [type, ...params] = header.split(';').map((s) => s.trim().toLowerCase());
  const charset = params.find((p) => p.startsWith('charset='))?.slice('charset='.length).replace(/^"|"$/g, '');
  const unsupported = (message: string) => new HttpError(415, message, null, 'invalid_request_error', 'unsupported_media_type');
  if (type !== 'application/json') {
    throw unsupported(`the request body must be JSON sent as Content-Type: application/json, got ${header ? shown(header) : 'no Content-Type'}`);
  }
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') {
    throw unsupported(`JSON bodies must be UTF-8, got charset ${shown(charset)}`);
  }
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
    throw unsupported(`Content-Encoding ${shown(encoding)} is not supported: send the body uncompressed`);
  }
}

/**
 * Reads the whole body as JSON (after checkJsonContentType): 413 past maxBodyBytes (declared or streamed),
 * 408 when it has not all arrived within requestTimeoutMs (a client sending a byte now and then holds a
 * socket and a buffer for no more than that), 400 when it is not UTF-8 or not JSON.
 */
export async function readJsonBody(req: IncomingMessage, limits: BodyLimits): Promise<unknown> {
  const { maxBodyBytes, requestTimeoutMs } = limits;
  const tooLarge = () => new HttpError(413, `the request body exceeds the server's limit of ${maxBodyBytes} bytes`, null,
    'invalid_request_error', 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBodyBytes) throw tooLarge();
  const bytes = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let finished = false;
    const finish = (error?: Error) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      req.off('data', onData).off('end', onEnd).off('error', onClosed).off('close', onClosed);
      if (error) reject(error);
      else resolve(Buffer.concat(chunks, size));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBodyBytes) finish(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => finish();
    const onClosed = () => finish(new HttpError(400, 'the client closed the connection before sending the whole body'));
    // judged after the bytes already here are read: a timer due while this process was held up (a loaded
    // machine, a long parse) fires before the waiting input is read, and would blame the client for it
    const timer = setTimeout(() => setImmediate(() => finish(new HttpError(408, `the request body did not arrive within ` +
      `${requestTimeoutMs / 1000} s (the server's request timeout)`, null, 'invalid_request_error', 'request_timeout'))), requestTimeoutMs);
    req.on('data', onData).on('end', onEnd).on('error', onClosed).on('close', onClosed);
  });
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new HttpError(400, 'the request body is not valid UTF-8');
  }
  if (text.trim() === '') throw new HttpError(400, 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
}

/** How long a refused connection goes on reading what its client still sends after the answer (nginx's lingering_timeout). */
export const LINGER_MS = 5000;

/**
 * Has the connection of a request answered before its body was all read (too large, too slow, not JSON)
 * close in stages (RFC 9112 section 9.6) once the answer is sent. Closed outright, the bytes the client is
 * still sending would arrive at a closed socket; the kernel answers them with a reset, which can reach the
 * client before it has read the answer: it then sees EPIPE or ECONNRESET, never its 413 or 408 (a slow
 * client on a loaded machine lost its 408 so). Instead: the answer, then a FIN, then the client's bytes
 * read and dropped until it closes its side or `lingerMs` pass.
 */
export function closeInStages(socket: Socket, lingerMs = LINGER_MS): void {
  // node ends a `connection: close` response with socket.destroySoon(): end, then destroy once flushed
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), lingerMs).unref();
    socket.once('close', () => clearTimeout(timer));
  };
}
