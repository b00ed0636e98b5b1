/**
 * The operator endpoints of a server, for Prometheus and for orchestrators'
 * probes:
 *
 *   GET /metrics   the server's own prom-client Registry (text format 0.0.4)
 *   GET /healthz   200 {ok: true}: the process runs its event loop (answering is the proof)
 *   GET /readyz    200 {ready: true, checks} when every check passes, else
 *                  503 {ready: false, failing: [names], checks}
 *
 * The agent and the name server serve them on `--metrics-port` (OpsServer);
 * the name server's HTTP view serves the same three paths (opsHandlers).
 * Like that view they are unauthenticated, so they listen on 127.0.0.1 unless
 * `--metrics-host` says otherwise, and their connections are bounded alike.
 */
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { Admission, type AdmissionOptions } from './admission.js';
import { listen, stopListening } from './listening.js';
import { BadArgumentError } from './errors.js';
import { createReadOnlyHttp, reply, replyJson } from './read-only-http.js';
import { withProcess } from './scrape-metrics.js';
import type { Logger } from './logger.js';

/** Where the endpoints listen unless told otherwise: they are unauthenticated. */
export const DEFAULT_OPS_HOST = '127.0.0.1';

/** Each readiness check by name: true when it passes. */
export type ReadinessChecks = Record<string, boolean>;

/** What the endpoints read, at each request. */
export interface OpsView {
  readonly metrics: Registry;
  readiness(): ReadinessChecks;
}

/** The three paths and their answers. */
export function opsHandlers(view: OpsView): Record<string, (res: ServerResponse) => void | Promise<void>> {
  return {
    '/healthz': (res) => replyJson(res, 200, { ok: true }),
    '/readyz': (res) => {
      const checks = view.readiness();
      const failing = Object.keys(checks).filter((k) => !checks[k]);
      replyJson(res, failing.length ? 503 : 200, failing.length ? { ready: false, failing, checks } : { ready: true, checks });
    },
    '/metrics': async (res) => {
      const all = withProcess(view.metrics);
      reply(res, 200, all.contentType, await all.metrics());
    },
  };
}

export interface OpsServerOptions {
  /** 0 picks an ephemeral port. */
  port: number;
  /** Default 127.0.0.1. */
  host?: string | undefined;
  /** Bounds on its connections (each request gets `authTimeoutMs`; nothing ever authenticates). */
  admission?: Partial<AdmissionOptions> | undefined;
  log: Logger;
}

/** The endpoints on a port of their own (`--metrics-port`). */
export class OpsServer {
  private constructor(private readonly server: Server, private readonly admission: Admission) {}

  /** @param name how its log lines start ('agent metrics') */
  static async start(name: string, view: OpsView, o: OpsServerOptions): Promise<OpsServer> {
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) throw new BadArgumentError(`metrics port ${o.port}: not a port number (0-65535; 0 picks a free one)`);
    const admission = new Admission(name, { ...o.admission, idleTimeoutMs: 0 }, o.log);
    const handlers = opsHandlers(view);
    const server = createReadOnlyHttp(name, (url, res) => {
      const handler = handlers[url.pathname];
      if (handler) return handler(res);
      replyJson(res, 404, { error: `not found: ${url.pathname} (try /metrics, /healthz, /readyz)` });
    }, o.log, admission);
    try {
      await listen(server, o.port, o.host ?? DEFAULT_OPS_HOST);
    } catch (err) {
      admission.close();
      throw err;
    }
    return new OpsServer(server, admission);
  }

  get port(): number {
    return (this.server.address() as AddressInfo | null)?.port ?? 0;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.admission.close();
    const stopped = stopListening(this.server);
    this.server.closeAllConnections();
    await stopped;
  }
}
