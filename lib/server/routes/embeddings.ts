/**
 * POST /v1/embeddings: input (a string, strings, token ids, or arrays of token ids) → one vector each, as
 * JSON floats or, with encoding_format 'base64' (what the official client asks for by default), as the
 * base64 of the little-endian float32 bytes.
 */
import { badRequest } from '../http';
import { checkCount, checkTokenTotal } from '../limits';
import { optionalEnum, optionalNumber, textOrTokens } from '../validate';
import { RouteContext } from './context';

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function base64Float32(v: Float32Array): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (isLittleEndian) return bytes.toString('base64');
  const le = Buffer.alloc(v.byteLength);
  v.forEach((x, i) => le.writeFloatLE(x, 4 * i));
  return le.toString('base64');
}

export async function embeddings(ctx: RouteContext): Promise<void> {
  const { engine, body } = ctx;
  const inputs = textOrTokens(body, 'input', engine.spec.vocabSize);
  checkCount('input', inputs.length, ctx.limits, 'maxEmbeddingInputs');
  const format = optionalEnum(body, 'encoding_format', ['float', 'base64'] as const) ?? 'float';
  const dims = optionalNumber(body, 'dimensions', 1, 1e6, true);
  if (engine.spec.causal) throw badRequest('model', `${ctx.modelId} is a text generator; /v1/embeddings needs an embedding model`);
  if (dims !== undefined && dims !== engine.spec.hiddenSize) {
    throw badRequest('dimensions', `'dimensions' must be the model's ${engine.spec.hiddenSize} (this model cannot shorten its vectors), got ${dims}`);
  }
  // the ids the model reads (texts truncated to its maximum), tokenized once: the usage and the cap count these
  const ids = await engine.tokenizeEmbedInputs(inputs as string[] | number[][], { signal: ctx.signal });
  const promptTokens = ids.reduce((n, x) => n + x.length, 0);
  checkTokenTotal('input', promptTokens, ctx.limits, 'maxEmbeddingTokens');
  if (ctx.signal.aborted) return;
  const vectors = await engine.embed(ids);
  if (ctx.signal.aborted) return;
  const data = vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? base64Float32(v) : Array.from(v) }));
  ctx.res.writeHead(200, { 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify({ object: 'list', data, model: ctx.modelId, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }));
}
