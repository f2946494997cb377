/**
 * What the HTTP server needs from an engine: the public Engine meets it as is (lib/engine/engine.ts); tests
 * hand in fakes. Keeping it an interface lets the server be built and tested without a model.
 */
import type { ChatMessage, EmbedOptions, GenerateOptions } from '../engine/options';
import type { LoopStats } from '../engine/types';

export interface ServedChunk {
  text: string;
  tokenIds: number[];
  finishReason?: 'stop' | 'length' | 'abort';
}

export interface ServedEngine {
  readonly spec: { causal: boolean; vocabSize: number; hiddenSize: number; architecture: string };
  readonly maxModelLen: number;
  readonly tokenizer?: { encode(text: string, opts?: { addSpecialTokens?: boolean }): number[] };
  embed(input: string | string[] | number[][], opts?: EmbedOptions): Promise<Float32Array[]>;
  generate(prompt: string | number[], opts?: GenerateOptions): AsyncIterable<ServedChunk>;
  chat(messages: ChatMessage[], opts?: GenerateOptions): AsyncIterable<ServedChunk>;
  renderChat(messages: ChatMessage[]): string;
  stats(): LoopStats;
  /** device memory by purpose (bytes), when the engine reports it */
  memory?(): { device: string; budgetBytes: number; weightsBytes: number; workspaceBytes: number; activationsBytes: number;
    otherBytes: number; kv: { bytes: number } };
}

export interface ServerOptions {
  /** the name clients pass as `model` (default: the model directory's or file's base name) */
  modelId: string;
  /** default 127.0.0.1: only this machine can connect unless told otherwise */
  host?: string;
  /** default 8000; 0 picks a free port */
  port?: number;
  /** when set, /v1/* requires `Authorization: Bearer <apiKey>` */
  apiKey?: string;
  /** largest request body accepted (bytes, default 8 MiB); larger bodies get 413 */
  maxBodyBytes?: number;
  /** called once per finished request (method, path, status, milliseconds), e.g. for an access log */
  onRequest?: (r: { method: string; path: string; status: number; ms: number }) => void;
}
