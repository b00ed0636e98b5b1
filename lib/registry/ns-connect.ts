/**
 * Opening an agent's connection to the name server: dial (plain TCP or TLS
 * with this agent's certificate) and authenticate (name-server protocol 2,
 * lib/protocol/ns-auth.ts): CHALLENGE, then HELLO with the agent's proof; the
 * answer must carry the name server's proof, else the name server does not
 * hold the mesh secret and nothing it says is believed.
 */
import { connect as dial, type Socket } from 'node:net';
import type { FramedConnection } from '../protocol/connection.js';
import { AuthError, ProtocolError, RegistryUnavailableError } from '../protocol/errors.js';
import { agentKey, helloProof, NS_NONCE_BYTES, nsNonce, sameProof, welcomeProof } from '../protocol/ns-auth.js';
import { NsMessage } from '../protocol/registry-messages.js';
import { connectTls, type TlsMaterial } from '../protocol/tls.js';
import { agreeVersion, NS_PROTOCOL, versionFields } from '../protocol/versions.js';

export interface NsHelloRequest {
  secret: string;
  agentId: string;
  address: string;
  leaseId: string | undefined;
  ttlMs: number | undefined;
  timeoutMs: number;
}

export interface NsHelloAnswer {
  leaseId: string;
  ttlMs: number;
  /** The name server's uptime (ns-registry.ts: the recovery window after its restart). */
  uptimeMs: number;
}

/** CHALLENGE + HELLO on a fresh connection; AuthError when either side's proof fails. */
export async function nsHello(conn: FramedConnection, r: NsHelloRequest): Promise<NsHelloAnswer> {
  const challenge = asMap(await conn.request(NsMessage.CHALLENGE, versionFields(NS_PROTOCOL), r.timeoutMs));
  agreeVersion('name server', NS_PROTOCOL, challenge);
  const serverNonce = challenge.nonce;
  if (!(serverNonce instanceof Uint8Array) || serverNonce.length !== NS_NONCE_BYTES) throw new ProtocolError('malformed CHALLENGE answer');
  const key = agentKey(r.secret, r.agentId);
  const nonce = nsNonce();
  const hello = asMap(await conn.request(NsMessage.HELLO, {
    agentId: r.agentId,
    address: r.address,
    ...(r.leaseId ? { leaseId: r.leaseId } : {}),
    ...(r.ttlMs ? { ttlMs: r.ttlMs } : {}),
    nonce,
    proof: helloProof(key, serverNonce, nonce, { agentId: r.agentId, address: r.address, leaseId: r.leaseId }),
  }, r.timeoutMs));
  if (typeof hello.leaseId !== 'string' || typeof hello.ttlMs !== 'number') throw new ProtocolError('malformed HELLO answer');
  if (!sameProof(welcomeProof(key, nonce, serverNonce, r.agentId, hello.leaseId), hello.proof)) {
    throw new AuthError('the name server failed the mesh-secret proof (it does not hold this mesh\'s secret)');
  }
  return { leaseId: hello.leaseId, ttlMs: hello.ttlMs, uptimeMs: typeof hello.uptimeMs === 'number' ? hello.uptimeMs : 0 };
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

export const asMap = (x: unknown): Record<string, unknown> =>
  typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {};
