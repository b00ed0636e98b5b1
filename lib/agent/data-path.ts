/**
 * DataPath: the agent's data loop, and where to start reading the record path.
 *
 * Follow one message from app A to app B on this host:
 *   1. A's client writes it into A's tx ring (client/outbox.ts) and rings the
 *      agent's doorbell if the agent is parked.
 *   2. DataPath.run() pumps A's Source (source.ts), which reads the record and
 *      asks the Router (router.ts) for B's sink.
 *   3. B's LocalSink (local-sink.ts) stages it, stamped with A's address; when
 *      the round ends the sink writes everything staged into B's rx ring in one
 *      call, and A's Source releases its ring up to its first unsettled record.
 *   4. B's client reads it (client/inbox.ts) and hands it to `messages$`.
 * To another host, step 3 is B's agent's PeerLink (links/peer-link.ts), and
 * that agent's InboundSession offers the record to B's LocalSink the same way.
 *
 * A round is one synchronous batch of work (CHUNK bytes read from one source,
 * a chunk from a peer, a timer). Offers during a round only stage; at its end
 * the touched sinks flush, tickets of records that reached a ring settle, and
 * sources release. A run of the loop reads up to ROUND_BUDGET from each source.
 * The loop parks on every tx ring and sleeps on its doorbell when nothing
 * moves (an idle agent uses no CPU); sinks waiting for room are woken by the
 * app's space bell, not by polling.
 */
import { RecordBatch, RingError, type Doorbell } from '../native/index.js';
import { BounceReason, envFlags, Flag } from '../protocol/envelope.js';
import type { Logger } from '../protocol/logger.js';
import type { LocalSink } from './local-sink.js';
import type { SinkHost } from './sink-host.js';
import type { RecordSink, Ticket } from './record-sink.js';
import type { Router } from './router.js';
import { ROUND_BUDGET, type Source, type SourceHost } from './source.js';

/** A ring of instance `localId` cannot be used any more (corrupt): its owner drops the instance. */
export type FaultHandler = (localId: number, err: Error) => void;

/** Is a record with Flag.PAIR that local instance `from` wrote a marker of a pair ring the agent made (pair-table.ts)? */
export type MarkerCheck = (from: number, data: Uint8Array, at: number, len: number) => boolean;

const POOL_MAX = 8;
const BATCH_BYTES = 256 * 1024;
/**
 * Bytes read from one source between two flushes. A source's ring is released
 * only once what was read from it is in the destination rings (the flush), so
 * a smaller chunk gives the sender room and the receiver its messages sooner,
 * and each flush costs a few native calls and a wake-up of the reader. 128 KiB
 * measured best against 32, 64 and 256 KiB on bench/mesh-local.ts, alternating
 * in one sitting (DESIGN-NOTES).
 */
const CHUNK = 128 * 1024;

export class DataPath implements SinkHost, SourceHost {
  private readonly sources = new Set<Source>();
  private readonly touched = new Set<LocalSink>();
  private readonly waitingSinks = new Set<LocalSink>();
  private readonly dirtySources = new Set<Source>();
  private completions: Ticket[] = [];
  private readonly pool: RecordBatch[] = [];
  private depth = 0;
  private scheduled = false;
  private stopped = false;
  /** Called after each run that moved data (load reporting). */
  onActivity: () => void = () => {};
  /** Pair markers are checked here (none pass until the agent sets it). */
  admitsMarker: MarkerCheck = () => false;
  malformedCount = 0;
  private lastMalformedLog = 0;

  constructor(
    readonly epoch: number,
    private readonly router: Router,
    bell: Doorbell,
    private readonly fault: FaultHandler,
    private readonly log: Logger,
  ) {
    bell.listen(() => this.schedule());
  }

  add(src: Source): void {
    this.sources.add(src);
    this.schedule();
  }

  remove(src: Source): void {
    this.sources.delete(src);
    this.dirtySources.delete(src);
  }

  forget(sink: LocalSink): void {
    this.touched.delete(sink);
    this.waitingSinks.delete(sink);
  }

  // ---------------------------------------------------------------- rounds

