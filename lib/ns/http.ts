/**
 * The name server's read-only HTTP view (read-only-http.ts), JSON only:
 *
 *   GET /healthz                      200 {ok: true}
 *   GET /readyz                       200 when it can serve agents, else 503 naming the failing checks (ops-http.ts)
 *   GET /metrics                      Prometheus text format (lib/ns/metrics.ts)
 *   GET /v1/services                  [{gameId, service, instances, online}]
 *   GET /v1/instances[?service=name]  [InstanceRecord]
 *   GET /v1/agents                    [{agentId, address, connected, ttlMs, expiresInMs, instances}]
 *   GET /v1/connections               {tcp, http}: open, pending, bufferedBytes, limits, closed by each bound
 *
 * Anything else is 404 (405 for a method other than GET/HEAD). It never shows
 * game keys or lease ids (a lease id is enough to resume someone's lease).
 * Connections are bounded by an Admission as read-only-http.ts says.
 */
import type { Server, ServerResponse } from 'node:http';
import type { Admission } from '../protocol/admission.js';
import type { MeshError } from '../protocol/errors.js';
import { validateService } from '../protocol/names.js';
import { opsHandlers, type OpsView } from '../protocol/ops-http.js';
import { createReadOnlyHttp, replyJson } from '../protocol/read-only-http.js';
import type { InstanceRecord } from '../protocol/registry-messages.js';
import type { ServiceSummary } from './registry-store.js';
import type { Logger } from '../protocol/logger.js';

export interface AgentSummary {
  agentId: string;
  address: string;
  connected: boolean;
  ttlMs: number;
  expiresInMs: number;
  instances: number;
}

/** What the HTTP view reads; nothing more. */
export interface NsView {
  services(): ServiceSummary[];
  instances(service?: string): InstanceRecord[];
  agents(): AgentSummary[];
  connections(): unknown;
}

export function createHttpView(view: NsView, ops: OpsView, log: Logger, admission?: Admission): Server {
  const handlers = opsHandlers(ops);
  return createReadOnlyHttp('ns http', (url, res) => {
    const op = handlers[url.pathname];
    return op ? op(res) : route(view, url, res);
  }, log, admission);
}

function route(view: NsView, url: URL, res: ServerResponse): void {
  switch (url.pathname) {
    case '/v1/services':
      replyJson(res, 200, view.services());
      return;
    case '/v1/instances': {
      const service = url.searchParams.get('service') ?? undefined;
      if (service !== undefined) {
        try {
          validateService(service);
        } catch (err) {
          replyJson(res, 400, { error: (err as MeshError).message });
          return;
        }
      }
      replyJson(res, 200, view.instances(service));
      return;
    }
    case '/v1/agents':
      replyJson(res, 200, view.agents());
      return;
    case '/v1/connections':
      replyJson(res, 200, view.connections());
      return;
    default:
      replyJson(res, 404, { error: `not found: ${url.pathname}` });
  }
}
