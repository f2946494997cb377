/**
 * What the server tests share: OpenAI error bodies, waiting for a server state, and a raw TCP client that
 * writes exactly the bytes given, on a schedule (for slow clients), and reports what came back and when the
 * server closed the connection. Waits are for events; the test's own timeout bounds them.
 */
import * as net from 'net';

export interface ErrorObject { message: string; type: string; param: string | null; code: string | null }
export const errorOf = async (r: Response) => ((await r.json()) as { error: ErrorObject }).error;

/** Waits, however long this machine takes, for the server to reach a state (the test's own timeout bounds it). */
export async function until(cond: () => boolean) {
  while (!cond()) await new Promise((r) => setTimeout(r, 5));
}

export interface RawExchange {
  /** everything the server sent */
  data: string;
  /** milliseconds from connecting to the server's closing the connection */
  ms: number;
}

/**
 * Connects to 127.0.0.1:port, writes each piece `gapMs` after the previous one (stopping once the server has
 * closed), and resolves when the server closes the connection.
 */
export function rawExchange(port: number, pieces: Array<string | Buffer>, gapMs = 0): Promise<RawExchange> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = () => {
      if (closed) return;
      closed = true;
      timers.forEach(clearTimeout);
      socket.destroy();
      resolve({ data, ms: performance.now() - t0 });
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', finish).on('close', finish).on('error', finish);
    socket.on('connect', () => {
      pieces.forEach((p, i) => timers.push(setTimeout(() => {
        if (!closed && socket.writable) socket.write(p);
      }, i * gapMs)));
    });
  });
}

/** The status code of the first HTTP response in `data`, or undefined. */
export const statusOf = (data: string) => Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]) || undefined;