  /** Run `fn` as (part of) a round: what it offers is flushed when the outermost round ends. */
  round<T>(fn: () => T): T {
    this.depth++;
    try {
      return fn();
    } finally {
      if (--this.depth === 0) this.endRound();
    }
  }

  private endRound(): void {
    this.depth++; // offers made while flushing join this round
    try {
      while (this.touched.size > 0 || this.completions.length > 0) {
        const sinks = [...this.touched];
        this.touched.clear();
        for (const sink of sinks) this.guard(sink.localId, () => sink.flush());
        const done = this.completions;
        this.completions = [];
        for (const t of done) t.done();
      }
      for (const src of this.dirtySources) this.guard(src.localId, () => src.release());
      this.dirtySources.clear();
    } finally {
      this.depth--;
    }
  }

  /** A ring that fails (corrupt, or a bug of ours) faults its instance, never the agent. */
  private guard(localId: number, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof RingError)) this.log.error(`instance ${localId}: ${(err as Error).stack ?? String(err)}`, { localId });
      this.fault(localId, err as Error);
    }
  }

  // ---------------------------------------------------------------- SinkHost / SourceHost

  touch(sink: LocalSink): void {
    this.touched.add(sink);
    if (this.depth === 0) this.schedule(); // staged outside a round: the next run flushes it
  }

  afterFlush(ticket: Ticket): void {
    this.completions.push(ticket);
    if (this.depth === 0) this.schedule();
  }

  dirty(src: Source): void {
    this.dirtySources.add(src);
    if (this.depth === 0) this.schedule();
  }

  waiting(sink: LocalSink, yes: boolean): void {
    if (yes) this.waitingSinks.add(sink);
    else this.waitingSinks.delete(sink);
  }

  borrowBatch(bytes: number): RecordBatch {
    if (bytes <= BATCH_BYTES) {
      const b = this.pool.pop();
      if (b) return b;
    }
    return new RecordBatch(Math.max(bytes, BATCH_BYTES));
  }

  returnBatch(batch: RecordBatch): void {
    batch.reset();
    if (batch.buffer.length === BATCH_BYTES && this.pool.length < POOL_MAX) this.pool.push(batch);
  }

  broken(sink: LocalSink, err: RingError): void {
    this.fault(sink.localId, err);
  }

  route(src: Source, data: Uint8Array, at: number, len: number): RecordSink | BounceReason {
    const sink = this.router.route(src.gameId, data, at);
    // a pair marker goes on only for a ring made for exactly this pair (its sender ignores the bounce)
    if (typeof sink !== 'number' && envFlags(data, at) & Flag.PAIR && !this.admitsMarker(src.localId, data, at, len)) {
      this.malformed(src, 'a pair marker for no pair ring the agent made');
      return BounceReason.NO_ROUTE;
    }
    return sink;
  }

  malformed(src: Source, why: string): void {
    this.malformedCount++;
    const now = performance.now();
    if (now - this.lastMalformedLog < 1000) return;
    this.lastMalformedLog = now;
    this.log.warn(`instance ${src.localId} wrote ${why}: dropped (${this.malformedCount} so far)`, { localId: src.localId, malformed: this.malformedCount });
  }

  // ---------------------------------------------------------------- the loop

  schedule(): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => this.run());
  }

  stop(): void {
    this.stopped = true;
  }

  private run(): void {
    this.scheduled = false;
    if (this.stopped) return;
    let work = 0;
    for (const src of this.sources) {
      for (let read = 0; read < ROUND_BUDGET; read += CHUNK) {
        let n = 0;
        this.round(() => {
          try {
            n = src.pump(CHUNK);
          } catch (err) {
            if (!(err instanceof RingError)) throw err;
            this.fault(src.localId, err);
          }
        });
        work += n;
        if (n === 0) break;
      }
    }
    this.round(() => {
      for (const sink of this.waitingSinks) this.touched.add(sink);
    });
    if (work > 0) {
      this.onActivity();
      return this.schedule();
    }
    for (const src of this.sources) {
      if (src.isPaused) continue;
      try {
        if (!src.tx.park()) return this.schedule();
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
        this.fault(src.localId, err);
      }
    }
  }
}
