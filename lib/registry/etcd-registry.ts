/**
 * EtcdRegistry: the Registry backend on an etcd v3 cluster (npm `etcd3`).
 * Key layout and values: etcd-keys.ts. Watches: etcd-watch.ts. Writes:
 * etcd-writes.ts. etcd auth and TLS: etcd-security.ts.
 *
 * Decisions, in the order they matter:
 * - One lease per agent (TTL 3 s, kept alive by etcd3 every TTL/3); every
 *   instance key of the agent is attached to it, so a dead agent's instances
 *   vanish a TTL later and watchers see them offline (`agent_lost`).
 * - When etcd3 reports the lease lost (etcd said so, or it was unreachable
 *   for 2 TTLs), a new lease is granted (back-off capped at ~1 s) and every
 *   held instance is written again on it with its online state, as the same
 *   holder: an instance still in etcd (its old lease survived, e.g. a cluster
 *   restart) changes nothing a watcher can see; one taken by someone else
 *   meanwhile is dropped and reported through `kicked`. Calls made during the
 *   recovery wait for the new lease, up to `requestTimeoutMs`.
 * - Every call has a deadline (`callTimeoutMs`, default 2 s) and operations
 *   retry with capped back-off until `requestTimeoutMs` (5 s), then fail with
 *   RegistryUnavailableError. Every write is a compare-and-swap transaction
 *   whose retry reads back what is there, so a retried write that had
 *   succeeded counts as success.
 * - A `replace` writes a kick record for the old holder's agent in the same
 *   transaction; each agent follows its own kick prefix and reports `kicked`.
 * - Deregistration writes a tombstone (the value with `offline: reason`),
 *   then deletes it: watchers learn the reason from the tombstone. A
 *   deregistration that could not be sent is retried in the background.
 * - close() tombstones every held instance with `closed`, then revokes the
 *   lease (which deletes them) and closes the client.
 */
import type { Etcd3, Lease } from 'etcd3';
import { ClosedError, ConflictError, CrossGameError, NotFoundError, RegistryAuthError, RegistryUnavailableError } from '../protocol/errors.js';
import { gameOf, instanceId, validatePattern, validateService, validateUserData } from '../protocol/names.js';
import { keyOf, OfflineReason, type InstanceKey } from '../protocol/registry-messages.js';
import { Backoff } from '../protocol/backoff.js';
import { HeldInstances } from './held-instances.js';
import { connect, DEFAULT_CALL_OPTIONS, type EtcdCalls, LeaseGoneError, sleep, type EtcdCallOptions } from './etcd-calls.js';
import { PrefixFollower } from './etcd-follow.js';
import { checkGameId, storeGames, verifyGame } from './etcd-games.js';
import { decodeJson, etcdUrlOf, holderOf, kickPrefix, parseEtcdUrl, sameHolder, type KickValue } from './etcd-keys.js';
import { checkSecurity, type EtcdSecurity } from './etcd-security.js';
import { InstanceWatch } from './etcd-watch.js';
import { EtcdWrites, type Held } from './etcd-writes.js';
import type {
  AgentIdentity, ConflictStrategy, GameVerdict, InstanceRecord, Registry, RegistryEvents, RegistryHealth, RegistryWatch, WatchEvent,
} from './registry.js';
import { toLogger, type Logger, type LogOption } from '../protocol/logger.js';

export { isEtcdUrl, parseEtcdUrl } from './etcd-keys.js';
export { etcdSecurityFromFiles, PASSWORD_ENV, type EtcdAuth, type EtcdSecurity, type EtcdSecurityFiles, type EtcdTls } from './etcd-security.js';

/** `auth` and `tls`: see etcd-security.ts; `tls` needs an `etcds://` URL. */
export interface EtcdRegistryOptions extends Partial<EtcdCallOptions>, EtcdSecurity {
  /** Lease TTL; etcd counts whole seconds, so it is rounded up. Default 3000 ms. */
  leaseTtlMs?: number;
  /** Where lease recoveries and watch repairs are reported, each with a level (a plain function gets every line). Default silent. */
  log?: LogOption;
}

type State = 'idle' | 'open' | 'closed';

