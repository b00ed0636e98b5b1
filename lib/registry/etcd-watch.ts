/**
 * InstanceWatch: one Registry.watch on etcd. A PrefixFollower supplies the
 * listed instances and every change under the pattern's key prefix; this
 * turns them into online/offline events through a WatchMirror.
 *
 * How a change reads:
 * - PUT, online            -> online (a different holder first goes offline `replaced`)
 * - PUT, registered only   -> nothing, unless a watched holder is being
 *                             replaced (`replaced`) or re-registered by a new
 *                             lease of the same agent (`agent_lost`)
 * - PUT, tombstone         -> offline with the tombstone's reason (deregister)
 * - DELETE                 -> offline `agent_lost` unless a tombstone came
 *                             first (a lease that expired or was revoked)
 * - a repair list          -> only the real differences (WatchMirror.resync)
 */
import type { IEvent, IKeyValue } from 'etcd3';
import { matches } from '../protocol/names.js';
import { keyOf, OfflineReason, type InstanceRecord } from '../protocol/registry-messages.js';
import type { EtcdCalls } from './etcd-calls.js';
import { PrefixFollower } from './etcd-follow.js';
import { decodeInstance, keyOfPath, patternPrefix, sameHolder } from './etcd-keys.js';
import type { WatchEvent } from './registry.js';
import { WatchMirror } from './watch-mirror.js';
import type { Logger } from '../protocol/logger.js';

export class InstanceWatch {
  private readonly mirror: WatchMirror;
  private readonly follower: PrefixFollower;

  constructor(calls: EtcdCalls, gameId: string, private readonly pattern: string, listener: (e: WatchEvent) => void, private readonly log: Logger) {
    this.mirror = new WatchMirror(gameId, pattern, listener, log);
    this.follower = new PrefixFollower(calls, patternPrefix(gameId, pattern), {
      onEvent: (ev) => this.apply(ev),
      onResync: (kvs) => this.mirror.resync(this.onlineOf(kvs), 0),
    }, log);
  }

  get closed(): boolean {
    return this.mirror.closed;
  }

  /** List and watch; resolves with the online instances (the snapshot). */
  async start(): Promise<InstanceRecord[]> {
    const snapshot = this.onlineOf(await this.follower.start());
    for (const r of snapshot) this.mirror.known.set(keyOf(r), r);
    return snapshot;
  }

  close(): void {
    this.mirror.close();
    this.follower.close();
  }

  private onlineOf(kvs: IKeyValue[]): InstanceRecord[] {
    const out: InstanceRecord[] = [];
    for (const kv of kvs) {
      const d = decodeInstance(kv.key.toString(), kv.value);
      if (d && !d.offline && d.record.online && matches(this.pattern, d.record.service)) out.push(d.record);
    }
    return out;
  }

  private apply(ev: IEvent): void {
    const path = ev.kv.key.toString();
    const key = keyOfPath(path);
    if (!key || !matches(this.pattern, key.service)) return;
    const prev = this.mirror.known.get(keyOf(key));
    if (ev.type === 'Delete') {
      if (prev) this.mirror.offline(prev, OfflineReason.AGENT_LOST);
      return;
    }
    const d = decodeInstance(path, ev.kv.value);
    if (!d) {
      this.log.warn(`registry: ignored a malformed value at ${path}`);
      return;
    }
    if (d.offline) {
      if (prev) this.mirror.offline(prev, d.offline);
    } else if (d.record.online) {
      this.mirror.online(d.record);
    } else if (prev) {
      this.mirror.offline(prev, sameHolder(prev, d.record) ? OfflineReason.AGENT_LOST : OfflineReason.REPLACED);
    }
  }
}
