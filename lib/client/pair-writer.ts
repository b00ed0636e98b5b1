/**
 * PairWriters: the pair rings one instance writes (pair-marker.ts), one per
 * local destination that has one, for one agent incarnation.
 *
 * A destination's first message goes through the tx ring as ever, and asks
 * the agent for a ring (OPEN_PAIR). With the ring in hand, the instance queues
 * a marker for the destination in its tx Outbox, and from then on messages to
 * it go into the pair ring's Outbox: every message before the marker goes
 * through the agent ahead of it, and the reader reads the pair ring only once
 * it took the marker from its rx ring, so FIFO per pair holds across the
 * switch. (Not "once the marker is in the tx ring": messages sent meanwhile
 * through the tx ring would come *after* the marker, and a reader that took
 * the marker and read the pair ring before the rest of its rx ring would
 * reorder them.) The pair ring's Outbox writes nothing into the ring before
 * the marker is in the tx ring, so a ring whose marker never got there (the
 * instance closed with its tx ring full) is empty: its messages are reported
 * from JS.
 * A refusal is no error: that destination stays on the tx ring, and is asked
 * for again only after a while (1 s, doubling to a minute: a refusal may be
 * for a moment, as for an instance not online yet, or for good, as for one of
 * another Unix user).
 *
 * How a pair ring stops being written, and what becomes of its messages:
 *   - its reader went away (PAIR_CLOSED): what is still queued in JS is
 *     reported (`offline`), then PAIR_DONE; the agent bounces what the reader
 *     left in the ring. Later messages go through the tx ring (and bounce).
 *   - the instance closes or fails: the same, reported `queue_full` as the tx
 *     ring's leftovers are; the reader reads the ring to its end.
 *   - the agent is lost: every record the reader has not taken is taken back
 *     here (the taken bit decides: each is delivered or reported, never both)
 *     and reported `agent_lost` with what was queued in JS. No reader can be
 *     sure it saw the writer's last record, so the writer settles it.
 * A large message whose end never reached the ring is reported whole from the
 * writer's own copy (the agent does not bounce such a tail).
 */
import { Frag, fragOf, kindOf, Ring, type Doorbell } from '../native/index.js';
import type { PairOpened } from '../protocol/control-bodies.js';
import { BounceReason, ENVELOPE_BYTES, Flag, RecordKind } from '../protocol/envelope.js';
import { QueueFullError } from '../protocol/errors.js';
import { encodeMarker } from '../protocol/pair-marker.js';
import { Outbox, type Unsent } from './outbox.js';

/** What the writers need from their instance and its mesh. */
export interface PairWriterHost {
  /** The instance's tx ring: markers go there (and it calls `written()` when it wrote). */
  readonly tx: Outbox;
  /** The doorbell of this app connection (readers ring it when they free room). */
  readonly bell: string;
  /** OPEN_PAIR for a ring to local instance `to`. */
  open(to: number): Promise<PairOpened>;
  /** PAIR_DONE {to}: nothing more is written into that ring. */
  done(to: number): void;
  openBell(path: string): Doorbell;
  releaseBell(path: string): void;
  /** Number a large message (shared with the tx ring's Outbox: reports reassemble per number). */
  nextLarge(): number;
  /** A message of ours to local instance `to` that was not delivered (its envelope names us: the ring's writer). */
  report(m: Unsent, to: number, reason: BounceReason): void;
}

type State = 'asking' | 'refused' | 'marking' | 'open' | 'closed';

const RETRY_MIN_MS = 1000;
const RETRY_MAX_MS = 60_000;
// marking: the ring is open, its marker waits for room in the tx Outbox; open: the marker is queued

class PairWriter {
  state: State = 'asking';
  ring: Ring | undefined;
  outbox: Outbox | undefined;
  bell = '';
  /** the marker, until it is queued in the tx Outbox (it may be full) */
  marker: Uint8Array | undefined;
  /** the marker's number in the tx Outbox (0: not queued yet) */
  markerNo = 0;
  /** refused: when to ask again, and the wait after the next refusal */
  retryAt = 0;

  constructor(readonly to: number, public retryMs = RETRY_MIN_MS) {}
}

export class PairWriters {
  private readonly writers = new Map<number, PairWriter>();
  private closed = false;

  constructor(
    /** this instance's local id and the agent incarnation: pairs are for its local destinations only */
    private readonly self: number,
    readonly epoch: number,
    private readonly host: PairWriterHost,
  ) {}

  /** The Outbox for a message to local instance `to` (its pair ring's once switched), or null: the tx ring. */
  outboxFor(to: number): Outbox | null {
    const w = this.writers.get(to);
    if (w?.state === 'open') return w.outbox!;
    if (w === undefined || (w.state === 'refused' && performance.now() >= w.retryAt)) {
      if (to !== this.self && !this.closed) this.ask(to, w ? Math.min(RETRY_MAX_MS, w.retryMs * 2) : RETRY_MIN_MS);
      return null;
    }
    return w.state === 'marking' && this.mark(w) ? w.outbox! : null;
  }

  private ask(to: number, retryMs: number): void {
    const w = new PairWriter(to, retryMs);
    this.writers.set(to, w);
    this.host.open(to).then((opened) => this.opened(w, opened), () => this.refused(w));
  }

  private refused(w: PairWriter): void {
    if (w.state !== 'asking' && w.state !== 'marking') return;
    w.state = 'refused';
    w.retryAt = performance.now() + w.retryMs;
  }

