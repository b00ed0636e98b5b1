/**
 * NsRegistry: the Registry backend that talks to `rxmesh ns` over TCP
 * (NsMessage frames, lib/protocol/registry-messages.ts).
 *
 * Decisions, in the order they matter:
 * - open() takes a lease (HELLO) and heartbeats every ttl/3 on unref'd timers.
 *   It retries the first connection with back-off until `requestTimeoutMs`,
 *   then fails with RegistryUnavailableError.
 * - A dropped connection is redialled forever with capped exponential
 *   back-off (100 ms -> 2 s, jittered). The new connection HELLOs with the old
 *   lease id. If the lease survived, nothing is re-sent; if it was lost (name
 *   server restart, or away longer than the TTL) every instance this client
 *   still holds is registered again with `reject` and, if it was online,
 *   started up again. A ConflictError there means someone else took the
 *   instance meanwhile: it is dropped and reported through `kicked`.
 * - Every watch is re-opened after a reconnect and the listener gets only the
 *   differences between what it was last told and the new snapshot. After a
 *   name-server restart the snapshot can lag behind agents that are still
 *   re-registering, so instances missing from it are held back as suspects for
 *   `recoveryMs` (counted from the name server's start) and reported offline
 *   (`agent_lost`) only if they have not come back by then. When the lease
 *   survived, the snapshot is complete and a missing instance is reported at
 *   once (`closed`: the real reason was not seen).
 * - Requests issued while disconnected wait for the reconnect, up to
 *   `requestTimeoutMs`, then fail with RegistryUnavailableError. A request cut
 *   off by a drop is sent again after the reconnect: every ns request is
 *   idempotent.
 * - close() deregisters every held instance with reason `closed` when
 *   connected (watchers see `closed`, not `agent_lost` a TTL later), then
 *   closes the socket and stops all timers. When not connected it just stops;
 *   the lease then expires on the name server and watchers see `agent_lost`.
 * - Every answer and event is decoded (lib/protocol/ns-bodies.ts). A
 *   malformed answer fails its request with ProtocolError; a malformed event
 *   drops the connection (the event's change would be lost), which is then
 *   rebuilt like any dropped one, and the watches' new snapshots carry what
 *   the event said. An event of a type this build does not know is ignored.
 *
 * HELLO may carry `ttlMs` (the TTL asked for, like an etcd lease grant) and
 * its answer carries `resumed` and `uptimeMs` (the recovery window above).
 */
import { FramedConnection } from '../protocol/connection.js';
import { ClosedError, MeshError, RegistryUnavailableError, TimeoutError } from '../protocol/errors.js';
import {
  nsKickedEvent, nsOfflineEvent, nsOnlineEvent, type NsRequest, type NsRequests,
} from '../protocol/ns-bodies.js';
import type { TlsMaterial } from '../protocol/tls.js';
import { keyOf, NsMessage, OfflineReason, reasonFor } from '../protocol/registry-messages.js';
import { connectNs, nsHello, nsRequest, parseNsUrl, type NsAddress } from './ns-connect.js';
import { NsLink } from './ns-link.js';
import { WatchMirror } from './watch-mirror.js';
import type {
  AgentIdentity, ConflictStrategy, GameVerdict, InstanceKey, InstanceRecord, Registry, RegistryEvents, RegistryHealth, RegistryWatch, WatchEvent,
} from './registry.js';
import { toLogger, type Logger, type LogOption } from '../protocol/logger.js';
import { Backoff } from '../protocol/backoff.js';
import { HeldInstances, plainKey } from './held-instances.js';
import { recoverOn } from './ns-recovery.js';

/** How an agent reaches the name server: the mesh secret it proves, TLS, timings, logs. */
export interface NsRegistryOptions {
  /** The mesh secret this agent proves to the name server (ns-connect.ts). */
  secret: string;
  /** Dial the name server over TLS with this agent's certificate. */
  tls?: TlsMaterial | undefined;
  /** Lease TTL to ask the name server for; its default (3 s) when unset. */
  leaseTtlMs?: number;
  /** How long a request may wait, reconnects included. Default 5000 ms. */
  requestTimeoutMs?: number;
  /** Reconnect back-off bounds. Default 100 ms and 2000 ms. */
  reconnectMinMs?: number;
  reconnectMaxMs?: number;
  /** After a name-server restart, how long a watched instance may take to come back before it is reported offline. Default lease TTL + reconnectMaxMs. */
  recoveryMs?: number;
  /** Largest frame accepted from the name server (watch snapshots). Default 16 MiB. */
  maxFrame?: number;
  /** Where reconnects and refusals are reported, each with a level (a plain function gets every line). Default silent. */
  log?: LogOption;
}

