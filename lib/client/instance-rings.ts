/**
 * InstanceRings: the rings one instance writes and reads with one agent
 * incarnation. The agent made two at CREATE: the tx ring (its Outbox writes
 * there, the agent reads) and the rx ring (the agent writes, its Inbox
 * reads). Pair rings come and go besides (pair-marker.ts): the ones it writes
 * to local destinations (PairWriters) and the ones local senders write to it
 * (PairReaders, opened from markers in the rx ring).
 *
 * Sending picks the ring: a local destination's pair ring once there is one,
 * else the tx ring. Reading goes rx ring first, then the pair rings, so what a
 * sender sent through the agent before it switched is handed out first.
 */
import { dirname } from 'node:path';
import { Ring, type Doorbell } from '../native/index.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { AppRequest, ControlRequests, Created, PairClosedEvent } from '../protocol/control-bodies.js';
import { BounceReason, envCorr, envFlags, envLocal, envNode } from '../protocol/envelope.js';
import { Inbox, type InboxSink } from './inbox.js';
import { lostMessages } from './lost-messages.js';
import { Outbox } from './outbox.js';
import { PairReaders } from './pair-reader.js';
import { PairWriters } from './pair-writer.js';

/** What the rings need from the mesh. */
export interface RingsHost {
  readonly agentBell: Doorbell;
  readonly epoch: number;
  /** Pair rings are spoken (by this agent and this app). */
  readonly pairs: boolean;
  /** This app connection's doorbell. */
  readonly bellPath: string;
  control<K extends AppRequest>(type: K, body: ControlRequests[K]['body']): Promise<ControlRequests[K]['answer']>;
  openBell(path: string): Doorbell;
  releaseBell(path: string): void;
  /** Pump soon. */
  wake(): void;
}

/** A message of ours that was not delivered (or whose fate a lost agent left open), addressed to (`node`, `local`). */
export type LostReport = (payload: Uint8Array, flags: number, node: number, local: number, corr: number, reason: BounceReason) => void;

/** A ring that still holds messages for a subscriber to come after its agent was lost (read before the new ones). */
export interface HeldRing {
  inbox: Inbox;
  ring: Ring;
}

/** The rings of earlier agent incarnations that still hold messages for a subscriber to come; read before the new ones. */
export class HeldRings {
  private held: HeldRing[] = [];

  add(rings: HeldRing[]): void {
    this.held.push(...rings);
  }

  /** Read them; a ring read to the end is closed. Returns the records looked at and whether any still holds messages. */
  pump(): { n: number; holding: boolean } {
    let n = 0;
    for (const l of this.held) n += l.inbox.pump();
    this.held = this.held.filter((l) => l.inbox.holding || (l.ring.close(), false));
    return { n, holding: this.held.length > 0 };
  }

  get empty(): boolean {
    return this.held.length === 0;
  }

  close(): void {
    for (const l of this.held) l.ring.close();
    this.held = [];
  }
}

export class InstanceRings {
  readonly localId: number;
  private readonly tx: Ring;
  private readonly rx: Ring;
  private readonly outbox: Outbox;
  private readonly inbox: Inbox;
  private readonly writers: PairWriters | undefined;
  private readonly readers: PairReaders | undefined;

  constructor(
    created: Created,
    host: RingsHost,
    sink: InboxSink,
    zeroCopy: boolean,
    /** numbers large plain messages: one count for all the instance's rings (reports reassemble per number) */
    nextLarge: () => number,
    private readonly report: LostReport,
  ) {
    this.localId = created.localId;
    this.tx = Ring.open(created.txPath, 'producer');
    this.tx.setBell(host.agentBell); // wake a parked agent
    this.rx = Ring.open(created.rxPath, 'consumer');
    this.rx.setSpaceBell(host.agentBell); // wake an agent waiting for room in our rx ring
    this.outbox = new Outbox(this.tx, nextLarge, undefined, () => this.writers?.written());
    this.inbox = new Inbox(this.rx, { ...sink, marker: (payload, node, local, epoch) => this.readers?.marker(payload, node, local, epoch) }, zeroCopy);
    if (!host.pairs) return;
    const localId = this.localId;
    const done = (body: { localId: number; to: number } | { localId: number; from: number }): void =>
      void host.control(ControlMessage.PAIR_DONE, body).catch(() => {}); // (the agent gone: nothing to tell)
    const bells = { openBell: (path: string) => host.openBell(path), releaseBell: (path: string) => host.releaseBell(path) };
    this.writers = new PairWriters(localId, host.epoch, {
      tx: this.outbox,
      bell: host.bellPath,
      open: (to) => host.control(ControlMessage.OPEN_PAIR, { localId, to }),
      done: (to) => done({ localId, to }),
      nextLarge,
      report: (m, to, reason) => report(m.payload, envFlags(m.envelope), 0, to, envCorr(m.envelope), reason),
      ...bells,
    });
    this.readers = new PairReaders(localId, host.epoch, {
      dir: dirname(created.rxPath),
      zeroCopy,
      // a pair ring's messages wait behind what the rx ring holds for want of a subscriber (their sender's came first)
      sink: { ...sink, canDeliver: () => sink.canDeliver() && !this.inbox.holding },
      done: (from) => done({ localId, from }),
      wake: () => host.wake(),
      ...bells,
    });
  }

