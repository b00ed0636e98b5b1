/**
 * The name server's read-only HTTP view (node:http), JSON only:
 *
 *   GET /healthz                      200 {ok: true}
 *   GET /v1/services                  [{gameId, service, instances, online}]
 *   GET /v1/instances[?service=name]  [InstanceRecord]
 *   GET /v1/agents                    [{agentId, address, connected, ttlMs, expiresInMs, instances}]
 *
 * Anything else is 404 (405 for a method other than GET/HEAD). It never shows
 * game keys or lease ids (a lease id is enough to resume someone's lease).
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { MeshError } from '../protocol/errors.js';
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
}

export function createHttpView(view: NsView, log: (msg: string) => void): Server {
  const server = createServer((req, res) => {
    try {
      route(view, req, res);
    } catch (err) {
      log(`ns http: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
      reply(res, 500, { error: 'internal error' });
    }
  });
  server.on('clientError', (err, socket) => {
    log(`ns http: bad request: ${err.message}`);
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