/** The Registry on etcd (`etcd://` or `etcds://`): a lease per agent, instances as keys under it. Made by createEtcdRegistry. */
export class EtcdRegistry implements Registry {
  readonly hosts: string[];
  private readonly options: EtcdCallOptions;
  private readonly security: EtcdSecurity;
  private readonly ttlSeconds: number;
  private readonly log: Logger;
  private state: State = 'idle';
  private client: Etcd3 | undefined;
  private calls: EtcdCalls | undefined;
  private writes: EtcdWrites | undefined;
  private agent: AgentIdentity = { agentId: '', address: '' };
  private lease: Lease | undefined;
  private leaseId: string | undefined;
  private recovering: Promise<void> | undefined;
  /** The current lease's last keep-alive was answered (etcd3 sends one every TTL/3). */
  private keptAlive = false;
  private leaseRecoveries = 0;
  /** What this agent holds, and deregistrations etcd did not take yet (flushUnsent). */
  private readonly held: HeldInstances<Held>;
  private flushing: Promise<void> | undefined;
  private readonly watches = new Set<InstanceWatch>();
  private kicks: PrefixFollower | undefined;

  constructor(url: string | string[], options: EtcdRegistryOptions = {}) {
    this.hosts = typeof url === 'string' ? parseEtcdUrl(url) : url;
    this.options = {
      callTimeoutMs: options.callTimeoutMs ?? DEFAULT_CALL_OPTIONS.callTimeoutMs,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_CALL_OPTIONS.requestTimeoutMs,
      maxBackoffMs: options.maxBackoffMs ?? DEFAULT_CALL_OPTIONS.maxBackoffMs,
      pageSize: options.pageSize ?? DEFAULT_CALL_OPTIONS.pageSize,
    };
    this.security = checkSecurity(this.hosts, { auth: options.auth, tls: options.tls });
    this.ttlSeconds = Math.max(1, Math.ceil((options.leaseTtlMs ?? 3000) / 1000));
    this.log = toLogger(options.log);
    this.held = new HeldInstances<Held>(this.log);
    if (options.auth && !this.url.startsWith('etcds:')) this.log.warn(`registry: the etcd password of '${options.auth.username}' travels unencrypted (${this.url}); use etcds://`);
  }

  get url(): string {
    return etcdUrlOf(this.hosts);
  }

  /** Connect without a lease, for provisioning: store a game's verifier (`rxmesh games set`). */
  async setGame(gameId: string, key: string): Promise<void> {
    await storeGames(this.hosts, this.options, this.security, { [gameId]: key });
  }

  async open(agent: AgentIdentity, events: RegistryEvents): Promise<void> {
    if (this.state !== 'idle') throw new ClosedError(`registry ${this.url} is already ${this.state === 'closed' ? 'closed' : 'open'}`);
    this.agent = { agentId: agent.agentId, address: agent.address };
    this.held.events = events;
    this.calls = connect(this.hosts, this.options, this.security);
    this.client = this.calls.client;
    this.writes = new EtcdWrites(this.calls, this.agent.agentId);
    this.state = 'open';
    try {
      await this.calls.retrying(() => this.grant());
      this.kicks = new PrefixFollower(this.calls, kickPrefix(agent.agentId), {
        onEvent: (ev) => {
          if (ev.type === 'Put') this.onKick(ev.kv.key, ev.kv.value);
        },
        onResync: (kvs) => kvs.forEach((kv) => this.onKick(kv.key, kv.value)),
      }, this.log);
      for (const kv of await this.kicks.start()) this.onKick(kv.key, kv.value); // stale: nothing held yet
    } catch (err) {
      await this.shutdown();
      this.state = 'idle';
      if (err instanceof RegistryUnavailableError || err instanceof RegistryAuthError) throw err;
      throw new RegistryUnavailableError(`cannot reach etcd at ${this.url}: ${(err as Error).message}`, { cause: err });
    }
  }

  async register(instance: InstanceRecord, conflict: ConflictStrategy): Promise<void> {
    const record = checkRecord(instance);
    const k = keyOf(record);
    // Held from before the write, so a lease recovery running meanwhile writes it again too.
    const prev = this.held.get(k);
    const entry: Held = prev && sameHolder(prev.record, record) ? prev : { record, online: false, modRev: '0' };
    this.held.hold(k, entry);
    const undo = (): void => {
      if (entry !== prev) this.held.restore(k, entry, prev);
    };
    let out;
    try {
      out = await this.withLease((lease) => this.writes!.register(record, conflict, lease, 'keep'));
    } catch (err) {
      undo();
      throw err;
    }
    if (out.kind === 'conflict') {
      undo();
      throw new ConflictError(`${instanceId(record.service, record.userData)} is held by ${holderOf(out.holder)}`);
    }
    Object.assign(entry, { record, online: out.online, modRev: out.modRev });
  }

