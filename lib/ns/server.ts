/**
 * `rxmesh ns`: the name server. A TCP port where agents speak the NsMessage
 * protocol (lib/protocol/registry-messages.ts) and a read-only HTTP port.
 * Everything is in memory: after a restart the agents re-register.
 *
 *   const ns = await NameServer.start({ port: 9092, httpPort: 8082, secret, games: { g: 'key' } });
 *
 * Agents must prove the mesh secret (ns-auth.ts) before anything is served;
 * with `tls` the agent port takes only TLS connections with a client
 * certificate of the mesh CA (tls.ts).
 *   ns.port; ns.httpPort; await ns.close();
 *
 * Each port has an Admission (lib/protocol/admission.ts). An agent connection
 * counts as authenticated once its HELLO took a lease; one that then sends
 * nothing for `idleTimeoutMs` is closed (default 60 s, or the default lease
 * TTL if longer: agents heartbeat every TTL/3). An HTTP connection gets
 * `authTimeoutMs` for each request and is never authenticated (the view is
 * public).
 *
 * Operators: `/metrics` (metrics.ts), `/healthz` and `/readyz` on the HTTP
 * view, and on a port of their own with `metricsPort` (ops-http.ts).
 */
import { createServer, type Server, type Socket } from 'node:net';
import type { Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { Admission, DEFAULT_ADMISSION, type AdmissionOptions, type AdmissionStats } from '../protocol/admission.js';
import { listen, stopListening } from '../protocol/listening.js';
import { OpsServer, type ReadinessChecks } from '../protocol/ops-http.js';
import { FAILED_AUTH_LIMIT, RateLimiter } from '../protocol/rate-limit.js';
import { stderrLogger, toLogger, type Logger, type LogOption } from '../protocol/logger.js';
import { ThrottledLog } from '../protocol/throttled-log.js';
import { createTlsServer, type TlsMaterial } from '../protocol/tls.js';
import { ClosedError } from '../protocol/errors.js';
import type { NsKickedEvent } from '../protocol/ns-bodies.js';
import { NsMessage, OfflineReason, type InstanceRecord } from '../protocol/registry-messages.js';
import { GameAuth, type GameKeys } from './games.js';
import { createHttpView, type AgentSummary } from './http.js';
import { DEFAULT_LEASE_TTL_MS, LeaseTable, type Lease } from './leases.js';
import { nsMetrics } from './metrics.js';
import { RegistryStore } from './registry-store.js';
import { NsSession } from './session.js';

export const DEFAULT_NS_PORT = 9092;
export const DEFAULT_NS_HTTP_PORT = 8082;
/** Agent requests are small; a snapshot answer may be large, but that is the agent's limit. */
export const NS_MAX_REQUEST_FRAME = 1024 * 1024;
/** An agent connection silent this long is closed: three missed heartbeats at the longest lease TTL (60 s / 3). */
export const NS_IDLE_TIMEOUT_MS = 60_000;
/**
 * Wrong game proofs one agent may pass on for one game: 100 at once (a fleet
 * of apps restarted with a stale key must not lock the game out at once),
 * then 5 a second: about 430,000 guesses a day, against 2,540 a second before.
 */
const GAME_GUESSES = { burst: 100, perSecond: 5 };

/** How a name server listens, which games it knows and what it asks of agents. */
export interface NameServerOptions {
  /** Interface to listen on (TCP and HTTP). Default 127.0.0.1. */
  host?: string;
  /** Agent port; 0 picks an ephemeral one. Default 9092. */
  port?: number;
  /** HTTP port; 0 picks an ephemeral one, null serves no HTTP. Default 8082. */
  httpPort?: number | null;
  /** Interface of the HTTP view. Default 127.0.0.1 whatever `host` is: the view is unauthenticated and shows every instance. */
  httpHost?: string;
  /** `gameId -> key` (see loadGames). */
  games?: GameKeys;
  /** The mesh secret every agent must prove (required). */
  secret: string;
  /** Serve the agent port over TLS with mutual authentication. */
  tls?: TlsMaterial | undefined;
  /** Lease TTL for agents that do not ask for one. Default 3000 ms. */
  leaseTtlMs?: number;
  /** Largest request frame accepted. Default 1 MiB. */
  maxFrame?: number;
  /** Where connection closes, protocol violations and lease expiries are reported, each with a level (a plain function gets every line). Default stderr, all but debug. */
  log?: LogOption;
  /** Bounds on connections of both ports (admission.ts); `idleTimeoutMs` defaults to NS_IDLE_TIMEOUT_MS. */
  admission?: Partial<AdmissionOptions>;
  /** Serve /metrics, /healthz and /readyz on this port too (0: an ephemeral one); the HTTP view serves them anyway. */
  metricsPort?: number | undefined;
  /** Interface of the metrics port. Default 127.0.0.1: it is unauthenticated. */
  metricsHost?: string | undefined;
}

/** Connection counts and what the bounds closed, per port (also GET /v1/connections). */
export interface NsConnectionStats {
  tcp: AdmissionStats;
  http: AdmissionStats | null;
}

/** The embedded name server (`rxmesh ns`): the registry agents lease, watch and verify games with. Made by `NameServer.start`. */
export class NameServer {
  private readonly store: RegistryStore;
  private readonly leases: LeaseTable;
  private readonly sessions = new Set<NsSession>();
  private readonly tcp: Server;
  private readonly http: HttpServer | undefined;
  private readonly tcpAdmission: Admission;
  private readonly httpAdmission: Admission;
  private readonly startedAt = performance.now();
  /** Lines strangers can cause (refused handshakes, failed proofs), at most one per kind every 10 s. */
  private readonly refusals: ThrottledLog;
  private closing: Promise<void> | undefined;
  /** This name server's Prometheus metrics (its own registry). */
  readonly metrics: Registry;
  private ops: OpsServer | undefined;
  private leaseExpiries = 0;

  private constructor(private readonly opts: Required<Omit<NameServerOptions, 'games' | 'httpPort' | 'tls' | 'log' | 'metricsPort' | 'metricsHost'>> & { games: GameKeys; httpPort: number | null; tls: TlsMaterial | undefined; log: Logger }) {
    const log = opts.log;
    this.refusals = new ThrottledLog(log);
    // never below the default TTL: an agent heartbeats every TTL/3
    const bounds = { ...opts.admission, idleTimeoutMs: opts.admission.idleTimeoutMs ?? Math.max(NS_IDLE_TIMEOUT_MS, opts.leaseTtlMs) };
    this.tcpAdmission = new Admission('ns tcp', bounds, log);
    this.httpAdmission = new Admission('ns http', { ...bounds, idleTimeoutMs: 0 }, log); // never authenticated: only the deadline
    this.store = new RegistryStore((leaseId, instance, by) => this.kick(leaseId, instance, by));
    this.leases = new LeaseTable(opts.leaseTtlMs, (lease) => this.expire(lease));
    const auth = new GameAuth(opts.games);
    const ctx = {
      store: this.store,
      leases: this.leases,
      auth,
      secret: opts.secret,
      refusals: this.refusals,
      authFailures: new RateLimiter(FAILED_AUTH_LIMIT, (host) => log.warn(`ns: ${host}: too many failed agent authentications; refusing it for a while`, { peer: host })),
      gameGuesses: new RateLimiter(GAME_GUESSES, (key) => {
        const [agent, game] = key.split('\0');
        log.warn(`ns: agent '${agent}': too many wrong keys for game '${game}'; its game checks are refused for a while`, { agentId: agent, gameId: game });
      }),
      startedAt: this.startedAt,
      log,
      closed: (s: NsSession) => this.sessions.delete(s),
    };
    const accept = (socket: Socket): void => {
      if (this.closing) {
        socket.destroy();
        return;
      }
      const ticket = this.tcpAdmission.admit(socket);
      if (ticket) this.sessions.add(new NsSession(socket, ctx, opts.maxFrame, ticket));
    };
    this.tcp = opts.tls
      ? createTlsServer(opts.tls, bounds.authTimeoutMs ?? DEFAULT_ADMISSION.authTimeoutMs, accept,
        (err, from) => this.refusals.say('refused TLS handshakes', `ns: ${from}: TLS handshake failed: ${err.message}`))
      : createServer(accept);
    this.tcp.on('error', (err) => log.error(`ns: server error: ${err.message}`));
    this.metrics = nsMetrics({
      services: () => this.store.services(),
      agents: () => this.agents(),
      connections: () => ({ ...this.connections() }),
      games: () => auth.ids.length,
      watches: () => this.store.watchCount,
      leaseExpiries: () => this.leaseExpiries,
    });
    this.http = opts.httpPort === null ? undefined : createHttpView({
      services: () => this.store.services(),
      instances: (service) => this.store.instances(service),
      agents: () => this.agents(),
      connections: () => this.connections(),
    }, this, log, this.httpAdmission);
  }

  /** Start listening on both ports; resolves once both are bound. */
  static async start(options: NameServerOptions): Promise<NameServer> {
    if (typeof options?.secret !== 'string' || options.secret.length === 0) {
      throw new TypeError('the name server needs the mesh secret agents prove (option secret; rxmesh ns: --mesh-secret-file or RXMESH_MESH_SECRET)');
    }
    const ns = new NameServer({
      secret: options.secret,
      tls: options.tls,
      host: options.host ?? '127.0.0.1',
      port: options.port ?? DEFAULT_NS_PORT,
      httpPort: options.httpPort === undefined ? DEFAULT_NS_HTTP_PORT : options.httpPort,
      httpHost: options.httpHost ?? '127.0.0.1',
      games: options.games ?? {},
      leaseTtlMs: options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS,
      maxFrame: options.maxFrame ?? NS_MAX_REQUEST_FRAME,
      log: toLogger(options.log, stderrLogger('')),
      admission: options.admission ?? {},
    });
    try {
      await listen(ns.tcp, ns.opts.port, ns.opts.host);
      if (ns.http && ns.opts.httpPort !== null) await listen(ns.http, ns.opts.httpPort, ns.opts.httpHost);
      if (options.metricsPort !== undefined) {
        ns.ops = await OpsServer.start('ns metrics', ns, { port: options.metricsPort, host: options.metricsHost, admission: ns.opts.admission, log: ns.opts.log });
      }
    } catch (err) {
      await ns.close();
      throw err;
    }
    return ns;
  }

  /** The agent (TCP) port. */
  get port(): number {
    return (this.tcp.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The HTTP port (0 when HTTP is off). */
  get httpPort(): number {
    return (this.http?.address() as AddressInfo | null)?.port ?? 0;
  }

  /** The metrics port (0 without one). */
  get metricsPort(): number {
    return this.ops?.port ?? 0;
  }

  /** What /readyz checks: the agent port listens (and is not closing), and there are game keys to check apps against. */
  readiness(): ReadinessChecks {
    return { listening: this.tcp.listening && !this.closing, games: Object.keys(this.opts.games).length > 0 };
  }

  /** Connections open on each port and what the bounds closed. */
  connections(): NsConnectionStats {
    return { tcp: this.tcpAdmission.stats(), http: this.http ? this.httpAdmission.stats() : null };
  }

  /** Stop listening, drop every connection and forget all state. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.leases.close();
      this.refusals.close();
      this.tcpAdmission.close();
      this.httpAdmission.close();
      const tcpClosed = stopListening(this.tcp);
      for (const s of [...this.sessions]) s.close(new ClosedError('name server shutting down'));
      this.http?.closeAllConnections();
      await Promise.all([tcpClosed, this.http ? stopListening(this.http) : undefined, this.ops?.close()]);
    })();
    return this.closing;
  }

  private agents(): AgentSummary[] {
    const now = performance.now();
    return this.leases.list()
      .map((l) => ({
        agentId: l.agentId,
        address: l.address,
        connected: l.link !== undefined,
        ttlMs: l.ttlMs,
        expiresInMs: Math.max(0, Math.round(l.deadline - now)),
        instances: this.store.countOf(l.id),
      }))
      .sort((a, b) => a.agentId.localeCompare(b.agentId));
  }

  private kick(leaseId: string, instance: InstanceRecord, by: InstanceRecord): void {
    const lease = this.leases.get(leaseId);
    if (!lease) return;
    const kicked = { instance, by } satisfies NsKickedEvent;
    if (!lease.link?.send(NsMessage.KICKED, kicked)) this.leases.hold(lease, NsMessage.KICKED, kicked);
  }

  private expire(lease: Lease): void {
    this.leaseExpiries++;
    const n = this.store.dropLease(lease.id, OfflineReason.AGENT_LOST);
    this.opts.log.warn(`ns: lease of agent '${lease.agentId}' expired; ${n} instance(s) went offline`, { agentId: lease.agentId, instances: n });
    // A connected agent that let its lease lapse (a stalled event loop) is
    // cut off: it reconnects, gets a new lease and registers again.
    lease.link?.close(new ClosedError('lease expired'));
  }
}
