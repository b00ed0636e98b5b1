/**
 * NsLink: one connection of an NsRegistry to the name server and what belongs
 * to it: the name server's watch ids mapped to the registry's WatchMirrors,
 * events that arrived before their WATCH answer was read, and the heartbeat
 * timer. A new connection starts with none of it; its watches are opened
 * again by the registry (recover) and bound here with attach().
 */
import type { FramedConnection } from '../protocol/connection.js';
import type { WatchEvent } from './registry.js';
import type { WatchMirror } from './watch-mirror.js';

/** Events kept per watch id while its answer is unread (a flood is cut there). */
const MAX_EARLY = 100_000;

export class NsLink {
  /** Name-server watch id -> local watch. */
  readonly watches = new Map<number, WatchMirror>();
  /** Events that arrived between a WATCH answer and our reading it (see attach). */
  private readonly early = new Map<number, WatchEvent[]>();
  /** WATCH requests in flight on this connection: while any is, unknown watch ids' events are kept. */
  pendingWatches = 0;
  private heartbeat: NodeJS.Timeout | undefined;

  constructor(readonly conn: FramedConnection) {}

  /** Bind a name-server watch id to a mirror and replay the events that came before we could. */
  attach(watchId: number, mirror: WatchMirror): void {
    this.watches.set(watchId, mirror);
    const early = this.early.get(watchId) ?? [];
    this.early.delete(watchId);
    for (const e of early) mirror.apply(e);
    if (this.pendingWatches === 0) this.early.clear();
  }

  /** An ONLINE/OFFLINE event for `watchId`: to its mirror, or kept until its WATCH answer is read. */
  route(watchId: number, event: WatchEvent): void {
    const mirror = this.watches.get(watchId);
    if (mirror) {
      mirror.apply(event);
    } else if (this.pendingWatches > 0) {
      // A WATCH answer is written before any of its events, but may not be read yet.
      const list = this.early.get(watchId) ?? [];
      if (list.length < MAX_EARLY) list.push(event);
      this.early.set(watchId, list);
    }
  }

  /** The watch id `mirror` has on this connection, if any. */
  idOf(mirror: WatchMirror): number | undefined {
    for (const [id, m] of this.watches) if (m === mirror) return id;
    return undefined;
  }

  /** Call `beat` every `ms` (unref'd) until the connection closes. */
  beatEvery(ms: number, beat: () => void): void {
    this.stopBeating();
    this.heartbeat = setInterval(beat, ms);
    this.heartbeat.unref();
  }

  stopBeating(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = undefined;
  }

  /** Close the connection (with `reason`) and stop its heartbeat. */
  close(reason?: Error): void {
    this.stopBeating();
    this.conn.close(reason);
  }
}
