/**
 * WatchMirror: one registry watch as its listener sees it. It keeps the set
 * of online instances the listener was told about, in step with the events,
 * and re-synchronises from each new snapshot after a reconnect, telling the
 * listener only the real differences (DESIGN §7: diffs from snapshots).
 *
 * A snapshot taken right after a registry restart can lag behind agents that
 * are still re-registering. resync() with a grace period therefore holds
 * missing instances back as suspects; one that comes back the same (agent,
 * localId, address) causes no event at all, one that has not come back when
 * the grace ends is reported offline with `agent_lost`. Without a grace
 * period a missing instance is reported at once, with `closed` (the real
 * reason was not seen).
 *
 * Backend-neutral: it needs only InstanceRecords and a listener.
 */
import { keyOf, OfflineReason, type InstanceRecord } from '../protocol/registry-messages.js';
import type { WatchEvent } from './registry.js';
import type { Logger } from '../protocol/logger.js';

/** Same instance, same holder: a re-registration after a restart, not a change. */
export const sameInstance = (a: InstanceRecord, b: InstanceRecord): boolean =>
  a.agentId === b.agentId && a.localId === b.localId && a.epoch === b.epoch && a.address === b.address;

/**
 * One watch as the listener sees it: the online instances it was told about,
 * kept in step with events and re-synchronised from each new snapshot.
 */
export class WatchMirror {
  readonly known = new Map<string, InstanceRecord>();
  private readonly suspects = new Set<string>();
  private graceTimer: NodeJS.Timeout | undefined;
  closed = false;

  constructor(
    readonly gameId: string,
    readonly pattern: string,
    private readonly listener: (event: WatchEvent) => void,
    private readonly log: Logger,
  ) {}

  online(rec: InstanceRecord): void {
    const k = keyOf(rec);
    const prev = this.known.get(k);
    this.suspects.delete(k);
    if (prev && sameInstance(prev, rec)) {
      this.known.set(k, rec);
      return;
    }
    if (prev) this.emit({ kind: 'offline', instance: prev, reason: OfflineReason.REPLACED });
    this.known.set(k, rec);
    this.emit({ kind: 'online', instance: rec });
  }

  offline(rec: InstanceRecord, reason: OfflineReason): void {
    const k = keyOf(rec);
    if (!this.known.delete(k)) return;
    this.suspects.delete(k);
    this.emit({ kind: 'offline', instance: rec, reason });
  }

  /** An ONLINE or OFFLINE event of the watch, as ns-registry.ts decoded it (ns-bodies.ts). */
  apply(event: WatchEvent): void {
    if (event.kind === 'online') this.online(event.instance);
    else this.offline(event.instance, event.reason);
  }

  /** Take a new snapshot; `graceMs` > 0 holds back offlines (see the file comment). */
  resync(snapshot: InstanceRecord[], graceMs: number): void {
    const now = new Set(snapshot.map(keyOf));
    for (const [k, prev] of this.known) {
      if (now.has(k)) continue;
      if (graceMs > 0) this.suspects.add(k);
      else this.offline(prev, this.suspects.has(k) ? OfflineReason.AGENT_LOST : OfflineReason.CLOSED);
    }
    for (const rec of snapshot) this.online(rec);
    if (this.graceTimer) clearTimeout(this.graceTimer);
    this.graceTimer = undefined;
    if (this.suspects.size > 0) {
      this.graceTimer = setTimeout(() => this.expireSuspects(), graceMs);
      this.graceTimer.unref();
    }
  }

  private expireSuspects(): void {
    this.graceTimer = undefined;
    for (const k of [...this.suspects]) {
      const prev = this.known.get(k);
      if (prev) this.offline(prev, OfflineReason.AGENT_LOST);
    }
    this.suspects.clear();
  }

  close(): void {
    this.closed = true;
    if (this.graceTimer) clearTimeout(this.graceTimer);
  }

  private emit(event: WatchEvent): void {
    if (this.closed) return;
    try {
      this.listener(event);
    } catch (err) {
      this.log.error(`registry: watch listener for ${this.pattern} threw: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
}
