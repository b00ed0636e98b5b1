/**
 * The name server's registry: instances per game, the conflict strategies,
 * and watches with pattern matching. Pure in-memory state with no I/O: it
 * reports changes through the sinks it is given (a watch's sink, the kick
 * sink), so it can be driven directly by a spec.
 *
 * Each instance belongs to the lease that registered it; the holder of an
 * instance is its (agentId, localId). Registered instances are invisible to
 * watchers until STARTUP.
 */
import { ConflictError, NotFoundError } from '../protocol/errors.js';
import { instanceId, matches } from '../protocol/names.js';
import {
  keyOf,
  sameHolder,
  OfflineReason,
  type ConflictStrategy,
  type InstanceKey,
  type InstanceRecord,
} from '../protocol/registry-messages.js';

export type WatchSink = (event: { kind: 'online'; instance: InstanceRecord } | { kind: 'offline'; instance: InstanceRecord; reason: OfflineReason }) => void;

/** Told when a `replace` registration takes an instance from `leaseId`. */
export type KickSink = (leaseId: string, instance: InstanceRecord, by: InstanceRecord) => void;

interface Entry {
  /** Immutable; replaced as a whole when the instance goes online. */
  record: InstanceRecord;
  leaseId: string;
}

interface Watch {
  id: number;
  gameId: string;
  pattern: string;
  sink: WatchSink;
}

export interface ServiceSummary {
  gameId: string;
  service: string;
  /** Registered instances, online or not. */
  instances: number;
  online: number;
}

const holderOf = (r: InstanceRecord): string => `agent '${r.agentId}' (localId ${r.localId})`;

export class RegistryStore {
  private readonly games = new Map<string, Map<string, Entry>>();
  private readonly byLease = new Map<string, Set<string>>();
  private readonly watches = new Map<number, Watch>();
  private readonly watchesByGame = new Map<string, Set<Watch>>();
  private nextWatchId = 1;

  constructor(private readonly kicked: KickSink) {}

  /**
   * Register `record` (its `online` flag is ignored) for `leaseId`. The same
   * holder registering again on the same lease succeeds and keeps the online
   * state (a retried request must not make watchers see a flap). The same
   * holder on a new lease is a restarted agent: the stale entry goes offline
   * (`agent_lost`) and the new one starts registered-only.
   */
  register(record: InstanceRecord, conflict: ConflictStrategy, leaseId: string): void {
    const key = keyOf(record);
    const old = this.entry(record);
    let online = false;
    if (old && !sameHolder(old.record, record)) {
      if (conflict === 'reject') {
        throw new ConflictError(`${instanceId(record.service, record.userData)} is held by ${holderOf(old.record)}`);
      }
      this.remove(old, OfflineReason.REPLACED);
      this.kicked(old.leaseId, old.record, { ...record, online: false });
    } else if (old && old.leaseId !== leaseId) {
      this.remove(old, OfflineReason.AGENT_LOST);
    } else if (old) {
      online = old.record.online;
      this.unindex(old);
    }
    const entry: Entry = { record: { ...record, online }, leaseId };
    this.gameMap(record.gameId).set(key, entry);
    let keys = this.byLease.get(leaseId);
    if (!keys) this.byLease.set(leaseId, (keys = new Set()));
    keys.add(key);
  }

  /** Mark an instance of `leaseId` online; watchers see it. Idempotent. */
  startup(key: InstanceKey, leaseId: string): void {
    const entry = this.entry(key);
    if (!entry || entry.leaseId !== leaseId) {
      throw new NotFoundError(`${instanceId(key.service, key.userData)} is not registered by this agent`);
    }
    if (entry.record.online) return;
    entry.record = { ...entry.record, online: true };
    this.notify(entry.record, { kind: 'online', instance: entry.record });
  }

  /** Remove an instance of `leaseId`. Idempotent; an instance held by another lease is left alone. */
  deregister(key: InstanceKey, reason: OfflineReason, leaseId: string): void {
    const entry = this.entry(key);
    if (entry && entry.leaseId === leaseId) this.remove(entry, reason);
  }

