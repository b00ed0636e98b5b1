/**
 * Opening an agent's connection to the name server: dial (plain TCP or TLS
 * with this agent's certificate) and authenticate (name-server protocol 2,
 * lib/protocol/ns-auth.ts): CHALLENGE, then HELLO with the agent's proof; the
 * answer must carry the name server's proof, else the name server does not
 * hold the mesh secret and nothing it says is believed.
 */
import { connect as dial, type Socket } from 'node:net';
import type { FramedConnection } from '../protocol/connection.js';
import { AuthError, RegistryUnavailableError } from '../protocol/errors.js';
import { agentKey, helloProof, nsNonce, sameProof, welcomeProof } from '../protocol/ns-auth.js';
import { NS_ANSWERS, type NsHelloAnswer, type NsRequest, type NsRequests } from '../protocol/ns-bodies.js';
import { NsMessage } from '../protocol/registry-messages.js';
import { connectTls, type TlsMaterial } from '../protocol/tls.js';
import { agreeVersion, NS_PROTOCOL, versionFields } from '../protocol/versions.js';

/** Who the agent is to the name server, and the lease it had. */
export interface NsHelloOptions {
  secret: string;
  agentId: string;
  address: string;
  leaseId: string | undefined;
  ttlMs: number | undefined;
  timeoutMs: number;
}

/**
 * A request to the name server; its answer decoded (ns-bodies.ts): a malformed
 * one rejects with ProtocolError, and the connection stays.
 */
export function nsRequest<K extends NsRequest>(conn: FramedConnection, type: K, body: NsRequests[K]['body'], timeoutMs: number): Promise<NsRequests[K]['answer']> {
  return conn.request(type, body, timeoutMs).then(NS_ANSWERS[type]);
}

/** CHALLENGE + HELLO on a fresh connection (with the capabilities both sides have); AuthError when either side's proof fails. */
export async function nsHello(conn: FramedConnection, r: NsHelloOptions): Promise<NsHelloAnswer & { caps: string[] }> {
  const challenge = await nsRequest(conn, NsMessage.CHALLENGE, versionFields(NS_PROTOCOL), r.timeoutMs);
  agreeVersion('name server', NS_PROTOCOL, challenge);
  const key = agentKey(r.secret, r.agentId);
  const nonce = nsNonce();
  const hello = await nsRequest(conn, NsMessage.HELLO, {
    agentId: r.agentId,
    address: r.address,
    ...(r.leaseId ? { leaseId: r.leaseId } : {}),
    ...(r.ttlMs ? { ttlMs: r.ttlMs } : {}),
    nonce,
    proof: helloProof(key, challenge.nonce, nonce, { agentId: r.agentId, address: r.address, leaseId: r.leaseId }),
  }, r.timeoutMs);
  if (!sameProof(welcomeProof(key, nonce, challenge.nonce, r.agentId, hello.leaseId), hello.proof)) {
    throw new AuthError('the name server failed the mesh-secret proof (it does not hold this mesh\'s secret)');
  }
  return { ...hello, caps: challenge.caps ?? [] };
}

/** A connected socket to the name server (TLS when `tls` is given), or RegistryUnavailableError. */
export function connectNs(host: string, port: number, timeoutMs: number, url: string, tls?: TlsMaterial): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tls ? connectTls(tls, host, port) : dial({ host, port });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new RegistryUnavailableError(`connecting to ${url} timed out`));
    }, timeoutMs);
    timer.unref();
    // Stays attached: a late error after resolve is harmless here (FramedConnection handles it).
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(new RegistryUnavailableError(`cannot connect to ${url}${tls ? ' (TLS)' : ''}: ${err.message}`, { cause: err }));
    });
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      clearTimeout(timer);
      resolve(socket);
    });
  });
}

export const DEFAULT_NS_REGISTRY_PORT = 9092;

/** A name server's host and port, and whether it speaks TLS (`ns://` or `nss://`). */
export interface NsAddress {
  host: string;
  port: number;
}

/** Parse `ns://host:port` (port defaults to 9092; IPv6 as `ns://[::1]:9092`). */
export function parseNsUrl(url: string): NsAddress {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new TypeError(`'${url}' is not a name-server URL (ns://host:port)`);
  }
  if (u.protocol !== 'ns:' || !u.hostname || u.pathname.replace(/^\/$/, '') !== '' || u.search || u.username) {
    throw new TypeError(`'${url}' is not a name-server URL (ns://host:port)`);
  }
  const port = u.port ? Number(u.port) : DEFAULT_NS_REGISTRY_PORT;
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}