  async startup(key: InstanceKey): Promise<void> {
    const held = this.held.get(keyOf(key));
    if (!held) throw new NotFoundError(`${instanceId(key.service, key.userData)} is not registered by this agent`);
    const ok = await this.withLease((lease) => this.writes!.startup(held, lease));
    if (!ok) {
      this.held.drop(keyOf(key), held);
      throw new NotFoundError(`${instanceId(key.service, key.userData)} is no longer registered by this agent`);
    }
  }

  async deregister(key: InstanceKey, reason: OfflineReason): Promise<void> {
    this.ensureOpen();
    const k = keyOf(key);
    const held = this.held.release(k);
    try {
      await this.calls!.retrying(() => this.writes!.deregister(key, reason, held?.record));
    } catch (err) {
      if (err instanceof RegistryUnavailableError || err instanceof LeaseGoneError) {
        this.held.unsentLater(key, reason);
        this.flushUnsent();
      }
      if (err instanceof LeaseGoneError) return;
      throw err;
    }
  }

  async watch(gameId: string, pattern: string, listener: (event: WatchEvent) => void): Promise<RegistryWatch> {
    this.ensureOpen();
    checkGameId(gameId);
    validatePattern(pattern);
    if (gameOf(pattern) !== gameId) throw new CrossGameError(`pattern '${pattern}' does not belong to game '${gameId}'`);
    const w = new InstanceWatch(this.calls!, gameId, pattern, listener, this.log);
    this.watches.add(w);
    try {
      const snapshot = await w.start();
      return {
        snapshot,
        close: async () => {
          w.close();
          this.watches.delete(w);
        },
      };
    } catch (err) {
      w.close();
      this.watches.delete(w);
      throw err;
    }
  }

  async verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict> {
    this.ensureOpen();
    return verifyGame(this.calls!, gameId, nonce, proof);
  }

  async close(): Promise<void> {
    if (this.state !== 'open') {
      this.state = 'closed';
      return;
    }
    this.state = 'closed';
    for (const w of this.watches) w.close();
    this.watches.clear();
    this.kicks?.close();
    const lease = this.leaseId;
    if (lease && this.writes) {
      // Tombstones first, so watchers see `closed`; the revoke then deletes them.
      await Promise.allSettled(this.held.entries().map(([, h]) => this.writes!.tombstone(h, OfflineReason.CLOSED)));
      await this.client!.leaseClient.leaseRevoke({ ID: lease }).catch(() => {});
    }
    await this.shutdown();
  }

  health(): RegistryHealth {
    const leaseHeld = this.state === 'open' && this.leaseId !== undefined;
    return { connected: leaseHeld && this.keptAlive, leaseHeld, leaseRecoveries: this.leaseRecoveries };
  }

  // --- lease ----------------------------------------------------------------

  private async grant(): Promise<void> {
    const lease = this.client!.lease(this.ttlSeconds, { autoKeepAlive: true });
    lease.on('lost', (err) => this.onLeaseLost(lease, err.message));
    lease.on('keepaliveSucceeded', () => {
      if (this.lease === lease) this.keptAlive = true;
    });
    lease.on('keepaliveFailed', () => {
      if (this.lease === lease) this.keptAlive = false;
    });
    try {
      const id = await lease.grant();
      if (this.state === 'closed') {
        await lease.revoke().catch(() => {});
        throw new ClosedError('registry closed');
      }
      this.lease = lease;
      this.leaseId = id;
      this.keptAlive = true;
    } catch (err) {
      lease.removeAllListeners();
      void lease.revoke().catch(() => {});
      throw err;
    }
  }

  private onLeaseLost(lease: Lease, why: string): void {
    if (lease !== this.lease || this.state !== 'open') return;
    const old = this.leaseId;
    this.lease = undefined;
    this.leaseId = undefined;
    this.keptAlive = false;
    this.log.warn(`registry: lease ${old} lost (${why}); granting a new one and registering ${this.held.size} instances again`);
    this.recovering = this.recover(old).finally(() => {
      this.recovering = undefined;
    });
  }

