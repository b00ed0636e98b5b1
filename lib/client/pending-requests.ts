/**
 * PendingRequests: an instance's requests waiting for replies, by correlation
 * id (one map, no listener per request). Each entry owns a timeout timer and,
 * optionally, an abort listener; whichever way it settles (reply, bounce,
 * timeout, abort, close) both are released.
 */
import { ClosedError, TimeoutError } from '../protocol/errors.js';
import type { Message } from './message.js';

interface Pending {
  resolve(m: Message): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
  signal: AbortSignal | undefined;
  onAbort: () => void;
}

export class PendingRequests {
  private readonly map = new Map<number, Pending>();
  private nextCorr = 1;

  get size(): number {
    return this.map.size;
  }

  /** Register a request under a fresh correlation id; `send(corr)` puts it on the wire (a throw rejects it). */
  start(label: string, timeoutMs: number, signal: AbortSignal | undefined, send: (corr: number) => void): Promise<Message> {
    if (signal?.aborted) return Promise.reject(new ClosedError('request aborted'));
    const corr = this.nextCorr;
    this.nextCorr = this.nextCorr >= 0xfffffff0 ? 1 : this.nextCorr + 1;
    return new Promise<Message>((resolve, reject) => {
      const timer = setTimeout(() => this.settle(corr)?.reject(new TimeoutError(`request to ${label} timed out after ${timeoutMs} ms`)), timeoutMs);
      const onAbort = (): void => this.settle(corr)?.reject(new ClosedError('request aborted'));
      this.map.set(corr, { resolve, reject, timer, signal, onAbort });
      signal?.addEventListener('abort', onAbort, { once: true });
      try {
        send(corr);
      } catch (err) {
        this.settle(corr)?.reject(err as Error);
      }
    });
  }

  /** Take a pending request out, releasing its timer and abort listener. */
  settle(corr: number): Pick<Pending, 'resolve' | 'reject'> | undefined {
    const p = this.map.get(corr);
    if (!p) return undefined;
    this.map.delete(corr);
    clearTimeout(p.timer);
    p.signal?.removeEventListener('abort', p.onAbort);
    return p;
  }

  rejectAll(err: Error): void {
    for (const corr of [...this.map.keys()]) this.settle(corr)?.reject(err);
  }
}
