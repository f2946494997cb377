/**
 * A raw TCP client for the protocol tests: writes exactly the bytes given (on a schedule, for slow clients)
 * and reports what came back and whether the server closed the connection. Every wait is bounded.
 */
import * as net from 'net';

export interface RawExchange {
  /** everything the server sent */
  data: string;
  /** the server ended or closed the connection (before `closeWithinMs` ran out) */
  closedByServer: boolean;
  /** milliseconds from connecting to the server's close (or to giving up) */
  ms: number;
}

/**
 * Connects to 127.0.0.1:port, writes each piece `gapMs` after the previous one (stopping once the server
 * has closed), and waits at most `closeWithinMs` in all for the server to close the connection.
 */
export function rawExchange(port: number, pieces: Array<string | Buffer>, o: { gapMs?: number; closeWithinMs: number }): Promise<RawExchange> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let done = false;
    const timers: NodeJS.Timeout[] = [];
    const finish = (closedByServer: boolean) => {
      if (done) return;
      done = true;
      timers.forEach(clearTimeout);
      socket.destroy();
      resolve({ data, closedByServer, ms: performance.now() - t0 });
    };
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    socket.on('connect', () => {
      pieces.forEach((p, i) => timers.push(setTimeout(() => {
        if (!done && socket.writable) socket.write(p);
      }, i * (o.gapMs ?? 0))));
    });
    timers.push(setTimeout(() => finish(false), o.closeWithinMs));
  });
}

/** The status code of the first HTTP response in `data`, or undefined. */
export const statusOf = (data: string) => Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1]) || undefined;
