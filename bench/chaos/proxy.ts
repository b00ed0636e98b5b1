/**
 * TcpProxy: a TCP forwarder in the harness process that stands in front of
 * one agent's peer-link port. Peers dial the proxy (the agent advertises the
 * proxy's address with --advertise); each accepted connection is paired with
 * a connection to the agent's current real address (`setTarget`, updated
 * when the agent restarts on a new port).
 *
 *   reset()    destroys every connection pair with a TCP RST (a link reset)
 *   stall(ms)  stops forwarding in both directions for ms (sockets paused,
 *              so the kernel buffers fill and the peer sees silence), then
 *              resumes; connections made meanwhile start paused too
 *   inject(d, bytes)  writes bytes of its own into every pair, toward the
 *              agent or back to the dialer, as an on-path attacker would
 *   close()    stops listening and destroys every pair
 *
 * Every pair is tracked and removed when either side closes, so nothing
 * leaks across resets.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';

interface Pair {
  a: Socket;
  b: Socket;
}

export class TcpProxy {
  private readonly pairs = new Set<Pair>();
  private target: { host: string; port: number } | undefined;
  private stalledUntil = 0;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly taps: Array<{ direction: 'forward' | 'back'; fn: (chunk: Buffer) => void }> = [];
  /** Connections accepted and reset, for the verbose summary. */
  readonly counts = { accepted: 0, resets: 0, stalls: 0 };

  private constructor(private readonly server: Server, readonly port: number) {}

  static async listen(host = '127.0.0.1'): Promise<TcpProxy> {
    let proxy: TcpProxy | undefined;
    const server = createServer((socket) => proxy?.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, host, () => resolve());
    });
    proxy = new TcpProxy(server, (server.address() as { port: number }).port);
    return proxy;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /** Where new connections go ('host:port', e.g. the `link` of the agent's ready line). */
  setTarget(address: string): void {
    const i = address.lastIndexOf(':');
    const port = Number(address.slice(i + 1));
    if (port === this.port) throw new Error(`proxy ${this.address}: refusing to forward to itself (${address})`);
    this.target = { host: address.slice(0, i), port };
  }

  get stalled(): boolean {
    return performance.now() < this.stalledUntil;
  }

  private accept(a: Socket): void {
    this.counts.accepted++;
    a.on('error', () => {});
    if (!this.target) {
      a.destroy();
      return;
    }
    const b = createConnection(this.target);
    b.on('error', () => {});
    const pair: Pair = { a, b };
    this.pairs.add(pair);
    const end = (): void => {
      if (!this.pairs.delete(pair)) return;
      a.destroy();
      b.destroy();
    };
    a.once('close', end);
    b.once('close', end);
    this.forward(a, b, 'forward');
    this.forward(b, a, 'back');
    if (this.stalled) {
      a.pause();
      b.pause();
    }
  }

  /** Copy from → to, respecting `to`'s backpressure and the stall. */
  private forward(from: Socket, to: Socket, direction: 'forward' | 'back'): void {
    from.on('data', (chunk: Buffer) => {
      for (const t of this.taps) if (t.direction === direction) t.fn(chunk);
      if (!to.write(chunk)) from.pause();
    });
    to.on('drain', () => {
      if (!this.stalled) from.resume();
    });
  }

  reset(): void {
    this.counts.resets++;
    for (const p of [...this.pairs]) {
      this.pairs.delete(p);
      p.a.resetAndDestroy();
      p.b.resetAndDestroy();
    }
  }

  stall(ms: number): Promise<void> {
    this.counts.stalls++;
    this.stalledUntil = Math.max(this.stalledUntil, performance.now() + ms);
    for (const p of this.pairs) {
      p.a.pause();
      p.b.pause();
    }
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        if (this.stalledUntil - performance.now() <= 1) {
          // a later, longer stall keeps everything paused until it ends
          for (const p of this.pairs) {
            p.a.resume();
            p.b.resume();
          }
        }
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  /** Write `bytes` into every live pair, toward the agent ('forward') or back to the dialer ('back'); how many pairs got them. */
  inject(direction: 'forward' | 'back', bytes: Uint8Array): number {
    let n = 0;
    for (const p of this.pairs) {
      const to = direction === 'forward' ? p.b : p.a;
      if (to.destroyed) continue;
      to.write(bytes);
      n++;
    }
    return n;
  }

  /** Watch the bytes of every pair going `direction` (what an on-path attacker reads). */
  tap(direction: 'forward' | 'back', fn: (chunk: Buffer) => void): void {
    this.taps.push({ direction, fn });
  }

  /** Live connection pairs (for the leak check). */
  get connections(): number {
    return this.pairs.size;
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const p of [...this.pairs]) {
      p.a.destroy();
      p.b.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
