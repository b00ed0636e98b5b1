/**
 * A read-only HTTP server of ours (node:http): the name server's JSON view and
 * the operator endpoints (ops-http.ts). GET and HEAD only (405 otherwise).
 *
 * With an Admission, a connection gets `authTimeoutMs` for each request (from
 * connecting, or from its previous answer, to the end of the next answer),
 * the least recently used is closed when too many are open, and nothing is
 * ever "authenticated": these views are public. Node's own keep-alive timeout
 * is lowered to half that deadline, so Node closes idle keep-alive
 * connections itself and tells the client in time.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { AdmissionError, type Admission, type Ticket } from './admission.js';
import type { Logger } from './logger.js';

/** Answers one GET or HEAD request (`url` parsed); may answer later (a promise), must answer. */
export type HttpRoute = (url: URL, res: ServerResponse) => void | Promise<void>;

/** @param name how its log lines start ('ns http') */
export function createReadOnlyHttp(name: string, route: HttpRoute, log: Logger, admission?: Admission): Server {
  const tickets = new WeakMap<Socket, Ticket>();
  const failed = (req: IncomingMessage, res: ServerResponse, err: unknown): void => {
    log.error(`${name}: ${req.method} ${req.url}: ${(err as Error)?.stack ?? String(err)}`);
    if (!res.headersSent) replyJson(res, 500, { error: 'internal error' });
  };
  const server = createServer((req, res) => {
    const ticket = tickets.get(req.socket);
    ticket?.renew();
    res.once('finish', () => ticket?.renew());
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      replyJson(res, 405, { error: 'read-only: use GET' });
      return;
    }
    try {
      const answered = route(new URL(req.url ?? '/', 'http://rxmesh'), res);
      if (answered) answered.catch((err: unknown) => failed(req, res, err));
    } catch (err) {
      failed(req, res, err);
    }
  });
  if (admission) {
    server.keepAliveTimeout = Math.min(server.keepAliveTimeout, Math.floor(admission.limits.authTimeoutMs / 2));
    server.on('connection', (socket: Socket) => {
      const ticket = admission.admit(socket);
      if (ticket) tickets.set(socket, ticket);
    });
  }
  server.on('clientError', (err, socket) => {
    if (err instanceof AdmissionError) return; // its Admission logged it, rate-limited
    log.warn(`${name}: bad request: ${err.message}`);
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  return server;
}

export function replyJson(res: ServerResponse, status: number, body: unknown): void {
  reply(res, status, 'application/json; charset=utf-8', JSON.stringify(body));
}

/** Answer with `text` (no body for HEAD), never cached. */
export function reply(res: ServerResponse, status: number, contentType: string, text: string): void {
  res.writeHead(status, {
    'Content-Type': contentType,
    'Content-Length': Buffer.byteLength(text),
    'Cache-Control': 'no-store',
  });
  res.end(res.req.method === 'HEAD' ? undefined : text);
}
