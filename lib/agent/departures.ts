/**
 * Departures: how a local instance leaves. Closed by its app (CLOSE, then
 * RELEASE), drained (out of the registry first, a destination until its
 * CLOSE), dropped when its app went away, kicked by a registration that took
 * its name, or faulted when one of its rings is unusable. Each way ends the
 * same: it stops being a destination (what waits for it bounces), what it
 * sent is read and settled, its rings are swept and unmapped, and it is
 * forgotten, never taking the agent down with it.
 */
import { RingError } from '../native/index.js';
import { ControlMessage } from '../protocol/control-messages.js';
import type { FaultEvent, InstanceInfo, KickedEvent } from '../protocol/control-bodies.js';
import { ErrorCode } from '../protocol/errors.js';
import type { Logger } from '../protocol/logger.js';
import { keyOf, OfflineReason, type InstanceRecord } from '../protocol/registry-messages.js';
import type { Registry } from '../registry/registry.js';
import type { ClientSession } from './client-session.js';
import type { DataPath } from './data-path.js';
import type { LocalInstance } from './local-instance.js';
import type { PairTable } from './pair-table.js';
import type { RetiredTotals } from './status.js';
import { ledger, UnreadBouncer, type UnreadRoutes } from './unread.js';

/** What departures work on: the agent's instance tables and the parts an instance leaves. */
export interface DepartureHost {
  readonly epoch: number;
  /** Local instances by local id, and by registry key (the holder of each name). */
  readonly instances: Map<number, LocalInstance>;
  readonly byKey: Map<string, LocalInstance>;
  readonly registry: Registry;
  readonly path: DataPath;
  readonly pairs: PairTable;
  readonly retired: RetiredTotals;
  readonly routes: UnreadRoutes;
  readonly log: Logger;
  /** How long a destination may take nothing before what waits for it bounces (the wait for a settled close is twice that). */
  readonly fullMs: number;
  /** The taken-message ledger (fault-injection runs), if any. */
  readonly ledgerFile: string | undefined;
  session(clientId: number): ClientSession | undefined;
  /** A registry record as this agent's apps address it. */
  toInfo(r: InstanceRecord): InstanceInfo;
  wentAway(info: InstanceInfo): void;
  /** The agent is stopping: departures are its close's business. */
  closing(): boolean;
}

export class Departures {
  constructor(private readonly h: DepartureHost) {}

  /** CLOSE from its app: leave routing now, answer once what it sent is read and settled. */
  async close(inst: LocalInstance): Promise<void> {
    this.leave(inst, OfflineReason.CLOSED, true);
    await this.whenSettled(inst, 2 * this.h.fullMs + 1000);
  }

  /**
   * DRAIN from its app: out of the registry now (watchers everywhere see it
   * offline, reason `draining`), so senders pick others; still a destination
   * (Router, pair rings) for what they had addressed to it, until its CLOSE.
   * Its name is free meanwhile: a successor may register it. Resolves once the
   * registry took the deregistration.
   */
  async drain(inst: LocalInstance): Promise<void> {
    if (inst.state !== 'online') return; // not started, or leaving already: nothing to drain
    inst.state = 'draining';
    if (this.h.byKey.get(keyOf(inst.record)) === inst) this.h.byKey.delete(keyOf(inst.record));
    await this.h.registry.deregister(inst.record, OfflineReason.DRAINING);
  }

  /** RELEASE from its app: it reads no more; what it left unread goes back to the senders. */
  release(inst: LocalInstance): void {
    this.leave(inst, OfflineReason.CLOSED, true);
    this.h.pairs.released(inst, OfflineReason.CLOSED); // the client closed its pair rings before CLOSE
    this.finish(inst);
  }

  /** Its app went away without closing it (crash, lost connection). */
  async drop(inst: LocalInstance, reason: OfflineReason): Promise<void> {
    if (this.h.closing()) return;
    this.leave(inst, reason, true);
    await this.whenSettled(inst, 2 * this.h.fullMs + 1000);
    this.finish(inst);
  }

