/**
 * The consuming sides of bench/ring.ts, both running in the parent process:
 * RingReceiver drains a ring zero-copy, SocketReceiver parses length-prefixed
 * frames off a Unix socket. Each hands every whole message to a MessageCounter,
 * which checks its sequence number and resolves when the run is complete.
 */
import type { Socket } from 'node:net';
import { Doorbell, Frag, Reassembler, Ring, fragOf } from '../lib/native/index.js';
import { readSeq } from './workload.js';

/** Counts the messages of one run, checking that they arrive in order and whole. */
export class MessageCounter {
  private expected = 0;
  private target = 0;
  private size = 0;
  private finish: (() => void) | undefined;
  private fail: ((err: Error) => void) | undefined;

  /** Expect `count` messages of `size` bytes, numbered 0..count-1. */
  start(count: number, size: number): Promise<void> {
    this.expected = 0;
    this.target = count;
    this.size = size;
    return new Promise((resolve, reject) => {
      this.finish = resolve;
      this.fail = reject;
    });
  }

  /** End the run with an error. */
  abort(err: Error): void {
    this.target = 0;
    this.fail?.(err);
  }

  get done(): boolean {
    return this.expected >= this.target;
  }

  /** One whole message. */
  readonly message = (body: Uint8Array): void => {
    const seq = readSeq(body, 0);
    if (seq !== this.expected || body.length !== this.size) {
      this.abort(new Error(`message ${this.expected}: got seq ${seq}, ${body.length} bytes (want ${this.size})`));
      return;
    }
    if (++this.expected === this.target) this.finish?.();
  };
}

/**
 * Ring consumer. It drains every waiting record in one pass (two FFI calls per
 * contiguous span, none per record: about 0.005 calls per 64 B message). When
 * the ring is empty it spins in C for `spinNs` before parking on the doorbell.
 *
 * Spinning wins. On a 2-core machine producer and consumer each own a core,
 * and the gap between two batches is a few tens of microseconds (the time the
 * producer takes to pack the next one), far below what a park costs: a FIFO
 * write on the producer (a syscall inside its hot loop) and an event-loop
 * round trip through uv_poll on the consumer. Measured here, park at once
 * (`--spin-us 0`) gave 22 M msg/s at 64 B and 10 M at 1 KiB; spinning 20 or
 * 200 µs gave 29-30 M and 19-21 M. Past the spin budget the consumer still
 * parks, so an idle benchmark costs no CPU.
 *
 * Messages larger than the ring's max record arrive as fragments and are put
 * back together by the library's Reassembler; at 64 KiB its copies (each
 * fragment sliced, then concatenated) are what bounds this side.
 */
export class RingReceiver {
  private readonly reassembler = new Reassembler<number>();
  private readonly visit: (type: number, body: Uint8Array) => void;

  constructor(
    private readonly ring: Ring,
    private readonly bell: Doorbell,
    private readonly counter: MessageCounter,
    private readonly spinNs: number,
  ) {
    const message = counter.message;
    const reassembler = this.reassembler;
    this.visit = (type, body) => {
      if (fragOf(type) === Frag.COMPLETE) {
        message(body);
        return;
      }
      const whole = reassembler.push(0, type, body);
      if (whole) message(whole);
    };
    bell.listen(() => this.pump());
  }

  /** Receive one run of `count` messages of `size` bytes. */
  run(count: number, size: number): Promise<void> {
    const done = this.counter.start(count, size);
    this.pump();
    return done;
  }

  /** Consume until the run is complete, or the ring stays empty past the spin budget (then park). */
  private pump(): void {
    const { ring, counter, visit, spinNs } = this;
    ring.unpark();
    while (!counter.done) {
      if (ring.drain(visit) > 0) continue;
      if (spinNs > 0 && ring.spin(spinNs)) continue;
      if (ring.park()) return; // the doorbell calls pump again
    }
  }

  close(): void {
    this.bell.close();
    this.ring.close();
  }
}

/** Unix-socket reader: parses length-prefixed frames (uint32 LE length + payload). */
export class SocketReceiver {
  /** A frame that spans chunks, being assembled. */
  private partial: Uint8Array | null = null;
  private filled = 0;
  /** A length prefix that spans chunks. */
  private readonly header = Buffer.alloc(4);
  private headerFill = 0;

  constructor(
    private readonly socket: Socket,
    private readonly counter: MessageCounter,
    private readonly maxFrame: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.parse(chunk));
    socket.on('error', (err) => counter.abort(err));
  }

  run(count: number, size: number): Promise<void> {
    return this.counter.start(count, size);
  }

  private parse(chunk: Buffer): void {
    const message = this.counter.message;
    let off = 0;
    while (off < chunk.length) {
      if (this.partial) {
        const n = Math.min(this.partial.length - this.filled, chunk.length - off);
        this.partial.set(chunk.subarray(off, off + n), this.filled);
        this.filled += n;
        off += n;
        if (this.filled === this.partial.length) {
          const whole = this.partial;
          this.partial = null;
          message(whole);
        }
        continue;
      }
      if (this.headerFill > 0 || chunk.length - off < 4) {
        const n = Math.min(4 - this.headerFill, chunk.length - off);
        chunk.copy(this.header, this.headerFill, off, off + n);
        this.headerFill += n;
        off += n;
        if (this.headerFill < 4) continue;
        this.headerFill = 0;
        if (!this.begin(this.header.readUInt32LE(0))) return;
        continue;
      }
      const len = chunk.readUInt32LE(off);
      off += 4;
      if (len <= this.maxFrame && chunk.length - off >= len) {
        message(chunk.subarray(off, off + len));
        off += len;
      } else if (!this.begin(len)) {
        return;
      }
    }
  }

  /** Start assembling a frame of `len` bytes; the size is checked before allocating.
   * False when the frame is refused (the connection is closed). */
  private begin(len: number): boolean {
    if (len > this.maxFrame) {
      this.socket.destroy(new Error(`frame of ${len} bytes exceeds the ${this.maxFrame}-byte limit`));
      return false;
    }
    if (len === 0) {
      this.counter.message(new Uint8Array(0));
      return true;
    }
    this.partial = new Uint8Array(len);
    this.filled = 0;
    return true;
  }

  close(): void {
    this.socket.destroy();
  }
}
