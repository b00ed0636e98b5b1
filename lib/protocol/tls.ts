/**
 * TLS with mutual authentication for the name-server port and the peer links
 * (node:tls). One private CA per mesh: every agent and name server has a
 * certificate it signed, and each side of a connection requires the other's.
 *
 * Host names are not checked: agents dial each other by the address in the
 * registry (usually an IP), and who the peer is (its agent id and
 * incarnation) is proved by the mesh-secret handshake that still runs inside
 * TLS. The certificate proves membership of the mesh; the handshake binds the
 * identity. TLS 1.3 only.
 */
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect, createServer as tlsServer, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import type { Server, Socket } from 'node:net';

/** PEM contents: the mesh CA, this side's certificate and its private key. */
export interface TlsMaterial {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

export interface TlsFiles {
  ca?: string | undefined;
  cert?: string | undefined;
  key?: string | undefined;
}

/** Read the three files; none given: undefined (plain TCP); some but not all: an error naming the missing ones. */
export async function loadTls(files: TlsFiles): Promise<TlsMaterial | undefined> {
  const given = (['ca', 'cert', 'key'] as const).filter((k) => files[k]);
  if (given.length === 0) return undefined;
  if (given.length < 3) {
    const missing = (['ca', 'cert', 'key'] as const).filter((k) => !files[k]).map((k) => `--tls-${k}`);
    throw new TypeError(`TLS needs --tls-ca, --tls-cert and --tls-key together (missing ${missing.join(', ')})`);
  }
  const [ca, cert, key] = await Promise.all([readFile(files.ca!), readFile(files.cert!), readFile(files.key!)]);
  return { ca, cert, key };
}

/** A TLS server that requires a client certificate from the mesh CA; `onRefused` hears of each failed handshake and from where. */
export function createTlsServer(m: TlsMaterial, handshakeMs: number, onSecure: (socket: Socket) => void, onRefused: (err: Error, from: string) => void): Server {
  const options: TlsOptions = {
    ca: m.ca, cert: m.cert, key: m.key, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.3', handshakeTimeout: handshakeMs,
  };
  const server = tlsServer(options, (s: TLSSocket) => onSecure(s));
  const from = new WeakMap<Socket, string>(); // a socket that failed its handshake may no longer know its peer
  server.on('connection', (raw: Socket) => from.set(raw, `${raw.remoteAddress ?? '?'}:${raw.remotePort ?? '?'}`));
  server.on('tlsClientError', (err: Error, s: TLSSocket) => {
    const raw = (s as TLSSocket & { _parent?: Socket })._parent;
    onRefused(err, s.remoteAddress ? `${s.remoteAddress}:${s.remotePort}` : (raw && from.get(raw)) ?? '?');
  });
  return server;
}

/** Dial a TLS server with this side's certificate; the server's must come from the mesh CA. */
export function connectTls(m: TlsMaterial, host: string, port: number): TLSSocket {
  const options: ConnectionOptions = {
    host, port, ca: m.ca, cert: m.cert, key: m.key, minVersion: 'TLSv1.3', checkServerIdentity: () => undefined,
    ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
  };
  return tlsConnect(options);
}
