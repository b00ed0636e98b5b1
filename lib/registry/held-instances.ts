/**
 * HeldInstances: what an agent holds under its registry lease, the part both
 * backends (NsRegistry, EtcdRegistry) keep the same way:
 *   - the instances it registered, each with its record and whether it is
 *     started (what a lost lease re-registers);
 *   - deregistrations that did not reach the registry (sent again once it
 *     answers; a lost lease needs none of them);
 *   - the `kicked` report when another registration took one of them, made
 *     once, with a listener that throws logged, never propagated.
 * How each backend writes, retries and watches stays in the backend.
 */
import type { Logger } from '../protocol/logger.js';
import { keyOf, sameHolder, type OfflineReason } from '../protocol/registry-messages.js';
import type { InstanceKey, InstanceRecord, RegistryEvents } from './registry.js';

/** One held instance (a backend may keep more with it, e.g. etcd's mod revision). */
export interface HeldEntry {
  record: InstanceRecord;
  online: boolean;
}

/** A deregistration to send again once the registry answers. */
export interface UnsentDeregistration {
  key: InstanceKey;
  reason: OfflineReason;
}

/** A key with nothing else in it (a record is a key too, with more fields). */
export const plainKey = (k: InstanceKey): InstanceKey => ({ gameId: k.gameId, service: k.service, userData: k.userData });

export class HeldInstances<H extends HeldEntry = HeldEntry> {
  private readonly held = new Map<string, H>();
  private readonly unsent = new Map<string, UnsentDeregistration>();
  /** Set by open(): who hears about instances another registration took. */
  events: RegistryEvents = { kicked: () => {} };

  constructor(private readonly log: Logger) {}

  get size(): number {
    return this.held.size;
  }

  get(k: string): H | undefined {
    return this.held.get(k);
  }

  /** A snapshot of what is held, by key (safe to iterate across awaits). */
  entries(): [string, H][] {
    return [...this.held];
  }

  /** Hold `entry` under `k` (registering it again cancels a deregistration not sent yet). */
  hold(k: string, entry: H): void {
    this.unsent.delete(k);
    this.held.set(k, entry);
  }

  /** Put `prev` back (or nothing) where `entry` still is: a registration that failed. */
  restore(k: string, entry: H, prev: H | undefined): void {
    if (this.held.get(k) !== entry) return;
    if (prev) this.held.set(k, prev);
    else this.held.delete(k);
  }

  /** Stop holding `k` (a deregistration starts); returns what was held. */
  release(k: string): H | undefined {
    const h = this.held.get(k);
    this.held.delete(k);
    this.unsent.delete(k);
    return h;
  }

  /** Stop holding `k` only if `entry` is still what is held there. */
  drop(k: string, entry: H): boolean {
    if (this.held.get(k) !== entry) return false;
    this.held.delete(k);
    return true;
  }

  /** Registering `k` again: a deregistration of it not sent yet must never be sent after this. */
  forgetUnsent(k: string): void {
    this.unsent.delete(k);
  }

  /** A deregistration that did not reach the registry: send it again later. */
  unsentLater(key: InstanceKey, reason: OfflineReason): void {
    this.unsent.set(keyOf(key), { key: plainKey(key), reason });
  }

  get unsentCount(): number {
    return this.unsent.size;
  }

  /** Deregistrations still to send, by key (a snapshot). */
  unsentEntries(): [string, UnsentDeregistration][] {
    return [...this.unsent];
  }

  /** `u` was sent: forget it, unless a newer one replaced it meanwhile. */
  sent(k: string, u: UnsentDeregistration): void {
    if (this.unsent.get(k) === u) this.unsent.delete(k);
  }

  /** Every deregistration still to send, forgotten here (the caller sends them, or a lost lease made them moot). */
  takeUnsent(): UnsentDeregistration[] {
    const all = [...this.unsent.values()];
    this.unsent.clear();
    return all;
  }

  /** Another registration took `k` while `entry` was held (found re-registering after a lost lease). */
  lost(k: string, entry: H, by: InstanceRecord): void {
    if (this.drop(k, entry)) this.kicked(entry.record, by);
  }

  /**
   * The registry says `instance` was replaced by `by`. If that is the
   * registration held, it is dropped and reported; if `by` is the one held and
   * `instance` was another of this agent's (`ownAgentId`), it is reported too.
   */
  replaced(instance: InstanceRecord, by: InstanceRecord, ownAgentId?: string): void {
    const k = keyOf(instance);
    const h = this.held.get(k);
    if (!h) return;
    if (sameHolder(h.record, instance)) {
      this.held.delete(k);
      this.kicked(instance, by);
    } else if (ownAgentId !== undefined && sameHolder(h.record, by) && instance.agentId === ownAgentId) {
      this.kicked(instance, by);
    }
  }

  clear(): void {
    this.held.clear();
    this.unsent.clear();
  }

  private kicked(instance: InstanceRecord, by: InstanceRecord): void {
    try {
      this.events.kicked(instance, by);
    } catch (err) {
      this.log.error(`registry: kicked listener threw: ${(err as Error)?.stack ?? String(err)}`);
    }
  }
}
