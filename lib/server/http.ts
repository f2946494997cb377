/**
 * HTTP plumbing shared by the routes: OpenAI-style error objects, JSON responses (the official client needs
 * `content-type: application/json` to see any data), and size-limited body reading.
 */
import type { IncomingMessage, ServerResponse } from 'http';
import { GpuformerError } from '../errors';

/** An error the client caused or should see, with the HTTP status and the OpenAI error fields. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string, readonly param: string | null = null,
    readonly type = status >= 500 ? 'server_error' : 'invalid_request_error', readonly code: string | null = null) {
    super(message);
  }
}

export const badRequest = (param: string, message: string) => new HttpError(400, message, param);

/** The body OpenAI answers errors with: { error: { message, type, param, code } }. */
export function errorBody(e: HttpError): object {
  return { error: { message: e.message, type: e.type, param: e.param, code: e.code } };
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

/** Reads the whole body as JSON; 413 past maxBytes (declared or streamed), 400 when it is not JSON. */
export async function readJsonBody(req: IncomingMessage, maxBytes: number): Promise<unknown> {
  const tooLarge = () => new HttpError(413, `the request body exceeds the server's limit of ${maxBytes} bytes`, null,
    'invalid_request_error', 'request_too_large');
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) throw tooLarge();
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) throw tooLarge();
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8');
  if (text.trim() === '') throw new HttpError(400, 'the request body is empty; send a JSON object');
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new HttpError(400, `the request body is not valid JSON: ${(e as Error).message}`);
  }
}
