/**
 * Server-sent events as the OpenAI streaming API sends them: `data: {json}\n\n` per chunk, then
 * `data: [DONE]\n\n`. Writes respect back-pressure: a slow client slows only its own stream.
 */
import type { ServerResponse } from 'http';

export class SseWriter {
  private started = false;

  constructor(private readonly res: ServerResponse) {}

  get isOpen(): boolean {
    return !this.res.destroyed && !this.res.writableEnded;
  }

  /** Sends one event; resolves when the socket can take more. */
  async send(data: unknown): Promise<void> {
    this.start();
    if (!this.isOpen) return;
    if (!this.res.write(`data: ${JSON.stringify(data)}\n\n`)) await this.drain();
  }

  /** Ends the stream with [DONE]. */
  done(): void {
    this.start();
    if (this.isOpen) this.res.end('data: [DONE]\n\n');
  }

  private start(): void {
    if (this.started) return;
    this.started = true;
    this.res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      // no Connection header of our own: node keeps the connection alive, or closes it after [DONE] when the
      // client asked for that (Connection: close, HTTP/1.0)
      'x-accel-buffering': 'no',
    });
    this.res.flushHeaders();
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}
