/**
 * EtcdWrites: the instance writes as etcd transactions. Each method is one
 * attempt that EtcdCalls.retrying may repeat: every transaction compares
 * first (create-if-absent, or the mod revision last read) and on failure
 * reads the key back, so a repeat of a write that had succeeded sees its own
 * result and counts as success.
 *
 * - register `reject`: create if absent; if present and held by the same
 *   holder (agent + localId) on our lease, success (the online state kept);
 *   the same holder on another lease (our lost lease, or this agent
 *   restarted) is taken over by compare-and-swap; anyone else is a conflict.
 * - register `replace`: compare-and-swap on the holder's mod revision, and in
 *   the same transaction a kick record for the old holder's agent.
 * - startup: compare-and-swap `online: true`.
 * - deregister: compare-and-swap a tombstone (`offline: reason`), then delete
 *   it if it is still that tombstone. Only our agent's entries are touched.
 */
import type { IKeyValue, IRequestOp } from 'etcd3';
import { RegistryUnavailableError } from '../protocol/errors.js';
import { OfflineReason, type ConflictStrategy, type InstanceKey, type InstanceRecord } from '../protocol/registry-messages.js';
import { absent, deleteOp, LeaseGoneError, modIs, putOp, readKv, readOp, txnRevision, type EtcdCalls } from './etcd-calls.js';
import { decodeInstance, encodeInstance, instancePath, kickPath, sameHolder, type KickValue } from './etcd-keys.js';

/** An instance this agent holds, and the mod revision of its last write. */
export interface Held {
  record: InstanceRecord;
  online: boolean;
  modRev: string;
}

export type RegisterOutcome =
  | { kind: 'ok'; online: boolean; modRev: string }
  | { kind: 'conflict'; holder: InstanceRecord };

/** Compare-and-swap rounds before giving up on a key that keeps changing. */
const ROUNDS = 16;

/** A put that leaves the key on the lease it has. */
const keepLeasePut = (key: Buffer, value: Buffer): IRequestOp => ({ request_put: { key, value, ignore_lease: true } });

const leaseOf = (kv: IKeyValue): string | undefined => (kv.lease && kv.lease !== '0' ? kv.lease : undefined);

export class EtcdWrites {
  constructor(private readonly calls: EtcdCalls, private readonly agentId: string) {}

  /**
   * Register `rec` on `lease`. `online`: the state to write when the entry is
   * (re)written, or 'keep' (a plain register: a fresh entry is registered-only,
   * one of ours on this lease keeps its state).
   */
  async register(rec: InstanceRecord, conflict: ConflictStrategy, lease: string, online: boolean | 'keep'): Promise<RegisterOutcome> {
    const path = instancePath(rec);
    const key = Buffer.from(path);
    const fresh = online === true;
    const value = encodeInstance(rec, { online: fresh });
    for (let round = 0; round < ROUNDS; round++) {
      const res = await this.calls.txn([absent(key)], [putOp(key, value, lease)], [readOp(key)]);
      if (res.succeeded) return { kind: 'ok', online: fresh, modRev: txnRevision(res) };
      const kv = readKv(res);
      if (!kv) continue; // deleted in between
      const cur = decodeInstance(path, kv.value);
      const ours = cur && !cur.offline && sameHolder(cur.record, rec);
      if (ours && leaseOf(kv) === lease && (online === 'keep' || cur.record.online === online)) {
        return { kind: 'ok', online: cur.record.online, modRev: kv.mod_revision };
      }
      const ops = [putOp(key, value, lease)];
      if (cur && !cur.offline && !ours) {
        if (conflict === 'reject') return { kind: 'conflict', holder: cur.record };
        const kick: KickValue = { instance: cur.record, by: { ...rec, online: false } };
        ops.push(putOp(Buffer.from(kickPath(cur.record.agentId, rec)), Buffer.from(JSON.stringify(kick)), lease));
      }
      // ours on another lease (a lost lease, or this agent restarted), a tombstone
      // on its way out, a malformed value, or a replace: swap it
      const swap = await this.calls.txn([modIs(key, kv.mod_revision)], ops);
      if (swap.succeeded) return { kind: 'ok', online: fresh, modRev: txnRevision(swap) };
    }
    throw new RegistryUnavailableError(`${path} kept changing; gave up after ${ROUNDS} rounds`);
  }

  /** Mark a held instance online. False when it is no longer ours; LeaseGoneError when its key went with our lease. */
  async startup(h: Held, lease: string): Promise<boolean> {
    const path = instancePath(h.record);
    const key = Buffer.from(path);
    const value = encodeInstance(h.record, { online: true });
    for (let round = 0; round < ROUNDS; round++) {
      const res = await this.calls.txn([modIs(key, h.modRev)], [putOp(key, value, lease)], [readOp(key)]);
      if (res.succeeded) {
        h.modRev = txnRevision(res);
        h.online = true;
        return true;
      }
      const kv = readKv(res);
      // Gone while we hold it: only our lease ending deletes our key (a deregistration releases it first, a
      // replacement writes over it). The lease is lost: the caller recovers (registers it again), then retries.
      if (!kv) throw new LeaseGoneError(`${path} vanished with lease ${lease}`);
      const cur = decodeInstance(path, kv.value);
      if (!cur || cur.offline || !sameHolder(cur.record, h.record)) return false;
      h.modRev = kv.mod_revision;
      if (cur.record.online && leaseOf(kv) === lease) {
        h.online = true;
        return true;
      }
    }
    throw new RegistryUnavailableError(`${path} kept changing; gave up after ${ROUNDS} rounds`);
  }

  /**
   * Remove one of this agent's entries with a reason: tombstone, then delete.
   * `holder`: the record we hold, when we know it (then only that localId is
   * removed); otherwise any entry of this agent.
   */
  async deregister(k: InstanceKey, reason: OfflineReason, holder: InstanceRecord | undefined): Promise<void> {
    const path = instancePath(k);
    const key = Buffer.from(path);
    for (let round = 0; round < ROUNDS; round++) {
      const res = await this.calls.client.kv.range({ key });
      const kv = res.kvs[0];
      const cur = kv && decodeInstance(path, kv.value);
      if (!kv || !cur) return;
      if (cur.record.agentId !== this.agentId || (holder && !sameHolder(cur.record, holder))) return;
      let rev = kv.mod_revision;
      if (!cur.offline) {
        const put = await this.calls.txn([modIs(key, rev)], [keepLeasePut(key, encodeInstance(cur.record, { online: cur.record.online, offline: reason }))]);
        if (!put.succeeded) continue;
        rev = txnRevision(put);
      }
      const del = await this.calls.txn([modIs(key, rev)], [deleteOp(key)]);
      if (del.succeeded) return;
    }
    throw new RegistryUnavailableError(`${path} kept changing; gave up after ${ROUNDS} rounds`);
  }

  /** One attempt at a tombstone for a held instance (close(): the lease revoke deletes it). */
  async tombstone(h: Held, reason: OfflineReason): Promise<void> {
    const key = Buffer.from(instancePath(h.record));
    const res = await this.calls.txn([modIs(key, h.modRev)], [keepLeasePut(key, encodeInstance(h.record, { online: h.online, offline: reason }))], [readOp(key)]);
    if (res.succeeded) return;
    await this.deregister(h.record, reason, h.record);
  }
}
