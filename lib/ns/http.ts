/**
 * The name server's read-only HTTP view (node:http), JSON only:
 *
 *   GET /healthz                      200 {ok: true}
 *   GET /v1/services                  [{gameId, service, instances, online}]
 *   GET /v1/instances[?service=name]  [InstanceRecord]
 *   GET /v1/agents                    [{agentId, address, connected, ttlMs, expiresInMs, instances}]
 *   GET /v1/connections               {tcp, http}: open, pending, bufferedBytes, limits, closed by each bound
 *
 * Anything else is 404 (405 for a method other than GET/HEAD). It never shows
 * game keys or lease ids (a lease id is enough to resume someone's lease).
 * With an Admission, a connection gets `authTimeoutMs` for each request (from
 * connecting, or from its previous answer, to the end of the next answer),
 * the least recently used is closed when too many are open, and nothing is
 * ever "authenticated": the view is public.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AdmissionError, type Admission, type Ticket } from '../protocol/admission.js';
import type { MeshError } from '../protocol/errors.js';
import type { Logger } from '../protocol/logger.js';
import { validateService } from '../protocol/names.js';
import type { InstanceRecord } from '../protocol/registry-messages.js';
import type { ServiceSummary } from './registry-store.js';

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

export function createHttpView(view: NsView, log: Logger, admission?: Admission): Server {
  const tickets = new WeakMap<Socket, Ticket>();
  const server = createServer((req, res) => {
    const ticket = tickets.get(req.socket);
    ticket?.renew();
    res.once('finish', () => ticket?.renew());
    try {
      route(view, req, res);
    } catch (err) {
      log.error(`ns http: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      reply(res, 500, { error: 'internal error' });
    }
  });
  if (admission) {
    // Node closes an idle keep-alive connection itself (and tells the client when) before the deadline would
    server.keepAliveTimeout = Math.min(server.keepAliveTimeout, Math.floor(admission.limits.authTimeoutMs / 2));
    server.on('connection', (socket: Socket) => {
      const ticket = admission.admit(socket);
      if (ticket) tickets.set(socket, ticket);
    });
  }
  server.on('clientError', (err, socket) => {
    if (err instanceof AdmissionError) return; // its Admission logged it, rate-limited
    log.warn(`ns http: bad request: ${err.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

function route(view: NsView, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://ns');
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('Allow', 'GET, HEAD');
    reply(res, 405, { error: 'read-only: use GET' });
    return;
  }
  switch (url.pathname) {
    case '/healthz':
      reply(res, 200, { ok: true });
      return;
    case '/v1/services':
      reply(res, 200, view.services());
      return;
    case '/v1/instances': {
      const service = url.searchParams.get('service') ?? undefined;
      if (service !== undefined) {
        try {
          validateService(service);
        } catch (err) {
          reply(res, 400, { error: (err as MeshError).message });
          return;
        }
      }
      reply(res, 200, view.instances(service));
      return;
    }
    case '/v1/agents':
      reply(res, 200, view.agents());
      return;
    case '/v1/connections':
      reply(res, 200, view.connections());
      return;
    default:
      reply(res, 404, { error: `not found: ${url.pathname}` });
  }
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