  /** Remove every instance of a lease (it expired); returns how many. */
  dropLease(leaseId: string, reason: OfflineReason): number {
    const keys = this.byLease.get(leaseId);
    if (!keys) return 0;
    let n = 0;
    for (const entry of [...keys].map((k) => this.findByKey(k))) {
      if (entry) {
        this.remove(entry, reason);
        n++;
      }
    }
    this.byLease.delete(leaseId);
    return n;
  }

  /** Start a watch: the online instances matching now, then changes through `sink`. */
  watch(gameId: string, pattern: string, sink: WatchSink): { watchId: number; instances: InstanceRecord[] } {
    const watch: Watch = { id: this.nextWatchId++, gameId, pattern, sink };
    this.watches.set(watch.id, watch);
    let set = this.watchesByGame.get(gameId);
    if (!set) this.watchesByGame.set(gameId, (set = new Set()));
    set.add(watch);
    const instances: InstanceRecord[] = [];
    for (const e of this.games.get(gameId)?.values() ?? []) {
      if (e.record.online && matches(pattern, e.record.service)) instances.push(e.record);
    }
    return { watchId: watch.id, instances };
  }

  /** Stop a watch; false if there was none. */
  unwatch(watchId: number): boolean {
    const watch = this.watches.get(watchId);
    if (!watch) return false;
    this.watches.delete(watchId);
    const set = this.watchesByGame.get(watch.gameId);
    set?.delete(watch);
    if (set?.size === 0) this.watchesByGame.delete(watch.gameId);
    return true;
  }

  /** Registered and online instances per service, sorted by name. */
  services(): ServiceSummary[] {
    const out = new Map<string, ServiceSummary>();
    for (const [gameId, entries] of this.games) {
      for (const { record } of entries.values()) {
        let s = out.get(record.service);
        if (!s) out.set(record.service, (s = { gameId, service: record.service, instances: 0, online: 0 }));
        s.instances++;
        if (record.online) s.online++;
      }
    }
    return [...out.values()].sort((a, b) => a.service.localeCompare(b.service));
  }

  /** Every instance (of one service when given), sorted by id. */
  instances(service?: string): InstanceRecord[] {
    const out: InstanceRecord[] = [];
    for (const entries of this.games.values()) {
      for (const { record } of entries.values()) if (!service || record.service === service) out.push(record);
    }
    return out.sort((a, b) => instanceId(a.service, a.userData).localeCompare(instanceId(b.service, b.userData)));
  }

  /** How many instances a lease holds. */
  countOf(leaseId: string): number {
    return this.byLease.get(leaseId)?.size ?? 0;
  }

  get watchCount(): number {
    return this.watches.size;
  }

  private gameMap(gameId: string): Map<string, Entry> {
    let m = this.games.get(gameId);
    if (!m) this.games.set(gameId, (m = new Map()));
    return m;
  }

  private entry(key: InstanceKey): Entry | undefined {
    return this.games.get(key.gameId)?.get(keyOf(key));
  }

  private findByKey(key: string): Entry | undefined {
    return this.games.get(key.slice(0, key.indexOf('\u0000')))?.get(key);
  }

  private unindex(entry: Entry): void {
    const keys = this.byLease.get(entry.leaseId);
    keys?.delete(keyOf(entry.record));
    if (keys?.size === 0) this.byLease.delete(entry.leaseId);
  }

  private remove(entry: Entry, reason: OfflineReason): void {
    const game = this.games.get(entry.record.gameId);
    game?.delete(keyOf(entry.record));
    if (game?.size === 0) this.games.delete(entry.record.gameId);
    this.unindex(entry);
    if (entry.record.online) {
      const instance = { ...entry.record, online: false };
      this.notify(instance, { kind: 'offline', instance, reason });
    }
  }

  private notify(record: InstanceRecord, event: Parameters<WatchSink>[0]): void {
    const set = this.watchesByGame.get(record.gameId);
    if (!set) return;
    for (const w of [...set]) if (matches(w.pattern, record.service)) w.sink(event);
  }
}