  /** Another registration took its name: tell its app, which then closes it (or we do after a while). */
  kick(inst: LocalInstance, by: InstanceRecord): void {
    if (inst.state === 'leaving' || inst.state === 'gone') return;
    const session = this.h.session(inst.clientId);
    session?.notify(ControlMessage.KICKED, { localId: inst.localId, by: this.h.toInfo(by) } satisfies KickedEvent);
    this.leave(inst, OfflineReason.REPLACED, false);
    if (this.h.byKey.get(keyOf(inst.record)) === inst) this.h.byKey.delete(keyOf(inst.record));
    setTimeout(() => {
      if (inst.state !== 'leaving') return;
      session?.forget(inst.localId);
      this.finish(inst);
    }, 2 * this.h.fullMs + 5000).unref();
  }

  /** The registry says a registration elsewhere took the name of one of ours. */
  kickedElsewhere(record: InstanceRecord, by: InstanceRecord): void {
    const inst = this.h.byKey.get(keyOf(record));
    if (inst && inst.localId === record.localId && record.epoch === this.h.epoch) this.kick(inst, by);
  }

  /** One of its rings cannot be used (corrupt): drop the instance, never the agent. */
  fault(localId: number, err: Error): void {
    const inst = this.h.instances.get(localId);
    if (!inst || inst.state === 'gone') return;
    this.h.log.error(`instance ${inst.info.id}: ${err.message}; dropping it`, { instance: inst.info.id });
    const session = this.h.session(inst.clientId);
    session?.forget(inst.localId);
    session?.notify(ControlMessage.FAULT, { localId: inst.localId, code: ErrorCode.RING_FAILURE, message: err.message } satisfies FaultEvent);
    this.leave(inst, OfflineReason.CRASHED, true);
    setImmediate(() => this.finish(inst));
  }

  /** Not a destination any more (its waiting data bounces); what it sent still goes out. */
  private leave(inst: LocalInstance, reason: OfflineReason, deregister: boolean): void {
    if (inst.state === 'leaving' || inst.state === 'gone') return;
    const deregistered = inst.state === 'draining'; // (with reason `draining`, when it began)
    inst.state = 'leaving';
    this.h.path.round(() => inst.sink.leave());
    this.h.pairs.leaving(inst, reason);
    if (!deregister || deregistered) return;
    this.h.registry.deregister(inst.record, reason).catch((err: Error) => this.h.log.warn(`deregister ${inst.info.id}: ${err.message}`, { instance: inst.info.id }));
  }

  /** Until what it sent is read and settled (or `ms` passed). */
  private async whenSettled(inst: LocalInstance, ms: number): Promise<void> {
    const end = performance.now() + ms;
    while (inst.state === 'leaving' && !inst.drained && performance.now() < end) {
      this.h.path.schedule();
      await new Promise((r) => setTimeout(r, 2));
    }
  }

  /** Gone: read what it wrote last, bounce what it left unread, unmap and remove its rings. */
  private finish(inst: LocalInstance): void {
    const h = this.h;
    if (inst.state === 'gone' || !h.instances.has(inst.localId)) return;
    h.path.round(() => {
      try {
        // one lap at most: a producer that keeps writing (or scribbling) cannot hold the agent here
        if (inst.tx.unblock(true) !== 'empty' || inst.tx.available()) inst.source.pump(inst.tx.capacity);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
      }
      if (inst.source.unsettled > 0 || inst.tx.available()) h.log.warn(`instance ${inst.info.id}: gone with messages still unsettled`, { instance: inst.info.id });
      inst.source.close(); // ends an unfinished message at its destination (ABORT)
      const ledgerFile = h.ledgerFile;
      try {
        const unread = new UnreadBouncer(h.routes, inst.localId);
        inst.sink.close((type, body) => unread.add(type, body), ledgerFile ? (type, body) => ledger(ledgerFile, type, body) : undefined);
      } catch (err) {
        if (!(err instanceof RingError)) throw err;
        h.log.error(`instance ${inst.info.id}: its rx ring is unreadable: ${err.message}`, { instance: inst.info.id });
      }
    });
    h.pairs.gone(inst);
    h.path.remove(inst.source);
    h.path.forget(inst.sink);
    h.instances.delete(inst.localId);
    h.retired.add(inst);
    h.wentAway(inst.info);
    if (h.byKey.get(keyOf(inst.record)) === inst) h.byKey.delete(keyOf(inst.record));
    inst.destroy();
  }
}
