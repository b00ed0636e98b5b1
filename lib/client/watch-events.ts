/**
 * WatchEvents: the ONLINE/OFFLINE events of one agent connection, handed to
 * the watch they belong to. An event may arrive before the WATCH answer that
 * names its watch (they can share a packet): it waits until the answer is
 * processed. It also remembers the names of every instance an event or a
 * snapshot showed (for `Message.from` and undeliverable reports).
 */
import type { InstanceInfo, OfflineEvent, OnlineEvent, WatchAnswer } from '../protocol/control-bodies.js';
import type { InstanceRef } from './message.js';

export type WatchHandler = (event: OnlineEvent | OfflineEvent) => void;

export class WatchEvents {
  private readonly handlers = new Map<number, WatchHandler>();
  /** Events of a watch whose WATCH answer has not been processed yet. */
  private readonly early = new Map<number, (OnlineEvent | OfflineEvent)[]>();
  private highestWatchId = 0;
  private readonly refs = new Map<string, InstanceRef>();
  /** The incarnation of the agent: only its addresses are remembered (node numbers are its own). */
  private epoch = 0;

  /** A (new) agent incarnation: what was remembered of another is forgotten. */
  connected(epoch: number): void {
    if (epoch !== this.epoch) this.refs.clear();
    this.epoch = epoch;
  }

  /** The WATCH answer: its handler takes the events from now on, and any that came first. */
  answered(res: WatchAnswer, onEvent: WatchHandler): void {
    this.handlers.set(res.watchId, onEvent);
    this.highestWatchId = Math.max(this.highestWatchId, res.watchId);
    for (const i of res.instances) this.remember(i);
    const early = this.early.get(res.watchId);
    this.early.delete(res.watchId);
    if (early) queueMicrotask(() => { for (const ev of early) onEvent(ev); });
  }

  unwatched(watchId: number): void {
    this.handlers.delete(watchId);
  }

  event(ev: OnlineEvent | OfflineEvent): void {
    this.remember(ev.instance);
    const handler = this.handlers.get(ev.watchId);
    if (handler) handler(ev);
    else if (ev.watchId > this.highestWatchId) {
      const list = this.early.get(ev.watchId) ?? [];
      list.push(ev);
      this.early.set(ev.watchId, list);
    }
  }

  /** The connection is gone: its watches with it (the names stay, for reports still to come). */
  lost(): void {
    this.handlers.clear();
    this.early.clear();
    this.highestWatchId = 0;
  }

  resolveRef(node: number, localId: number, epoch = this.epoch): InstanceRef {
    const known = epoch === this.epoch ? this.refs.get(`${node}:${localId}`) : undefined;
    return known ?? { service: '', userData: '', id: `#${node}:${localId}`, agentId: '', node, localId, epoch };
  }

  private remember(info: InstanceInfo): void {
    if (info.epoch === this.epoch) this.refs.set(`${info.node}:${info.localId}`, info);
  }
}
