/**
 * Name-server helpers for specs: start a NameServer on ephemeral ports with
 * its log captured, talk raw frames to it, collect watch events, and run an
 * NsRegistry agent in a child process (process.ts SIGKILLs those on exit,
 * even when a spec fails).
 */
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { FramedConnection } from '../../lib/protocol/connection.js';
import { agentKey, helloProof, nsNonce } from '../../lib/protocol/ns-auth.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { NameServer, type NameServerOptions } from '../../lib/ns/server.js';
import type { WatchEvent } from '../../lib/registry/registry.js';
import { startFixture, type Fixture } from './process.js';
import { waitFor } from './wait.js';

export interface NsHandle {
  ns: NameServer;
  /** Every line the name server logged. */
  logs: string[];
  url: string;
  close(): Promise<void>;
}

/** The mesh secret of the in-process name servers and registries of the specs. */
export const NS_SECRET = 'spec-ns-secret';

/** A name server on 127.0.0.1 with ephemeral ports (unless given), the spec secret and a captured log. */
export async function startNsInProcess(options: Partial<NameServerOptions> = {}): Promise<NsHandle> {
  const logs: string[] = [];
  const ns = await NameServer.start({
    host: '127.0.0.1',
    port: 0,
    httpPort: 0,
    secret: NS_SECRET,
    ...options,
    log: (msg) => {
      logs.push(msg);
      if (process.env.RXMESH_SPEC_LOG) process.stderr.write(`${msg}\n`);
    },
  });
  return { ns, logs, url: `ns://127.0.0.1:${ns.port}`, close: () => ns.close() };
}

/** Collects watch events; `next` waits for the first not yet taken that matches. */
export class EventLog {
  readonly events: WatchEvent[] = [];
  private taken = 0;
  readonly listener = (e: WatchEvent): void => {
    this.events.push(e);
  };

  async next(pred: (e: WatchEvent) => boolean = () => true, what = 'a watch event', timeoutMs = 3000): Promise<WatchEvent> {
    const found = await waitFor(() => {
      for (let i = this.taken; i < this.events.length; i++) if (pred(this.events[i]!)) return { i };
      return undefined;
    }, what, timeoutMs);
    this.taken = found.i + 1;
    return this.events[found.i]!;
  }

  /** Wait until some event (taken or not, in any order) matches. */
  seen(pred: (e: WatchEvent) => boolean, what = 'a watch event', timeoutMs = 3000): Promise<WatchEvent> {
    return waitFor(() => this.events.find(pred), what, timeoutMs);
  }

  /** Events concerning one userData. */
  about(userData: string): WatchEvent[] {
    return this.events.filter((e) => e.instance.userData === userData);
  }
}

/** A plain TCP socket to a port (for feeding garbage). */
export function rawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      s.on('error', () => {}); // resets are expected when the server drops us
      resolve(s);
    });
  });
}

/** Resolves when the socket is closed (by either side); fails after `timeoutMs`. */
export function closedWithin(socket: Socket, timeoutMs = 3000): Promise<void> {
  if (socket.destroyed) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume(); // drain whatever the server answers so 'end' can arrive
  });
}

/** The HELLO body that answers CHALLENGE nonce `serverNonce` for `agentId` with `secret` (what an agent sends). */
export function helloBody(serverNonce: Uint8Array, agentId: string, address: string, extra: { leaseId?: string; ttlMs?: number } = {}, secret = NS_SECRET): Record<string, unknown> {
  const nonce = nsNonce();
  const proof = helloProof(agentKey(secret, agentId), serverNonce, nonce, { agentId, address, leaseId: extra.leaseId });
  return { agentId, address, ...extra, nonce, proof };
}

export interface HelloAnswer {
  leaseId: string;
  ttlMs: number;
  resumed: boolean;
  v: number;
}

/** CHALLENGE then HELLO on a raw connection, as an agent with `secret` does. */
export async function authenticate(conn: FramedConnection, agentId: string, address: string, extra: { leaseId?: string; ttlMs?: number } = {}, secret = NS_SECRET): Promise<HelloAnswer> {
  const { nonce } = await conn.request<{ nonce: Uint8Array }>(NsMessage.CHALLENGE, versionFields(NS_PROTOCOL));
  return conn.request<HelloAnswer>(NsMessage.HELLO, helloBody(nonce, agentId, address, extra, secret));
}

/** A raw connection that authenticated as agent `agentId` (with the spec secret unless given). */
export async function rawAgent(port: number, agentId: string, address = '', extra: { leaseId?: string; ttlMs?: number } = {}, secret = NS_SECRET): Promise<{ conn: FramedConnection; events: Array<{ type: number; body: unknown }>; hello: HelloAnswer }> {
  const c = await rawClient(port);
  return { ...c, hello: await authenticate(c.conn, agentId, address, extra, secret) };
}

/** A raw FramedConnection to the name server; events (id 0) are collected in `events`. */
export async function rawClient(port: number): Promise<{ conn: FramedConnection; events: Array<{ type: number; body: unknown }> }> {
  const socket = await rawSocket(port);
  const events: Array<{ type: number; body: unknown }> = [];
  const conn = new FramedConnection(socket, { onMessage: (type, body) => void events.push({ type, body }) });
  return { conn, events };
}

/** GET a path on the HTTP port; the body parsed as JSON. */
export function httpGet(port: number, path: string, method = 'GET'): Promise<{ status: number; body: unknown; type: string }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined, type: String(res.headers['content-type']) });
      });
    });
    req.on('error', reject);
  });
}

// --- child agents -------------------------------------------------------------

export interface ChildAgent {
  fixture: Fixture;
  /** SIGKILL it and wait until it is reaped. */
  kill(): Promise<void>;
}

/**
 * Run an NsRegistry agent in its own process (spec/helpers/ns-agent-child.ts,
 * through the shared process helper, so it never outlives the spec): it
 * registers and starts up `service/userData`, then heartbeats until killed.
 * Resolves once the instance is online.
 */
export async function spawnAgent(url: string, agentId: string, service: string, userData: string, leaseTtlMs: number): Promise<ChildAgent> {
  const fixture = startFixture(CHILD, [url, agentId, service, userData, String(leaseTtlMs)]);
  running.add(fixture);
  const forget = (): void => void running.delete(fixture);
  fixture.exited.then(forget, forget);
  await fixture.waitFor('ready\n');
  return { fixture, kill: async () => void (await fixture.kill()) };
}

/** SIGKILL every child agent still running and wait for them. */
export async function killChildren(): Promise<void> {
  await Promise.all([...running].map((f) => f.kill()));
}

const CHILD = fileURLToPath(new URL('./ns-agent-child.ts', import.meta.url));
const running = new Set<Fixture>();
