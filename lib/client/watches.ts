/**
 * Watches: an instance's view of the mesh. It holds the instance's own watch
 * patterns and the counted watches operators hold while subscribed, keeps the
 * Membership they feed, and rebuilds all of it after the agent comes back,
 * reporting only what really changed.
 */
import type { Observable } from 'rxjs';
import type { OfflineEvent, OnlineEvent, WatchAnswer } from '../protocol/control-bodies.js';
import { matches, validateService } from '../protocol/names.js';
import type { OfflineReason } from '../protocol/registry-messages.js';
import { Membership } from './membership.js';
import type { InstanceRef } from './message.js';

/** What Watches needs from the Mesh. */
export interface WatchHost {
  watch(pattern: string, onEvent: (event: OnlineEvent | OfflineEvent) => void): Promise<WatchAnswer>;
  unwatch(watchId: number): Promise<void>;
}

export interface WatchEvents {
  online(ref: InstanceRef): void;
  offline(ref: InstanceRef, reason: OfflineReason): void;
}

interface WatchLease {
  count: number;
  watchId: Promise<number>;
}

export class Watches {
  readonly membership = new Membership();
  private readonly leases = new Map<string, WatchLease>();
  private readonly watchIds: number[] = [];
  /** Patterns of the instance's own watches (not operator leases, which end). */
  private readonly ownPatterns: string[] = [];
  private rewatching = false;

  /** @param replayOnline report a new watch's snapshot (instances already online) as online events too */
  constructor(private readonly host: WatchHost, private readonly events: WatchEvents, private readonly replayOnline = false) {}

  /** Watches held on the agent (the instance's own plus those operators hold). */
  get count(): number {
    return this.watchIds.length + this.leases.size;
  }

  async watch(pattern: string, own = true): Promise<number> {
    const { watchId, instances } = await this.host.watch(pattern, (ev) => {
      if ('reason' in ev) {
        this.membership.offline(ev.instance);
        this.events.offline(ev.instance, ev.reason);
      } else {
        this.membership.online(ev.instance);
        this.events.online(ev.instance);
      }
    });
    if (own) {
      this.watchIds.push(watchId);
      this.ownPatterns.push(pattern);
    }
    const fresh = this.replayOnline && !this.rewatching ? instances.filter((r) => !this.membership.isOnline(r)) : [];
    this.membership.addPattern(pattern, instances);
    for (const r of fresh) this.events.online(r);
    return watchId;
  }

  /** Watch a service unless an own pattern covers it. */
  async service(service: string): Promise<void> {
    validateService(service);
    if (!this.ownPatterns.some((p) => matches(p, service))) await this.watch(service);
  }

  /** A counted watch on `service` until the returned release is called (idempotent). */
  async hold(service: string, ensureOnline: () => void): Promise<() => void> {
    validateService(service);
    let lease = this.leases.get(service);
    if (!lease) {
      // only the instance's own watches last; a lease just released still covers the service until its unwatch
      if (this.ownPatterns.some((p) => matches(p, service))) return () => {};
      ensureOnline();
      lease = { count: 0, watchId: this.watch(service, false) };
      this.leases.set(service, lease);
    }
    const l = lease;
    l.count++;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      if (--l.count > 0) return;
      if (this.leases.get(service) === l) this.leases.delete(service);
      void l.watchId.then((id) => {
        this.membership.removePattern(service);
        return this.host.unwatch(id);
      }).catch(() => {});
    };
    try {
      await l.watchId;
    } catch (err) {
      release();
      throw err;
    }
    return release;
  }

  members$(service: string): Observable<InstanceRef[]> {
    if (!this.ownPatterns.some((p) => matches(p, service))) void this.service(service).catch(() => {});
    return this.membership.members$(service);
  }

  /** The agent connection was lost: the watch ids are gone with it. */
  lost(): void {
    this.watchIds.length = 0;
  }

  /**
   * Watch everything again on a new agent connection; watchers of this
   * instance's view see only what changed meanwhile (gone: `agent_lost`).
   */
  async rewatch(): Promise<void> {
    const key = (r: InstanceRef): string => `${r.id}@${r.agentId}:${r.localId}`;
    const before = new Map(this.membership.all().map((r) => [key(r), r]));
    this.membership.reset();
    this.rewatching = true; // what changed is reported below, once
    try {
      const patterns = this.ownPatterns.splice(0);
      for (const p of patterns) await this.watch(p);
      for (const [service, lease] of this.leases) lease.watchId = this.watch(service, false);
      await Promise.all([...this.leases.values()].map((l) => l.watchId));
    } finally {
      this.rewatching = false;
    }
    const after = new Map(this.membership.all().map((r) => [key(r), r]));
    for (const [k, r] of before) if (!after.has(k)) this.events.offline(r, 'agent_lost');
    for (const [k, r] of after) if (!before.has(k)) this.events.online(r);
  }

  /** Stop every watch (closing). */
  async closeAll(): Promise<void> {
    const ids = this.watchIds.splice(0);
    const leased = [...this.leases.values()].map((l) => l.watchId.then((id) => this.host.unwatch(id)));
    this.leases.clear();
    await Promise.allSettled([...ids.map((id) => this.host.unwatch(id)), ...leased]);
  }

  complete(): void {
    this.leases.clear();
    this.membership.complete();
  }
}
