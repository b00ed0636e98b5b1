/**
 * FuzzConn: the fuzzer's end of one stream socket (Unix or TCP). It sends
 * whatever bytes a case holds (at once, or dripped a few bytes at a time),
 * decodes the frames that come back (tolerantly: the server may answer with
 * anything, or close mid-frame), and tells when an answer to an id arrived or
 * the server closed the connection. Servers may close idle or slow
 * connections at any time; callers treat a close as an outcome, never as an
 * error, and reconnect for the next batch.
 */
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { FrameDecoder, type Frame } from '../../lib/protocol/frame.js';
import { Opener, Sealer } from '../../lib/protocol/link-seal.js';

export type Endpoint = { path: string } | { host: string; port: number };

export class FuzzConn {
  readonly frames: Frame[] = [];
  /** Raw bytes received (for protocols that are not framed, e.g. HTTP). */
  received: Buffer = Buffer.alloc(0);
  closed = false;
  /** The first socket error (a reset, a TLS alert), if any. */
  error: (Error & { code?: string }) | undefined;
  /** The decoder gave up on what the server sent (only for framed protocols). */
  garbled = false;
  private waiters: Array<() => void> = [];
  private readonly decoder: FrameDecoder | null;
  /** Link protocol 3: the frame type after which both directions are sealed, and the keys. */
  private sealNext: { type: number; read: Buffer; write: Buffer } | undefined;
  private opener: Opener | undefined;
  private sealer: Sealer | undefined;

  private constructor(readonly socket: Socket, framed: boolean, maxFrame: number) {
    this.decoder = framed ? new FrameDecoder(maxFrame) : null;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => void (this.error ??= err)); // resets are an outcome: 'close' follows
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
  }

  /** Connect (with `tls`: over TLS, once its handshake is done); rejects only when the server cannot be reached at all
   * (or refused the TLS handshake). */
  static open(to: Endpoint, opts: { framed?: boolean; maxFrame?: number; timeoutMs?: number; tls?: ConnectionOptions; localAddress?: string } = {}): Promise<FuzzConn> {
    return new Promise((resolve, reject) => {
      const tcp = { host: 'path' in to ? '' : to.host, port: 'path' in to ? 0 : to.port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) };
      const socket = 'path' in to ? connect(to.path) : opts.tls ? tlsConnect({ ...opts.tls, ...tcp }) : connect(tcp);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`connect to ${describe(to)} timed out`));
      }, opts.timeoutMs ?? 10_000);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      socket.once(opts.tls ? 'secureConnect' : 'connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        socket.setNoDelay?.(true);
        resolve(new FuzzConn(socket, opts.framed ?? true, opts.maxFrame ?? 64 * 1024 * 1024));
      });
    });
  }

  /** Link protocol 3: once a frame of `type` (WELCOME) arrives, what comes after it, and what we write from then on, is sealed. */
  sealAfter(type: number, keys: { read: Buffer; write: Buffer }): void {
    this.sealNext = { type, ...keys };
  }

  /** Our writes are sealed (after sealAfter's frame arrived). */
  get sealed(): boolean {
    return this.sealer !== undefined;
  }

  private onData(chunk: Buffer): void {
    if (this.decoder && !this.garbled) {
      try {
        let data: Uint8Array = chunk;
        while (this.sealNext && data.length > 0) {
          const one = this.decoder.push(data, 1);
          data = this.decoder.rest;
          if (one.length === 0) break;
          this.frames.push(one[0]!);
          if (one[0]!.type === this.sealNext.type) {
            this.opener = new Opener(this.sealNext.read);
            this.sealer = new Sealer(this.sealNext.write);
            this.sealNext = undefined;
          }
        }
        if (data.length > 0) {
          const payloads = this.opener ? this.opener.push(data) : [data];
          for (const p of payloads) for (const f of this.decoder.push(p)) this.frames.push(f);
        }
      } catch {
        this.garbled = true;
      }
    } else if (!this.decoder) {
      this.received = this.received.length ? Buffer.concat([this.received, chunk]) : chunk;
      if (this.received.length > 1 << 20) this.received = this.received.subarray(-(1 << 16)); // keep the tail only
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Write bytes (as one sealed chunk once sealed); false when the connection is already closed. */
  write(bytes: Uint8Array): boolean {
    if (this.closed || this.socket.destroyed) return false;
    if (this.sealer && bytes.length > 0) for (const b of this.sealer.seal([bytes])) this.socket.write(b);
    else this.socket.write(bytes);
    return true;
  }

  /** Write bytes as they are, sealed or not (forgeries). */
  writeRaw(bytes: Uint8Array): boolean {
    if (this.closed || this.socket.destroyed) return false;
    this.socket.write(bytes);
    return true;
  }

  /** Write `bytes` in pieces of `chunk` bytes, `delayMs` apart, stopping early if the server closes. */
  async drip(bytes: Uint8Array, chunk: number, delayMs: number): Promise<void> {
    for (let at = 0; at < bytes.length && !this.closed; at += chunk) {
      this.write(bytes.subarray(at, at + chunk));
      await sleep(delayMs);
    }
  }

  /** Half-close: no more bytes from us; the server may still answer. */
  end(): void {
    if (!this.closed) this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The answer frame to request `id`, if one arrived. */
  answer(id: number): Frame | undefined {
    return this.frames.find((f) => f.id === id && (f.type === 1 || f.type === 2));
  }

  /** Resolve once `done()` holds, the connection closes, or `ms` pass. Returns which. */
  until(done: () => boolean, ms: number): Promise<'done' | 'closed' | 'timeout'> {
    return new Promise((resolve) => {
      const check = (): boolean => {
        if (done()) return settle('done'), true;
        if (this.closed) return settle('closed'), true;
        return false;
      };
      const timer = setTimeout(() => settle('timeout'), ms);
      let settled = false;
      const settle = (how: 'done' | 'closed' | 'timeout'): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve(how);
      };
      const again = (): void => {
        if (!settled && !check()) this.waiters.push(again);
      };
      again();
    });
  }

  /** Resolve once the server closed the connection (true) or `ms` passed (false). */
  async closedWithin(ms: number): Promise<boolean> {
    return (await this.until(() => false, ms)) === 'closed';
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** `p`'s value, or `onTimeout` once `ms` passed first (the timer is cleared either way). */
export async function within<T, U>(p: Promise<T>, ms: number, onTimeout: U): Promise<T | U> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p, new Promise<U>((resolve) => (timer = setTimeout(() => resolve(onTimeout), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

export const describe = (to: Endpoint): string => ('path' in to ? to.path : `${to.host}:${to.port}`);
