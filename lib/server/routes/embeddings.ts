/**
 * POST /v1/embeddings: input (a string, strings, token ids, or arrays of token ids) → one vector each.
 *
 * `encoding_format` says how a vector travels: 'float' (a JSON array of numbers) or 'base64' (the base64 of
 * its bytes: little-endian float32, what the official client asks for by default and decodes; or the bytes of
 * a quantized precision). The quantized names ('int8', 'uint8', 'binary', 'ubinary') are shorthand for a
 * JSON array of that `precision`'s codes. The Engine's embed options come from their fields through the
 * Engine's own entries: `dimensions` (Matryoshka), `precision` (sentence-transformers' quantize_embeddings)
 * and `ranges` (int8 / uint8 per-dimension [min[], max[]]; default: the request's own embeddings).
 */
import { EMBED_OPTIONS, EmbedOptions, checkEmbedCombination } from '../../engine/options';
import type { Embedding, EmbedPrecision } from '../../engine/embedding-output';
import { badRequest } from '../http';
import { checkCount, checkTokenTotal } from '../limits';
import { engineOptions, optionalEnum, textOrTokens } from '../validate';
import { RouteContext } from './context';

const QUANTIZED = ['int8', 'uint8', 'binary', 'ubinary'] as const;
const ENCODING_FORMATS = ['float', 'base64', ...QUANTIZED] as const;

const isLittleEndian = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** The base64 of a vector's bytes: little-endian float32, or the one-byte codes and packed bits as they are. */
function base64Of(v: Embedding): string {
  const bytes = Buffer.from(v.buffer, v.byteOffset, v.byteLength);
  if (!(v instanceof Float32Array) || isLittleEndian) return bytes.toString('base64');
  const le = Buffer.alloc(v.byteLength);
  v.forEach((x, i) => le.writeFloatLE(x, 4 * i));
  return le.toString('base64');
}

/** The embed options the body asks for: the Engine's fields, the encoding_format shorthand, and their combination against the model. */
function embedOptions(ctx: RouteContext, format: (typeof ENCODING_FORMATS)[number]): EmbedOptions {
  const o = engineOptions(ctx.body, EMBED_OPTIONS, { width: ctx.engine.spec.hiddenSize });
  if ((QUANTIZED as readonly string[]).includes(format)) {
    if (o.precision !== undefined && o.precision !== format) {
      throw badRequest('precision', `'precision' is '${o.precision}' but 'encoding_format' asks for '${format}'`);
    }
    o.precision = format as EmbedPrecision;
  }
  checkEmbedCombination(o, ctx.engine.spec.hiddenSize, (option, message) => {
    throw badRequest(EMBED_OPTIONS[option].field ?? option, message);
  });
  return o as EmbedOptions;
}

export async function embeddings(ctx: RouteContext): Promise<void> {
  const { engine, body } = ctx;
  const inputs = textOrTokens(body, 'input', engine.spec.vocabSize);
  checkCount('input', inputs.length, ctx.limits, 'maxEmbeddingInputs');
  const format = optionalEnum(body, 'encoding_format', ENCODING_FORMATS) ?? 'float';
  if (engine.spec.causal) throw badRequest('model', `${ctx.modelId} is a text generator; /v1/embeddings needs an embedding model`);
  if (engine.spec.numLabels !== undefined) throw badRequest('model', `${ctx.modelId} is a cross-encoder; it scores pairs at /v1/rerank, it does not embed`);
  const opts = embedOptions(ctx, format);
  // the ids the model reads (texts truncated to its maximum), tokenized once: the usage and the cap count these
  const tokens = await engine.tokenizeEmbedInputs(inputs as string[] | number[][], { signal: ctx.signal });
  const promptTokens = tokens.reduce((n, x) => n + x.ids.length, 0);
  checkTokenTotal('input', promptTokens, ctx.limits, 'maxEmbeddingTokens');
  if (ctx.signal.aborted) return;
  // a client that goes away stops the request: its inputs not yet embedded are dropped
  const vectors = await engine.embed(tokens, { ...opts, signal: ctx.signal });
  if (ctx.signal.aborted) return;
  const data = vectors.map((v, index) => ({ object: 'embedding', index, embedding: format === 'base64' ? base64Of(v) : Array.from(v) }));
  ctx.res.writeHead(200, { 'content-type': 'application/json' });
  ctx.res.end(JSON.stringify({ object: 'list', data, model: ctx.modelId, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } }));
}
