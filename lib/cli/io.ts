/** Where a CLI command reads and writes: the process's streams in real use, buffers in tests. */
import type { ProgressStream } from './progress';

export interface CliIO {
  stdout: ProgressStream;
  stderr: ProgressStream;
  /** read when a command takes its input from a pipe (no prompt/text argument) */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  /** resolves when the user asks to stop (Ctrl-C); `serve` waits on it */
  interrupted?: Promise<void>;
}

/** Reads a whole stream as UTF-8 text. */
export async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(typeof c === 'string' ? Buffer.from(c) : (c as Buffer));
  return Buffer.concat(chunks).toString('utf8');
}
