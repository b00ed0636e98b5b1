/**
 * FramedConnection: one stream socket speaking frames with CBOR bodies, with
 * request/response correlation on the frame id (one pending map, no
 * per-request listener). Frame types RESULT and FAILURE answer a request;
 * any other type is a request (id != 0) or an event (id 0) for the handler.
 * A malformed frame closes only this connection, with the reason reported.
 * A listener passes its connection's admission Ticket (admission.ts), which
 * bounds frames before authentication and the bytes held in partial frames.
 */
import type { Socket } from 'node:net';
import { decodeValue, encodeValue } from './cbor.js';
import type { Ticket } from './admission.js';
import { ClosedError, MeshError, ProtocolError, TimeoutError } from './errors.js';
import { DEFAULT_MAX_FRAME, encodeFrame, FrameDecoder, type Frame } from './frame.js';

export const RESULT = 1;
export const FAILURE = 2;

export interface ConnectionHandler {
  /** A request (reply with the returned value, or a thrown MeshError) or an event (id 0). */
  onMessage(type: number, body: unknown, conn: FramedConnection): unknown | Promise<unknown>;
  /** The connection closed; `reason` says why when it was not a clean end. */
  onClose?(reason: Error | undefined): void;
}

interface Pending {
  resolve(value: unknown): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout | undefined;
}

export class FramedConnection {
  private readonly decoder: FrameDecoder;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closedReason: Error | undefined;
  private isClosed = false;

  constructor(
    readonly socket: Socket,
    private readonly handler: ConnectionHandler,
    maxFrame = DEFAULT_MAX_FRAME,
    private readonly ticket?: Ticket,
  ) {
    this.decoder = new FrameDecoder(maxFrame, ticket);
    socket.setNoDelay?.(true);
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.close(err));
    socket.on('close', () => this.finish());
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** The peer authenticated: the listener's pre-authentication bounds no longer apply. */
  authenticated(): void {
    this.ticket?.authenticated();
  }

  private onData(chunk: Buffer): void {
    let frames: Frame[];
    try {
      frames = this.decoder.push(chunk);
    } catch (err) {
      this.close(err as Error);
      return;
    }
    for (const f of frames) {
      if (this.isClosed) return;
      this.dispatch(f);
    }
  }

  private dispatch(f: Frame): void {
    let body: unknown;
    try {
      body = f.body.length ? decodeValue(f.body) : undefined;
    } catch (err) {
      this.close(err as Error);
      return;
    }
    if (f.type === RESULT || f.type === FAILURE) {
      const p = this.pending.get(f.id);
      if (!p) return; // late answer after a timeout
      this.pending.delete(f.id);
      if (p.timer) clearTimeout(p.timer);
      if (f.type === RESULT) p.resolve(body);
      else p.reject(MeshError.parse((body ?? { code: 'INTERNAL' }) as { code: string; message?: string }));
      return;
    }
    let result: unknown;
    try {
      result = this.handler.onMessage(f.type, body, this);
    } catch (err) {
      this.answerError(f.id, err);
      return;
    }
    if (f.id === 0) {
      if (result instanceof Promise) result.catch((err) => this.close(err as Error));
      return;
    }
    if (result instanceof Promise) {
      result.then((v) => this.answer(f.id, v), (err) => this.answerError(f.id, err));
    } else {
      this.answer(f.id, result);
    }
  }

  private answer(id: number, value: unknown): void {
    this.write(RESULT, id, value);
  }

  private answerError(id: number, err: unknown): void {
    if (id === 0) {
      this.close(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    const wire = err instanceof MeshError ? err.toWire() : { code: 'INTERNAL', message: (err as Error)?.message ?? String(err) };
    this.write(FAILURE, id, wire);
  }

  private write(type: number, id: number, value: unknown): boolean {
    if (this.isClosed) return false;
    return this.socket.write(encodeFrame(type, id, value === undefined ? new Uint8Array(0) : encodeValue(value)));
  }

  /** Send an event (no answer expected). */
  send(type: number, body?: unknown): boolean {
    return this.write(type, 0, body);
  }

  /** Send a request and wait for its answer (a MeshError on failure). */
  request<T = unknown>(type: number, body?: unknown, timeoutMs = 10_000): Promise<T> {
    if (this.isClosed) return Promise.reject(new ClosedError(`connection closed${this.closedReason ? `: ${this.closedReason.message}` : ''}`));
    const id = this.nextId;
    this.nextId = this.nextId >= 0xfffffff0 ? 1 : this.nextId + 1;
    return new Promise<T>((resolve, reject) => {
      const timer = timeoutMs > 0 ? setTimeout(() => {
        this.pending.delete(id);
        reject(new TimeoutError(`request type ${type} timed out after ${timeoutMs} ms`));
      }, timeoutMs) : undefined;
      timer?.unref?.();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.write(type, id, body);
    });
  }

  /** Close the connection; `reason` is reported to the handler (and logged by it). */
  close(reason?: Error): void {
    if (this.isClosed) return;
    this.closedReason = reason;
    this.socket.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.isClosed && this.pending.size === 0 && this.finished) return;
    this.isClosed = true;
    if (this.finished) return;
    this.finished = true;
    const err = new ClosedError(`connection closed${this.closedReason ? `: ${this.closedReason.message}` : ''}`);
    for (const p of this.pending.values()) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
    this.handler.onClose?.(this.closedReason);
  }

  private finished = false;
}

/** Is this error a protocol violation by the peer (as opposed to an I/O error)? */
export const isProtocolViolation = (err: Error | undefined): boolean =>
  err instanceof ProtocolError || (err instanceof MeshError && err.code === 'FRAME_TOO_LARGE');