  /** Queue a message to (`node`, `local`) of agent incarnation `epoch`: into its pair ring if it has one (the envelope then names us, its writer). */
  push(node: number, local: number, epoch: number, flags: number, corr: number, bytes: Uint8Array): void {
    const pair = node === 0 && this.writers !== undefined && epoch === this.writers.epoch ? this.writers.outboxFor(local) : null;
    if (pair) pair.push(0, this.localId, epoch, flags, corr, bytes);
    else this.outbox.push(node, local, epoch, flags, corr, bytes);
  }

  /** Read what is waiting: the rx ring first (a pair's earlier messages are there), then the pair rings. */
  pump(budget?: number): number {
    return this.inbox.pump(budget) + (this.readers?.pump(budget) ?? 0);
  }

  /** Set the parked word of every ring it reads: false if data arrived meanwhile. */
  park(): boolean {
    return this.rx.park() && (this.readers?.park() ?? true);
  }

  /** The doorbell rang: what waits for room tries again. */
  wake(): void {
    this.outbox.wake();
    this.writers?.wake();
  }

  /** A source went offline: free its partial message. */
  forget(node: number, local: number): void {
    this.inbox.forget(node, local);
  }

  /** PAIR_CLOSED: the reader of a pair ring we write went away, or the writer of one we read. */
  pairClosed(ev: PairClosedEvent): void {
    if ('to' in ev) this.writers?.readerGone(ev.to);
    else this.readers?.writerGone(ev.from);
  }

  /** Messages waiting in JS for room. */
  get pending(): boolean {
    return this.outbox.pending || (this.writers?.pending ?? false);
  }

  /** Resolves once nothing waits in JS for room in any ring (see Outbox.whenWritable). */
  whenWritable(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const tx = this.outbox.whenWritable(timeoutMs, signal);
    return this.writers?.pending ? Promise.all([tx, this.writers.whenWritable(timeoutMs, signal)]).then(() => undefined) : tx;
  }

  /** Senders waiting in whenWritable(). */
  get waiting(): number {
    return this.outbox.waiting + (this.writers?.waiting ?? 0);
  }

  /** Some ring it reads holds messages not handed out yet (held for a subscriber, or not read yet). */
  get unread(): boolean {
    return this.inbox.holding || !this.inbox.drained || (this.readers?.unread ?? false);
  }

  /** Large messages partly received. */
  get partials(): number {
    return this.inbox.partials + (this.readers?.partials ?? 0);
  }

  /** The instance closes: no pair ring is written from here on (their readers read them to the end once the agent says so). */
  stopWriting(): void {
    this.writers?.close(BounceReason.QUEUE_FULL);
  }

  /**
   * The agent is lost. Report what it had not settled (from the tx ring and
   * the Outbox: `in_doubt` if it had read it, `agent_lost` if not), take back
   * what no reader took from our pair rings (`agent_lost`), read what was
   * written for us (`reading`) and return the rings that still hold messages
   * for a subscriber to come (with `keep`); the others are unmapped.
   */
  suspend(reading: boolean, keep: boolean): HeldRing[] {
    this.writers?.suspend();
    for (const m of lostMessages(this.tx, this.outbox.close())) {
      this.report(m.payload, envFlags(m.envelope), envNode(m.envelope), envLocal(m.envelope), envCorr(m.envelope), m.reason);
    }
    this.tx.close();
    this.rx.setSpaceBell(null); // the agent's doorbell is closed: its fd number may be reused by anything
    if (reading) this.inbox.pump(Number.MAX_SAFE_INTEGER);
    const held: HeldRing[] = [];
    if (reading && keep && this.inbox.holding) held.push({ inbox: this.inbox, ring: this.rx });
    else this.rx.close();
    return [...held, ...(this.readers?.suspend(reading && keep) ?? [])];
  }

  /** The instance is gone: what is still queued in JS is reported (`queue_full`), every ring unmapped. */
  close(): void {
    for (const u of this.outbox.close()) {
      this.report(u.payload, envFlags(u.envelope), envNode(u.envelope), envLocal(u.envelope), envCorr(u.envelope), BounceReason.QUEUE_FULL);
    }
    this.writers?.close(BounceReason.QUEUE_FULL);
    this.readers?.close();
    this.tx.close();
    this.rx.close();
  }
}
