/**
 * The async iterable a generate() caller reads: the loop pushes token events as steps finish, the caller
 * pulls them at its own pace. Ends after the event carrying a finishReason, or by throwing the error that
 * failed the request. Never leaves a pending promise behind when the request ends, and creates no promise
 * that nobody awaits (so a caller that never iterates cannot cause an unhandled rejection).
 */
import type { TokenEvent } from './types';

export class TokenStream implements AsyncIterableIterator<TokenEvent> {
  private readonly buffer: TokenEvent[] = [];
  private waiter: { resolve: (r: IteratorResult<TokenEvent>) => void; reject: (e: unknown) => void } | null = null;
  private error: unknown = null;
  /** the final event (or the error) has been pushed */
  private closed = false;
  /** the caller has seen the end */
  private done = false;

  /** @param onCancel called once when the caller stops reading before the end (break, return, throw) */
  constructor(private readonly onCancel: () => void) {}

  get isClosed(): boolean {
    return this.closed;
  }

  push(ev: TokenEvent): void {
    if (this.closed) return;
    if (ev.finishReason) this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: ev, done: false });
    } else {
      this.buffer.push(ev);
    }
  }

  /**
   * Ends the stream early with `reason` (an abort): the last undelivered token carries it, or, if every
   * token was delivered, an event with tokenId -1 (no token) does.
   */
  end(reason: 'abort' | 'stop' | 'length'): void {
    if (this.closed) return;
    const last = this.buffer[this.buffer.length - 1];
    if (last) {
      last.finishReason = reason;
      this.closed = true;
    } else {
      this.push({ tokenId: -1, finishReason: reason });
    }
  }

  fail(error: unknown): void {
    if (this.closed) return;
    this.closed = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.done = true;
      w.reject(error);
    } else {
      this.error = error;
    }
  }

  next(): Promise<IteratorResult<TokenEvent>> {
    if (this.buffer.length) {
      const value = this.buffer.shift()!;
      return Promise.resolve({ value, done: false });
    }
    if (this.done || (this.closed && this.error === null)) {
      this.done = true;
      return Promise.resolve({ value: undefined, done: true });
    }
    if (this.error !== null) {
      const e = this.error;
      this.error = null;
      this.done = true;
      return Promise.reject(e);
    }
    if (this.waiter) return Promise.reject(new Error('TokenStream: next() called again before the previous call resolved'));
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  /** The caller stopped reading: cancel the request (frees its blocks) and end. */
  return(): Promise<IteratorResult<TokenEvent>> {
    const early = !this.closed;
    this.closed = true;
    this.done = true;
    this.buffer.length = 0;
    this.error = null;
    if (this.waiter) {
      this.waiter.resolve({ value: undefined, done: true });
      this.waiter = null;
    }
    if (early) this.onCancel();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<TokenEvent> {
    return this;
  }
}
