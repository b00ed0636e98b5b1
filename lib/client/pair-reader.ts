/**
 * PairReaders: the pair rings one instance reads (pair-marker.ts), one per
 * local sender that has one, for one agent incarnation.
 *
 * A ring is opened when the rx ring's walk reaches its marker (Inbox hands it
 * over, held messages or not), after the agent stamped its sender: the marker
 * must name the ring the agent makes for exactly that sender and this
 * instance, in this instance's directory, and a doorbell there. From then on
 * the ring is read after the rx ring in every pump, so what the sender sent
 * before the marker is handed out first; and its messages wait while the rx
 * ring holds messages for want of a subscriber, so they keep their order
 * behind those. Its records are from its writer whatever their envelopes say.
 *
 * When the agent says the writer is done (PAIR_CLOSED {from}), the ring is
 * read to its end and closed once nothing in it is held (PAIR_DONE {from});
 * what is held waits for a subscriber and is bounced by the agent if this
 * instance goes first. The agent's word may come before the marker (they
 * travel apart): it is kept until the marker comes.
 */
import { basename, dirname, join } from 'node:path';
import { Ring, RingError, type Doorbell } from '../native/index.js';
import { CLIENT_BELL_FILE, decodeMarker, pairRingName } from '../protocol/pair-marker.js';
import { Inbox, type InboxSink } from './inbox.js';

/** What the readers need from their instance and its mesh. */
export interface PairReaderHost {
  /** Where its rings are (its rx ring's directory). */
  readonly dir: string;
  readonly zeroCopy: boolean;
  /** Where a pair ring's records go; `canDeliver` already says whether its messages may go now. */
  readonly sink: InboxSink;
  /** PAIR_DONE {from}: the ring from `from` is unmapped (read to its end, or it could not be opened or read). */
  done(from: number): void;
  /** Pump soon. */
  wake(): void;
  openBell(path: string): Doorbell;
  releaseBell(path: string): void;
}

interface PairReader {
  from: number;
  ring: Ring;
  inbox: Inbox;
  bell: string;
  /** the agent said its writer writes no more */
  writerDone: boolean;
}

export class PairReaders {
  private readonly readers = new Map<number, PairReader>();
  /** Writers the agent said are done before their marker came. */
  private readonly doneEarly = new Set<number>();
  private closed = false;

  constructor(
    private readonly self: number,
    readonly epoch: number,
    private readonly host: PairReaderHost,
  ) {}

  /** A marker the agent stamped from (`node`, `from`, `epoch`): open the ring it names, if it is the right one. */
  marker(payload: Uint8Array, node: number, from: number, epoch: number): void {
    if (this.closed || node !== 0 || epoch !== this.epoch || from === 0 || this.readers.has(from)) return;
    const writerDone = this.doneEarly.delete(from);
    const m = decodeMarker(payload);
    if (!m || m.path !== join(this.host.dir, pairRingName(from, this.self, epoch))) return;
    if (dirname(m.bell) !== this.host.dir || !CLIENT_BELL_FILE.test(basename(m.bell))) return;
    let ring: Ring;
    try {
      ring = Ring.open(m.path, 'consumer');
    } catch {
      this.host.done(from); // (gone already: it ended; else the agent stops its writer and bounces what it holds)
      return;
    }
    let bell: Doorbell | null = null;
    try {
      bell = this.host.openBell(m.bell); // wake its writer when it waits for room
    } catch (err) {
      if (!(err instanceof RingError)) throw err;
      // its writer's connection is gone (the agent removed its doorbell): nobody waits for room; what it wrote is read
    }
    ring.setSpaceBell(bell);
    const inbox = new Inbox(ring, this.host.sink, this.host.zeroCopy, { node: 0, local: from, epoch });
    this.readers.set(from, { from, ring, inbox, bell: m.bell, writerDone });
  }

  /** PAIR_CLOSED {from}: its writer writes no more; read it to its end. */
  writerGone(from: number): void {
    const r = this.readers.get(from);
    if (r) r.writerDone = true;
    else if (!this.closed) this.doneEarly.add(from);
    this.host.wake();
  }

  /** Read every ring; close those read to their end whose writer is done. Returns the records looked at. */
  pump(budget?: number): number {
    let n = 0;
    for (const r of this.readers.values()) {
      try {
        n += r.inbox.pump(budget);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
        this.unmap(r); // its writer broke it: read no more of it (the agent stops the writer and bounces what is left)
        this.host.done(r.from);
        continue;
      }
      if (r.writerDone && !r.inbox.holding && r.inbox.drained) {
        this.unmap(r);
        this.host.done(r.from);
      }
    }
    return n;
  }

  /** Set the parked word of every ring: false if data arrived meanwhile. */
  park(): boolean {
    for (const r of this.readers.values()) if (!r.ring.park()) return false;
    return true;
  }

  /** Rings read now (for stats). */
  /** Some ring holds records not handed out yet (held for a subscriber, or not read yet). */
  get unread(): boolean {
    for (const r of this.readers.values()) if (r.inbox.holding || !r.inbox.drained) return true;
    return false;
  }

  get count(): number {
    return this.readers.size;
  }

  /** Large messages partly received. */
  get partials(): number {
    let n = 0;
    for (const r of this.readers.values()) n += r.inbox.partials;
    return n;
  }

  /**
   * The agent is lost: read what is there (when reading) and return the rings
   * that still hold messages for a subscriber to come (they stay readable);
   * the others are closed. Their writers take back what nobody took.
   */
  suspend(reading: boolean): { inbox: Inbox; ring: Ring }[] {
    this.closed = true;
    const kept: { inbox: Inbox; ring: Ring }[] = [];
    for (const r of [...this.readers.values()]) {
      r.ring.setSpaceBell(null); // its writer's doorbell closes with our connection
      this.host.releaseBell(r.bell);
      this.readers.delete(r.from);
      if (reading) r.inbox.pump(Number.MAX_SAFE_INTEGER);
      if (reading && r.inbox.holding) kept.push({ inbox: r.inbox, ring: r.ring });
      else r.ring.close();
    }
    return kept;
  }

  /** The instance is gone: unmap every ring (the agent bounces what is left in them). */
  close(): void {
    this.closed = true;
    for (const r of [...this.readers.values()]) this.unmap(r);
  }

  private unmap(r: PairReader): void {
    this.readers.delete(r.from);
    r.ring.setSpaceBell(null);
    r.ring.close();
    this.host.releaseBell(r.bell);
  }
}
