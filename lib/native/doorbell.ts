/**
 * A doorbell: the FIFO a parked ring consumer sleeps on. The consumer polls it
 * on the event loop (koffi's uv_poll, so no libuv pool thread is held and an
 * idle process uses no CPU); a producer's ring writes one byte into it only
 * when the consumer has set its parked word (see shmq.so.c).
 */
import { unlinkSync } from 'node:fs';
import { RingError } from './errors.js';
import { native, pollReadable, type ShmqResult } from './shmq.js';

export class Doorbell implements Disposable {
  private poller: ReturnType<typeof pollReadable> | undefined;
  private closed = false;

  private constructor(
    readonly path: string,
    readonly fd: number,
    private readonly owner: boolean,
  ) {}

  /** Create the FIFO (mode 0600) and open it. */
  static create(path: string): Doorbell {
    return new Doorbell(path, Doorbell.openFd(path, 1), true);
  }

  /** Open an existing FIFO (the side that rings it). */
  static open(path: string): Doorbell {
    return new Doorbell(path, Doorbell.openFd(path, 0), false);
  }

  private static openFd(path: string, create: number): number {
    const n = native();
    const fd = n.shmq_bell_open(path, create);
    if (fd < 0) throw new RingError(fd as ShmqResult, n.shmq_last_error());
    return fd;
  }

  ring(): void {
    native().shmq_bell_ring(this.fd);
  }

  /** Empty the FIFO; returns how many rings were waiting. */
  drain(): number {
    return native().shmq_bell_drain(this.fd);
  }

  /** Call `onRing` on the event loop each time the bell rings (the bell is drained first). */
  listen(onRing: () => void): void {
    if (this.poller) throw new Error('doorbell is already being listened to');
    this.poller = pollReadable(this.fd, () => {
      this.drain();
      onRing();
    });
  }

  /** Let the process exit even while listening. */
  unref(): void {
    this.poller?.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.poller?.close();
    this.poller = undefined;
    native().shmq_bell_close(this.fd);
    if (this.owner) {
      try {
        unlinkSync(this.path);
      } catch {
        /* already gone */
      }
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
