/**
 * PairTable: the pair rings this agent made (pair-marker.ts), from the
 * OPEN_PAIR that asks for one to the sweep that ends it. The data of a pair
 * never passes through the agent; it stays the pair's control plane: it
 * decides who may have one (both its instances, online, one game, one Unix
 * user, within the limits), it checks every marker against the rings it made,
 * it tells each end when the other went away, and it bounces what a reader
 * left unread.
 *
 * A pair ring P (a -> b) lives until both
 *   - its writer writes no more ("sender done"): PAIR_DONE {to} from a's app,
 *     a's RELEASE, or a's app connection gone; and
 *   - its reader is done: b gone (its rx ring swept), or PAIR_DONE {from} from
 *     b's app (it read P to its end after it heard the writer was done; or,
 *     before, it could not open or read P: then the writer is told to stop,
 *     as when b leaves, and what b did not take is bounced).
 * Then what b left untaken is bounced to a (sweepPair: the taken bit decides,
 * as for an rx ring), and P is unmapped and removed. On the way, b leaving
 * tells a (PAIR_CLOSED {to}: stop writing, answer PAIR_DONE), and a done while
 * b stays tells b (PAIR_CLOSED {from}: read P to its end). Until the writer is
 * done nothing is swept: a record it writes later would be lost. Two short
 * cuts: a ring whose reader is gone loses its file at once (nobody opens it
 * any more; the writer and the agent keep their mappings), and a ring empty
 * when its writer is done (all of it read and released) ends at once.
 */
import { unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { Ring, RingError, type PeerCred, type RingOptions, type RingStats } from '../native/index.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { PairClosedEvent, PairOpened } from '../protocol/control-bodies.js';
import { ENVELOPE_BYTES, envLocal } from '../protocol/envelope.js';
import { AuthError, CrossGameError, LimitError, NotFoundError } from '../protocol/errors.js';
import { decodeMarker, pairRingName } from '../protocol/pair-marker.js';
import { OfflineReason } from '../protocol/registry-messages.js';
import type { Limits } from './limits.js';
import type { LocalInstance } from './local-instance.js';
import { ledger, sweepPair, UnreadBouncer, type UnreadRoutes } from './unread.js';
import type { Logger } from '../protocol/logger.js';

/** An app connection, as far as pairs are concerned. */
export interface PairClient {
  /** Its user (SO_PEERCRED). */
  readonly peer: PeerCred;
  /** It speaks pair rings (its HELLO named the capability). */
  readonly pairs: boolean;
  /** The doorbell its instances sleep on. */
  readonly bell: string;
  notify(type: number, body: unknown): void;
}

/** What the table needs from the agent. */
export interface PairHost {
  readonly epoch: number;
  readonly ring: RingOptions;
  readonly quota: Limits;
  instance(localId: number): LocalInstance | undefined;
  client(clientId: number): PairClient | undefined;
  /** The directory for a user's files; hand a file over to that user. */
  dirFor(peer: PeerCred): string;
  own(path: string, peer: PeerCred): void;
  /** Room for `n` more mappings, or throw a LimitError; then count them (negative: unmapped). */
  checkMaps(n: number): void;
  mapped(n: number): void;
  /** Run `fn` as (part of) a data-path round: what it bounces is flushed at its end. */
  round(fn: () => void): void;
  /** Where bounces go (unread.ts). */
  readonly routes: UnreadRoutes;
  /** The taken-message ledger (fault-injection runs), if kept. */
  readonly ledgerFile: string | undefined;
  readonly log: Logger;
}

/** One pair ring as `rxmesh status` shows it: its writer, reader and depth. */
export interface PairStatus {
  from: number;
  to: number;
  state: 'open' | 'writer-done' | 'reader-gone';
  ring: RingStats;
}

class Pair {
  senderDone = false;
  readerDone = false;
  readerGone = false;
  toldReader = false;
  toldWriter = false;

  constructor(
    readonly from: LocalInstance,
    readonly to: LocalInstance,
    readonly ring: Ring,
    /** the writer's doorbell, as its marker must name it */
    readonly bell: string,
    readonly release: () => void,
  ) {}
}

const keyOf = (from: number, to: number): string => `${from}:${to}`;

function unlink(path: string): void {
  try {
    unlinkSync(path);
  } catch { /* already gone */ }
}

export class PairTable {
  private readonly pairs = new Map<string, Pair>();
  /** Pair rings each instance writes. */
  private readonly writing = new Map<number, number>();

  constructor(private readonly host: PairHost) {}

  get size(): number {
    return this.pairs.size;
  }

  /**
   * OPEN_PAIR from app connection `clientId` for its instance `from`: make
   * P (from -> to), or refuse with a MeshError saying why (the app keeps
   * sending through the agent).
   */
  open(clientId: number, from: LocalInstance, toId: number): PairOpened {
    const to = this.host.instance(toId);
    if (!to || to === from || !to.routable || !from.routable) throw new NotFoundError(`no online local instance ${toId} to pair with`);
    if (to.gameId !== from.gameId) throw new CrossGameError(`instance ${toId} is not in game '${from.gameId}'`);
    const writer = this.host.client(clientId);
    const reader = this.host.client(to.clientId);
    if (!writer || !reader || !reader.pairs) throw new NotFoundError(`instance ${toId} does not read pair rings`);
    if (writer.peer.uid !== reader.peer.uid) throw new AuthError('pair rings join apps of one Unix user only');
    if (this.pairs.has(keyOf(from.localId, toId))) throw new LimitError(`instance ${from.localId} has a pair ring to ${toId} already`);
    const max = this.host.quota.options.maxPairsPerInstance;
    if ((this.writing.get(from.localId) ?? 0) >= max) {
      throw this.host.quota.refuse(`instance ${from.localId} writes ${max} pair rings, the most one may (--max-pairs-per-instance ${max})`);
    }
    const slot = this.host.quota.take('pairs', clientId, from.gameId);
    let ring: Ring;
    const path = join(this.host.dirFor(writer.peer), pairRingName(from.localId, toId, this.host.epoch));
    try {
      this.host.checkMaps(1);
      ring = Ring.create(path, this.host.ring, 'observer');
    } catch (err) {
      slot();
      throw err;
    }
    this.host.own(path, writer.peer);
    this.host.mapped(1);
    this.writing.set(from.localId, (this.writing.get(from.localId) ?? 0) + 1);
    this.pairs.set(keyOf(from.localId, toId), new Pair(from, to, ring, writer.bell, slot));
    return { path, bell: reader.bell };
  }

  /**
   * A record with Flag.PAIR that local instance `from` wrote (its envelope at
   * `at` in `data`, `len` bytes in all): a marker of a pair ring made for
   * exactly it and the destination it addresses, naming that ring and its
   * writer's doorbell? Anything else is refused (the caller counts it malformed).
   */
  admits(from: number, data: Uint8Array, at: number, len: number): boolean {
    if (len < ENVELOPE_BYTES) return false;
    const pair = this.pairs.get(keyOf(from, envLocal(data, at)));
    if (!pair || pair.readerGone) return false;
    const marker = decodeMarker(data.subarray(at + ENVELOPE_BYTES, at + len));
    return marker !== null && marker.path === pair.ring.path && marker.bell === pair.bell;
  }

  /** PAIR_DONE {to} from app connection `clientId`: its instance `from` writes no more into P (from -> to). */
  writerDone(clientId: number, from: number, to: number): void {
    const pair = this.pairs.get(keyOf(from, to));
    if (pair && pair.from.clientId === clientId) this.senderDone(pair, OfflineReason.CLOSED);
  }

  /** PAIR_DONE {from} from app connection `clientId`: its instance `to` reads P (from -> to) no more. */
  readerDone(clientId: number, from: number, to: number): void {
    const pair = this.pairs.get(keyOf(from, to));
    if (!pair || pair.to.clientId !== clientId) return;
    pair.readerDone = true;
    if (pair.senderDone) return this.end(pair);
    this.tellWriter(pair, OfflineReason.CLOSED); // it could not open or read it: the writer stops, then it ends
  }

  /** Instance `inst` leaves routing: the writers of rings into it stop. */
  leaving(inst: LocalInstance, reason: OfflineReason): void {
    for (const pair of this.pairs.values()) if (pair.to === inst) this.tellWriter(pair, reason);
  }

  private tellWriter(pair: Pair, reason: OfflineReason): void {
    if (pair.senderDone || pair.toldWriter) return;
    pair.toldWriter = true;
    const ev: PairClosedEvent = { localId: pair.from.localId, to: pair.to.localId, reason };
    this.host.client(pair.from.clientId)?.notify(ControlMessage.PAIR_CLOSED, ev);
  }

  /** Instance `inst` writes no more (its app released it). */
  released(inst: LocalInstance, reason: OfflineReason): void {
    for (const pair of [...this.pairs.values()]) if (pair.from === inst) this.senderDone(pair, reason);
  }

  /** App connection `clientId` is gone: its instances write no more. */
  clientGone(clientId: number): void {
    for (const pair of [...this.pairs.values()]) if (pair.from.clientId === clientId) this.senderDone(pair, OfflineReason.CRASHED);
  }

  /** Instance `inst` is gone (its rx ring swept): rings into it end once their writers are done. */
  gone(inst: LocalInstance): void {
    for (const pair of [...this.pairs.values()]) {
      if (pair.to !== inst) continue;
      pair.readerGone = true;
      unlink(pair.ring.path); // nobody opens it any more
      if (pair.senderDone) this.end(pair);
    }
  }

  private senderDone(pair: Pair, reason: OfflineReason): void {
    if (pair.senderDone) return;
    pair.senderDone = true;
    if (pair.readerGone || pair.readerDone) return this.end(pair);
    if (pair.to.routable && !pair.toldReader) {
      pair.toldReader = true; // (a reader that never gets to open it ends with it)
      const ev: PairClosedEvent = { localId: pair.to.localId, from: pair.from.localId, reason };
      this.host.client(pair.to.clientId)?.notify(ControlMessage.PAIR_CLOSED, ev);
    }
    const s = pair.ring.stats();
    if (s.head === s.tail) this.end(pair); // read and released to its end (or never written): nothing to wait for
  }

  /** Bounce what the reader left, unmap, remove. */
  private end(pair: Pair): void {
    if (!this.pairs.delete(keyOf(pair.from.localId, pair.to.localId))) return;
    try {
      this.sweep(pair);
    } finally {
      this.drop(pair);
    }
  }

  /** Bounce to the writer what the reader left untaken, as the agent does with an rx ring when its instance is gone. */
  private sweep(pair: Pair): void {
    const file = this.host.ledgerFile;
    this.host.round(() => {
      try {
        const unread = new UnreadBouncer(this.host.routes, pair.to.localId);
        sweepPair(pair.ring, pair.from.localId, this.host.epoch, (type, body) => unread.add(type, body), file ? (type, body) => ledger(file, type, body) : undefined);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
        this.host.log.error(`pair ring ${pair.ring.path}: unreadable: ${err.message}`, { ring: pair.ring.path });
      }
    });
  }

  private drop(pair: Pair): void {
    pair.ring.close();
    unlink(pair.ring.path);
    this.host.mapped(-1);
    pair.release();
    const n = (this.writing.get(pair.from.localId) ?? 1) - 1;
    if (n > 0) this.writing.set(pair.from.localId, n);
    else this.writing.delete(pair.from.localId);
  }

  /** The agent stops: every ring is unmapped and removed (apps keep their mappings and settle among themselves). */
  closeAll(): void {
    for (const pair of this.pairs.values()) this.drop(pair);
    this.pairs.clear();
  }

  status(): PairStatus[] {
    return [...this.pairs.values()].map((p) => ({
      from: p.from.localId,
      to: p.to.localId,
      state: p.readerGone ? 'reader-gone' : p.senderDone ? 'writer-done' : 'open',
      ring: p.ring.stats(),
    }));
  }
}
