/**
 * Bringing a fresh name-server connection up to date (NsRegistry): after a
 * resumed lease, the deregistrations that did not get through; after a new
 * lease, every held instance registered (and started) again, an instance
 * taken meanwhile reported as kicked by its new holder; then every watch,
 * its mirror resynced (what changed while away, reported once).
 */
import { ConflictError, TimeoutError } from '../protocol/errors.js';
import type { Logger } from '../protocol/logger.js';
import type { NsUnwatchRequest } from '../protocol/ns-bodies.js';
import { NsMessage, reasonFor, type InstanceRecord } from '../protocol/registry-messages.js';
import { plainKey, type HeldInstances } from './held-instances.js';
import { nsRequest } from './ns-connect.js';
import type { NsLink } from './ns-link.js';
import type { WatchMirror } from './watch-mirror.js';

/** What the recovery works on. */
export interface Recovering {
  held: HeldInstances;
  mirrors: ReadonlySet<WatchMirror>;
  /** The capabilities the name server and we share (which offline reasons it knows). */
  caps: string[];
  timeoutMs: number;
  log: Logger;
}

/** @param graceMs how long a resynced watch waits before reporting what is missing as offline */
export async function recoverOn(link: NsLink, r: Recovering, resumed: boolean, graceMs: number): Promise<void> {
  const t = r.timeoutMs;
  const unsent = r.held.takeUnsent(); // a lost lease took those instances with it
  if (resumed) {
    await Promise.all(unsent.map((u) => nsRequest(link.conn, NsMessage.DEREGISTER, { key: u.key, reason: reasonFor(u.reason, r.caps) }, t)));
  } else {
    await Promise.all(r.held.entries().map(async ([k, h]) => {
      try {
        await nsRequest(link.conn, NsMessage.REGISTER, { instance: h.record, conflict: 'reject' }, t);
        if (h.online) await nsRequest(link.conn, NsMessage.STARTUP, { key: plainKey(h.record) }, t);
      } catch (err) {
        if (link.conn.closed || err instanceof TimeoutError) throw err;
        const id = `${h.record.service}/${h.record.userData}`;
        if (!(err instanceof ConflictError)) {
          r.log.error(`registry: could not register ${id} again: ${(err as Error).message}`);
          return;
        }
        if (r.held.get(k) !== h) return;
        r.log.warn(`registry: ${id} was taken while we were away: ${err.message}`);
        r.held.lost(k, h, await findHolder(link, h.record, t));
      }
    }));
  }
  await Promise.all([...r.mirrors].map(async (m) => {
    link.pendingWatches++;
    try {
      const res = await nsRequest(link.conn, NsMessage.WATCH, { gameId: m.gameId, pattern: m.pattern }, t);
      if (m.closed) {
        link.conn.send(NsMessage.UNWATCH, { watchId: res.watchId } satisfies NsUnwatchRequest);
        return;
      }
      m.resync(res.instances, graceMs);
      link.attach(res.watchId, m);
    } finally {
      link.pendingWatches--;
    }
  }));
}

/**
 * Who holds an instance we lost to a conflict while away: the online holder
 * from a one-off watch, or (registered but not online yet) a record that
 * names no agent.
 */
async function findHolder(link: NsLink, rec: InstanceRecord, timeoutMs: number): Promise<InstanceRecord> {
  const unknown: InstanceRecord = { ...rec, agentId: '', address: '', localId: 0, online: false };
  try {
    link.pendingWatches++;
    const res = await nsRequest(link.conn, NsMessage.WATCH, { gameId: rec.gameId, pattern: rec.service }, timeoutMs);
    link.conn.send(NsMessage.UNWATCH, { watchId: res.watchId } satisfies NsUnwatchRequest);
    return res.instances.find((r) => r.userData === rec.userData) ?? unknown;
  } catch {
    return unknown;
  } finally {
    link.pendingWatches--;
  }
}