  /** A new lease, then every held instance written again on it (see the file comment). */
  private async recover(oldLease: string | undefined): Promise<void> {
    for (const backoff = new Backoff(50, this.options.maxBackoffMs); this.state === 'open';) {
      try {
        await this.grant();
        break;
      } catch (err) {
        if (this.state !== 'open') return;
        this.log.warn(`registry: lease grant failed (${(err as Error).message}); retrying`);
        await sleep(backoff.next());
      }
    }
    const lease = this.leaseId;
    if (!lease) return;
    await Promise.all(this.held.entries().map(async ([k, h]) => {
      for (const backoff = new Backoff(50, this.options.maxBackoffMs); this.state === 'open' && this.leaseId === lease && this.held.get(k) === h;) {
        try {
          const out = await this.calls!.retrying(() => this.writes!.register(h.record, 'reject', lease, h.online));
          if (this.held.get(k) !== h) return;
          if (out.kind === 'ok') {
            h.modRev = out.modRev;
            return;
          }
          this.log.warn(`registry: ${instanceId(h.record.service, h.record.userData)} was taken while our lease was lost`);
          this.held.lost(k, h, out.holder);
          return;
        } catch (err) {
          if (err instanceof LeaseGoneError) return; // lost again: the next recovery covers it
          this.log.warn(`registry: could not register ${instanceId(h.record.service, h.record.userData)} again (${(err as Error).message}); retrying`);
          await sleep(backoff.next());
        }
      }
    }));
    if (oldLease) void this.client!.leaseClient.leaseRevoke({ ID: oldLease }).catch(() => {});
    this.flushUnsent();
    if (this.leaseId !== lease) return;
    this.leaseRecoveries++;
    this.log.info(`registry: recovered on lease ${lease}`);
  }

  /** Run a write with the current lease, waiting for a recovery, and once more after finding the lease gone. */
  private async withLease<T>(fn: (lease: string) => Promise<T>): Promise<T> {
    this.ensureOpen();
    const deadline = performance.now() + this.options.requestTimeoutMs;
    for (;;) {
      const left = deadline - performance.now();
      if (left <= 0) throw new RegistryUnavailableError(`no etcd lease within ${this.options.requestTimeoutMs} ms (${this.url})`);
      if (!this.leaseId) {
        await Promise.race([this.recovering ?? sleep(50), sleep(left)]);
        this.ensureOpen();
        continue;
      }
      const lease = this.leaseId;
      try {
        return await this.calls!.retrying(() => fn(lease), left);
      } catch (err) {
        if (!(err instanceof LeaseGoneError)) throw err;
        if (this.lease && this.leaseId === lease) this.onLeaseLost(this.lease, err.message);
      }
    }
  }

  // --- kicks, unsent deregistrations ----------------------------------------

  private onKick(key: Buffer, value: Buffer): void {
    const kick = decodeJson<KickValue>(value);
    void this.client?.kv.deleteRange({ key }).catch(() => {});
    if (!kick?.instance || !kick.by || typeof kick.instance.service !== 'string') return;
    this.held.replaced(kick.instance, kick.by, this.agent.agentId); // also: replaced by another instance of this agent
  }

  private flushUnsent(): void {
    if (this.flushing || this.held.unsentCount === 0) return;
    this.flushing = (async () => {
      for (const backoff = new Backoff(100, this.options.maxBackoffMs); this.state === 'open' && this.held.unsentCount > 0;) {
        for (const [k, u] of this.held.unsentEntries()) {
          try {
            await this.calls!.retrying(() => this.writes!.deregister(u.key, u.reason, undefined));
            this.held.sent(k, u);
          } catch {
            break;
          }
        }
        if (this.held.unsentCount > 0) await sleep(backoff.next());
      }
    })().finally(() => {
      this.flushing = undefined;
    });
  }

  // --- lifecycle ------------------------------------------------------------

  private ensureOpen(): void {
    if (this.state === 'closed') throw new ClosedError('registry closed');
    if (this.state === 'idle') throw new ClosedError('registry not open: call open() first');
  }

  private async shutdown(): Promise<void> {
    for (const w of this.watches) w.close();
    this.watches.clear();
    this.kicks?.close();
    if (this.calls) this.calls.closed = true;
    const lease = this.lease;
    this.lease = undefined;
    this.leaseId = undefined;
    lease?.removeAllListeners('lost');
    lease?.release(); // stops the keepalive loop; a lease not revoked by close() expires by itself
    this.held.clear();
    this.client?.close();
  }
}

/** A clean copy of a record to register, its names checked. */
function checkRecord(r: InstanceRecord): InstanceRecord {
  const gameId = checkGameId(r.gameId);
  const service = validateService(r.service);
  if (gameOf(service) !== gameId) throw new CrossGameError(`service '${service}' does not belong to game '${gameId}'`);
  const userData = validateUserData(r.userData);
  if (typeof r.agentId !== 'string' || !r.agentId || typeof r.localId !== 'number' || !Number.isInteger(r.localId)) {
    throw new TypeError('an instance record needs an agentId and an integer localId');
  }
  const out: InstanceRecord = { gameId, service, userData, agentId: r.agentId, address: r.address ?? '', localId: r.localId, epoch: r.epoch ?? 0, online: false };
  if (r.meta) out.meta = { ...r.meta };
  return out;
}