type State = 'idle' | 'connecting' | 'ready' | 'closed';

/** The Registry on the embedded name server (`ns://host:port`): one connection, a lease, watches. */
export class NsRegistry implements Registry {
  readonly address: NsAddress;
  private readonly requestTimeoutMs: number;
  private readonly minBackoff: number;
  private readonly maxBackoff: number;
  private readonly log: Logger;
  private state: State = 'idle';
  private agent: AgentIdentity = { agentId: '', address: '' };
  private link: NsLink | undefined;
  private leaseId: string | undefined;
  private ttlMs = 3000;
  /** The optional features the name server and we both have (its CHALLENGE answer): `draining` says it takes that reason. */
  private caps: string[] = [];
  /** What this agent holds; deregistrations that did not reach the name server are re-sent when the lease is resumed. */
  private readonly held: HeldInstances;
  private readonly mirrors = new Set<WatchMirror>();
  private readonly waiters = new Set<() => void>();
  private sleeper: { timer: NodeJS.Timeout; wake(): void } | undefined;
  private leaseRecoveries = 0;

  constructor(url: string | NsAddress, private readonly options: NsRegistryOptions) {
    if (typeof options?.secret !== 'string' || options.secret.length === 0) throw new TypeError('NsRegistry needs the mesh secret (options.secret)');
    this.address = typeof url === 'string' ? parseNsUrl(url) : url;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 5000;
    this.minBackoff = options.reconnectMinMs ?? 100;
    this.maxBackoff = options.reconnectMaxMs ?? 2000;
    this.log = toLogger(options.log);
    this.held = new HeldInstances(this.log);
  }

  get url(): string {
    return `ns://${this.address.host.includes(':') ? `[${this.address.host}]` : this.address.host}:${this.address.port}`;
  }

  /** A method, not a comparison, so TS does not narrow `state` across awaits. */
  private isClosed(): boolean {
    return this.state === 'closed';
  }

  /** True while a connection with a live lease is up. */
  get connected(): boolean {
    return this.state === 'ready';
  }

  /** Held while connected: away from the name server the lease may be expiring there, unseen. */
  health(): RegistryHealth {
    return { connected: this.connected, leaseHeld: this.connected && this.leaseId !== undefined, leaseRecoveries: this.leaseRecoveries };
  }