  private opened(w: PairWriter, { path, bell }: PairOpened): void {
    if (w.state !== 'asking' || this.closed) {
      this.host.done(w.to); // its reader went away meanwhile, or we did: the agent may end it
      this.forget(w);
      return;
    }
    try {
      w.ring = Ring.open(path, 'producer');
      w.bell = bell;
      w.ring.setBell(this.host.openBell(bell)); // wake the reader when it sleeps
    } catch {
      this.finish(w, 'closed'); // (its reader went away already: the agent removed it)
      return;
    }
    w.outbox = new Outbox(w.ring, () => this.host.nextLarge(), () => w.markerNo > 0 && this.host.tx.hasWritten(w.markerNo));
    w.marker = encodeMarker({ path, bell: this.host.bell });
    w.state = 'marking';
    this.mark(w);
  }

  /** Queue the marker in the tx Outbox (later if it is full): from then on messages to `w.to` go into the pair ring. */
  private mark(w: PairWriter): boolean {
    if (w.state !== 'marking') return w.state === 'open';
    try {
      w.markerNo = this.host.tx.push(0, w.to, this.epoch, Flag.PAIR, 0, w.marker!);
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      return false;
    }
    w.marker = undefined;
    w.state = 'open';
    return true;
  }

  /** The tx Outbox wrote: a pair ring whose marker is in the tx ring now may be written. */
  written(): void {
    for (const w of this.writers.values()) w.outbox?.wake();
  }

  /** The doorbell rang: writers waiting for room try again; a marker waiting for room too. */
  wake(): void {
    for (const w of this.writers.values()) {
      w.outbox?.wake();
      this.mark(w);
    }
  }

  /** Messages waiting in JS for room in a pair ring. */
  get pending(): boolean {
    for (const w of this.writers.values()) if (w.outbox?.pending) return true;
    return false;
  }

  /** Resolves once nothing waits in JS for room in any pair ring (see Outbox.whenWritable). */
  whenWritable(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const w of this.writers.values()) if (w.outbox?.pending) waits.push(w.outbox.whenWritable(timeoutMs, signal));
    return Promise.all(waits).then(() => undefined);
  }

  /** Senders waiting in whenWritable(). */
  get waiting(): number {
    let n = 0;
    for (const w of this.writers.values()) n += w.outbox?.waiting ?? 0;
    return n;
  }

  /** Rings written now (for stats). */
  get count(): number {
    let n = 0;
    for (const w of this.writers.values()) if (w.state === 'open' || w.state === 'marking') n++;
    return n;
  }

  /** PAIR_CLOSED: instance `to` went away. What is queued in JS is reported; later messages go through the tx ring. */
  readerGone(to: number): void {
    const w = this.writers.get(to);
    if (!w) {
      this.host.done(to);
      return;
    }
    if (w.state === 'asking') {
      w.state = 'closed'; // PAIR_DONE when the answer comes
      return;
    }
    this.finish(w, 'closed', BounceReason.OFFLINE);
    this.forget(w); // its address is never used again: a late send goes through the tx ring and bounces
  }

  private forget(w: PairWriter): void {
    if (this.writers.get(w.to) === w) this.writers.delete(w.to);
  }

  /** The instance closes or fails: nothing more is written; what is queued in JS is reported with `reason`. */
  close(reason: BounceReason): void {
    this.closed = true;
    for (const w of this.writers.values()) if (w.state === 'marking' || w.state === 'open') this.finish(w, 'closed', reason);
  }

  /** Stop writing `w`, report what it still queues (whole), tell the agent. */
  private finish(w: PairWriter, state: State, reason?: BounceReason): void {
    const unsent = w.outbox?.close(true) ?? [];
    w.state = state;
    this.unmap(w);
    this.host.done(w.to);
    if (reason !== undefined) for (const u of unsent) this.host.report(u, w.to, reason);
  }

  private unmap(w: PairWriter): void {
    if (!w.ring) return;
    w.ring.setBell(null); // before the doorbell closes: its fd number may be reused by anything
    w.ring.close();
    w.ring = undefined;
    this.host.releaseBell(w.bell);
  }

  /**
   * The agent is lost: take back every record no reader took, and report those
   * messages with what was queued in JS (`agent_lost`: not delivered). Returns
   * nothing to do after: the rings are unmapped.
   */
  suspend(): void {
    this.closed = true;
    for (const w of this.writers.values()) {
      if (!w.ring) continue;
      const unsent = w.outbox!.close(true);
      const taken = takeBack(w.ring);
      this.unmap(w);
      w.state = 'closed';
      for (const m of [...taken, ...unsent]) this.host.report(m, w.to, BounceReason.AGENT_LOST);
    }
  }
}

/**
 * Take back from pair ring `ring` (its writer's side) every record its reader
 * has not taken, as whole messages: a message is ours if we took any record of
 * it (its reader then never completes it). A last message without its end in
 * the ring is taken and not returned: its writer still holds it whole (Outbox)
 * and reports it from there.
 */
function takeBack(ring: Ring): Unsent[] {
  const out: Unsent[] = [];
  let open: { envelope: Uint8Array; parts: Uint8Array[]; ours: boolean } | null = null;
  ring.unread((type, body, pos) => {
    if (kindOf(type) !== RecordKind.DATA || body.length < ENVELOPE_BYTES) return;
    const frag = fragOf(type);
    if (frag === Frag.COMPLETE || frag === Frag.BEGIN || !open) open = { envelope: body.slice(0, ENVELOPE_BYTES), parts: [], ours: false };
    open.parts.push(body.slice(ENVELOPE_BYTES));
    if (ring.take(pos)) open.ours = true;
    if (frag !== Frag.COMPLETE && frag !== Frag.END) return;
    if (open.ours) out.push({ envelope: open.envelope, payload: open.parts.length === 1 ? open.parts[0]! : Buffer.concat(open.parts) });
    open = null;
  });
  return out;
}
