/**
 * Membership: the online instances an instance knows of, per service, kept
 * from its watches (a snapshot, then online/offline events). Routing reads
 * it synchronously, which is why `send` can return the routed instance.
 */
import { BehaviorSubject, type Observable } from 'rxjs';
import { distinctUntilChanged, map } from 'rxjs/operators';
import { matches } from '../protocol/names.js';
import type { InstanceRef } from './message.js';

export class Membership {
  private readonly patterns = new Map<string, number>();
  private readonly services = new Map<string, Map<string, InstanceRef>>();
  private readonly lists = new Map<string, InstanceRef[]>();
  private readonly changes = new BehaviorSubject<number>(0);
  private version = 0;

  /** A watch on `pattern` delivered its snapshot. */
  addPattern(pattern: string, snapshot: InstanceRef[]): void {
    this.patterns.set(pattern, (this.patterns.get(pattern) ?? 0) + 1);
    for (const ref of snapshot) this.online(ref);
    this.bump();
  }

  /** A watch on `pattern` ended: services no other watch covers are forgotten. */
  removePattern(pattern: string): void {
    const n = (this.patterns.get(pattern) ?? 1) - 1;
    if (n > 0) return void this.patterns.set(pattern, n);
    this.patterns.delete(pattern);
    for (const service of [...this.services.keys()]) {
      if (this.covers(service)) continue;
      this.services.delete(service);
      this.lists.delete(service);
    }
    this.bump();
  }

  /** Every instance known, across services. */
  all(): InstanceRef[] {
    return [...this.services.values()].flatMap((m) => [...m.values()]);
  }

  /** Forget every pattern and instance (the agent connection is being rebuilt). */
  reset(): void {
    this.patterns.clear();
    this.services.clear();
    this.lists.clear();
  }

  /** Is some watch covering this service? */
  covers(service: string): boolean {
    for (const p of this.patterns.keys()) if (matches(p, service)) return true;
    return false;
  }

  online(ref: InstanceRef): void {
    let m = this.services.get(ref.service);
    if (!m) this.services.set(ref.service, (m = new Map()));
    m.set(ref.id, ref);
    this.lists.delete(ref.service);
    this.bump();
  }

  offline(ref: InstanceRef): void {
    const m = this.services.get(ref.service);
    if (m?.get(ref.id)?.localId === ref.localId && m.get(ref.id)?.node === ref.node) m.delete(ref.id);
    this.lists.delete(ref.service);
    this.bump();
  }

  /** The online instances of a service, in a stable order (by id). */
  members(service: string): InstanceRef[] {
    let list = this.lists.get(service);
    if (!list) {
      list = [...(this.services.get(service)?.values() ?? [])].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
      this.lists.set(service, list);
    }
    return list;
  }

  isOnline(ref: InstanceRef): boolean {
    const r = this.services.get(ref.service)?.get(ref.id);
    return r !== undefined && r.node === ref.node && r.localId === ref.localId;
  }

  /** Replays the current members of `service`, then each change. */
  members$(service: string): Observable<InstanceRef[]> {
    return this.changes.pipe(
      map(() => this.members(service)),
      distinctUntilChanged((a, b) => a.length === b.length && a.every((r, i) => r === b[i])),
    );
  }

  private bump(): void {
    this.changes.next(++this.version);
  }

  complete(): void {
    this.changes.complete();
  }
}