  async open(agent: AgentIdentity, events: RegistryEvents): Promise<void> {
    if (this.state !== 'idle') throw new ClosedError(`registry ${this.url} is already ${this.isClosed() ? 'closed' : 'open'}`);
    this.agent = { agentId: agent.agentId, address: agent.address };
    this.held.events = events;
    this.state = 'connecting';
    const deadline = performance.now() + this.requestTimeoutMs;
    for (const backoff = new Backoff(this.minBackoff, this.maxBackoff); ;) {
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        if (this.isClosed()) throw new ClosedError('registry closed while opening');
        const retryable = !(err instanceof MeshError) || err.retryable || err instanceof ClosedError;
        const wait = backoff.next();
        if (!retryable || performance.now() + wait > deadline) {
          this.state = 'idle';
          if (err instanceof MeshError && !retryable) throw err;
          throw new RegistryUnavailableError(`cannot reach the name server at ${this.url}: ${(err as Error).message}`, { cause: err });
        }
        await this.sleep(wait);
      }
    }
  }

  async register(instance: InstanceRecord, conflict: ConflictStrategy): Promise<void> {
    const record: InstanceRecord = { ...instance, online: false };
    this.held.forgetUnsent(keyOf(instance));
    await this.call(NsMessage.REGISTER, { instance: record, conflict });
    this.held.hold(keyOf(instance), { record, online: false });
  }

  async startup(key: InstanceKey): Promise<void> {
    await this.call(NsMessage.STARTUP, { key: plainKey(key) });
    const held = this.held.get(keyOf(key));
    if (held) held.online = true;
  }

  async deregister(key: InstanceKey, reason: OfflineReason): Promise<void> {
    this.held.release(keyOf(key));
    try {
      await this.call(NsMessage.DEREGISTER, { key: plainKey(key), reason: reasonFor(reason, this.caps) });
    } catch (err) {
      // Not sent: remember it for when the lease is resumed (a lost lease needs nothing).
      if (err instanceof RegistryUnavailableError) this.held.unsentLater(key, reason);
      throw err;
    }
  }

  async watch(gameId: string, pattern: string, listener: (event: WatchEvent) => void): Promise<RegistryWatch> {
    const mirror = new WatchMirror(gameId, pattern, listener, this.log);
    for (;;) {
      const { value: res, link } = await this.callOn(NsMessage.WATCH, { gameId, pattern }, (l) => l.pendingWatches++);
      link.pendingWatches--;
      // The watch lives on the connection that answered; if that one is gone
      // already, the reconnect did not know about this watch: open it again.
      if (link !== this.link || link.conn.closed) continue;
      for (const r of res.instances) mirror.known.set(keyOf(r), r);
      this.mirrors.add(mirror);
      link.attach(res.watchId, mirror);
      return {
        snapshot: res.instances,
        close: async () => {
          if (mirror.closed) return;
          mirror.close();
          this.mirrors.delete(mirror);
          const l = this.link;
          const id = l?.idOf(mirror);
          if (!l || id === undefined) return;
          l.watches.delete(id);
          await nsRequest(l.conn, NsMessage.UNWATCH, { watchId: id }, this.requestTimeoutMs).catch(() => {});
        },
      };
    }
  }

  async verifyGame(gameId: string, nonce: Uint8Array, proof: Uint8Array): Promise<GameVerdict> {
    const { ok, known } = await this.call(NsMessage.VERIFY_GAME, { gameId, nonce, proof });
    if (ok) return 'ok';
    return known === undefined ? 'wrong_key_or_unknown_game' : known ? 'wrong_key' : 'unknown_game';
  }

  async close(): Promise<void> {
    if (this.state === 'closed') return;
    const link = this.state === 'ready' ? this.link : undefined;
    this.state = 'closed';
    this.sleeper?.wake();
    for (const wake of this.waiters) wake();
    for (const m of this.mirrors) m.close();
    this.mirrors.clear();
    if (link) {
      const timeout = Math.min(this.requestTimeoutMs, 2000);
      await Promise.allSettled(this.held.entries().map(([, h]) =>
        nsRequest(link.conn, NsMessage.DEREGISTER, { key: plainKey(h.record), reason: OfflineReason.CLOSED }, timeout)));
    }
    this.held.clear();
    this.drop(this.link, new ClosedError('registry closed'));
  }

  // --- requests -----------------------------------------------------------

  private async call<K extends NsRequest>(type: K, body: NsRequests[K]['body']): Promise<NsRequests[K]['answer']> {
    return (await this.callOn(type, body)).value;
  }

  /**
   * Send a request on the current connection, waiting for one (and retrying after a drop) until the request timeout.
   * Its answer is decoded: a malformed one fails the request with ProtocolError.
   */
  private async callOn<K extends NsRequest>(type: K, body: NsRequests[K]['body'], before?: (l: NsLink) => void): Promise<{ value: NsRequests[K]['answer']; link: NsLink }> {
    const deadline = performance.now() + this.requestTimeoutMs;
    for (;;) {
      if (this.isClosed()) throw new ClosedError('registry closed');
      if (this.state === 'idle') throw new ClosedError('registry not open: call open() first');
      const left = deadline - performance.now();
      if (left <= 0) throw new RegistryUnavailableError(`the name server at ${this.url} did not answer within ${this.requestTimeoutMs} ms`);
      const link = this.state === 'ready' ? this.link : undefined;
      if (!link) {
        await this.waitReady(left);
        continue;
      }
      before?.(link);
      try {
        return { value: await nsRequest(link.conn, type, body, Math.ceil(left)), link };
      } catch (err) {
        if (before) link.pendingWatches--;
        if (link.conn.closed && !this.isClosed()) continue; // dropped: wait for the reconnect, send again
        if (err instanceof TimeoutError) throw new RegistryUnavailableError(`the name server at ${this.url} timed out`, { cause: err });
        throw err;
      }
    }
  }

  private waitReady(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  // --- connection lifecycle -------------------------------------------------

  private async connectOnce(): Promise<void> {
    const socket = await connectNs(this.address.host, this.address.port, this.requestTimeoutMs, this.url, this.options.tls);
    let link!: NsLink; // the connection's callbacks name it; they run only after it is made
    link = new NsLink(new FramedConnection(socket, {
      onMessage: (type, body) => this.onEvent(link, type, body),
      onClose: (reason) => this.onClose(link, reason),
    }, this.options.maxFrame));
    if (this.isClosed()) {
      link.conn.close();
      throw new ClosedError('registry closed');
    }
    this.link = link;
    try {
      const hello = await nsHello(link.conn, {
        secret: this.options.secret,
        agentId: this.agent.agentId,
        address: this.agent.address,
        leaseId: this.leaseId,
        ttlMs: this.options.leaseTtlMs,
        timeoutMs: this.requestTimeoutMs,
      });
      const resumed = this.leaseId !== undefined && hello.leaseId === this.leaseId;
      const reconnect = this.leaseId !== undefined;
      this.leaseId = hello.leaseId;
      this.ttlMs = hello.ttlMs;
      this.caps = hello.caps;
      const uptime = hello.uptimeMs;
      const recovery = this.options.recoveryMs ?? this.ttlMs + this.maxBackoff;
      // Heartbeat from here on: re-registering thousands of instances may take longer than the TTL.
      link.beatEvery(Math.max(10, Math.floor(this.ttlMs / 3)), () => this.beat(link));
      await recoverOn(link, { held: this.held, mirrors: this.mirrors, caps: this.caps, timeoutMs: this.requestTimeoutMs, log: this.log }, resumed, resumed ? 0 : Math.max(0, recovery - uptime));
      if (this.isClosed() || link.conn.closed) throw new ClosedError('connection closed during recovery');
      this.state = 'ready';
      if (reconnect && !resumed) this.leaseRecoveries++;
      if (reconnect) this.log.info(`registry: reconnected to ${this.url} (lease ${resumed ? 'resumed' : 'renewed; instances registered again'})`);
      for (const wake of [...this.waiters]) wake();
    } catch (err) {
      this.drop(link, err as Error);
      throw err;
    }
  }

  /**
   * An event from the name server, decoded first (ns-bodies.ts): a malformed
   * one throws ProtocolError, and FramedConnection closes the connection with
   * it as the reason (onClose: logged, then the reconnect).
   */
  private onEvent(link: NsLink, type: number, body: unknown): undefined {
    switch (type) {
      case NsMessage.KICKED: {
        const { instance, by } = nsKickedEvent(body);
        this.held.replaced(instance, by);
        return undefined;
      }
      case NsMessage.ONLINE: {
        const { watchId, instance } = nsOnlineEvent(body);
        link.route(watchId, { kind: 'online', instance });
        return undefined;
      }
      case NsMessage.OFFLINE: {
        const { watchId, instance, reason } = nsOfflineEvent(body);
        link.route(watchId, { kind: 'offline', instance, reason });
        return undefined;
      }
      default:
        this.log.warn(`registry: ignored an event of unknown type ${type} from ${this.url}`);
        return undefined;
    }
  }

  private beat(link: NsLink): void {
    if (link.conn.closed || !this.leaseId) return;
    nsRequest(link.conn, NsMessage.HEARTBEAT, { leaseId: this.leaseId }, this.ttlMs).catch((err: Error) => {
      // Lease lost or the name server stalled: reconnect, which re-registers if needed.
      if (!link.conn.closed) this.drop(link, new ClosedError(`heartbeat failed: ${err.message}`));
    });
  }

  private onClose(link: NsLink, reason: Error | undefined): void {
    link.stopBeating();
    if (link !== this.link) return;
    this.link = undefined;
    if (this.state !== 'ready') return; // connecting: the loop that dialled handles it
    this.state = 'connecting';
    this.log.warn(`registry: lost the name server at ${this.url}${reason ? `: ${reason.message}` : ''}; reconnecting`);
    void this.reconnect();
  }

  private drop(link: NsLink | undefined, reason: Error): void {
    if (!link) return;
    link.close(reason);
    if (this.link === link) this.link = undefined;
  }

  private async reconnect(): Promise<void> {
    for (const backoff = new Backoff(this.minBackoff, this.maxBackoff); this.state === 'connecting';) {
      await this.sleep(backoff.next());
      if (this.state !== 'connecting') return;
      try {
        await this.connectOnce();
        return;
      } catch (err) {
        if (this.state === 'connecting') this.log.warn(`registry: reconnect to ${this.url} failed: ${(err as Error).message}`);
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        if (this.sleeper?.timer === timer) this.sleeper = undefined;
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.sleeper = { timer, wake };
    });
  }
}

