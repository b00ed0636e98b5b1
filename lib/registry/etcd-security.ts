/**
 * How the agent proves itself to etcd, and what it trusts etcd with:
 * - `auth`: an etcd user and password (etcd's own auth; the user's roles
 *   decide which key prefixes it may read and write);
 * - `tls`: PEM contents for `etcds://` URLs: `ca` the trust anchor for the
 *   servers' certificates (without it, the CAs Node trusts by default),
 *   `cert` + `key` the client certificate etcd's `--client-cert-auth` asks for.
 *
 * Also: checking the two against the URL, the etcd3 client options they
 * become, and reading them from files (the CLI's flags). No message here
 * ever carries a password or key. Loads nothing of etcd3 (types only): the
 * CLI reads the flags before it knows whether etcd3 is installed
 * (etcd-load.ts).
 */
import { readFileSync } from 'node:fs';
import type { IOptions } from 'etcd3';
import { GAMES, INSTANCES, KICKS } from './etcd-keys.js';

/** etcd user and password (from a file or the environment, never the command line). */
export interface EtcdAuth {
  username: string;
  password: string;
}

/** etcd client TLS: the CA, and a client certificate and key when etcd asks for one. */
export interface EtcdTls {
  /** PEM: the CA (or CAs) that signed the etcd servers' certificates. */
  ca?: Buffer;
  /** PEM: this agent's client certificate (chain), with `key`. */
  cert?: Buffer;
  /** PEM: the private key of `cert`. */
  key?: Buffer;
}

export interface EtcdSecurity {
  auth?: EtcdAuth;
  tls?: EtcdTls;
}

/** Where the agent reads its etcd password from when there is no password file. */
export const PASSWORD_ENV = 'RXMESH_ETCD_PASSWORD';

/** The prefixes the agent's role needs: readwrite on instances and kicks, read on game verifiers. */
export const AGENT_PREFIXES = { readwrite: [INSTANCES, KICKS], read: [GAMES] } as const;

/** `s`, after throwing a TypeError if it does not fit the endpoints (from parseEtcdUrl). */
export function checkSecurity(hosts: string[], s: EtcdSecurity): EtcdSecurity {
  const tlsHosts = hosts.filter((h) => h.startsWith('https://')).length;
  if (tlsHosts !== 0 && tlsHosts !== hosts.length) throw new TypeError('etcd endpoints mix http:// and https://');
  if (s.tls && tlsHosts === 0) {
    throw new TypeError('the tls option needs an etcds:// URL: an etcd:// URL dials plain http and would ignore it');
  }
  if (s.tls && !s.tls.cert !== !s.tls.key) throw new TypeError('the tls option needs both cert and key, or neither');
  if (s.auth && (typeof s.auth.username !== 'string' || !s.auth.username || typeof s.auth.password !== 'string' || !s.auth.password)) {
    throw new TypeError('the auth option needs a non-empty username and password');
  }
  return s;
}

/** The etcd3 client options for `s`. */
export function clientSecurity(s: EtcdSecurity): Pick<IOptions, 'auth' | 'credentials'> {
  const out: Pick<IOptions, 'auth' | 'credentials'> = {};
  if (s.auth) out.auth = { username: s.auth.username, password: s.auth.password };
  if (s.tls && (s.tls.ca || s.tls.cert)) {
    // etcd3 types rootCertificate as required, but hands it to grpc's createSsl, where null means the default CAs
    out.credentials = { rootCertificate: s.tls.ca ?? null, privateKey: s.tls.key, certChain: s.tls.cert } as IOptions['credentials'];
  }
  // https:// endpoints without credentials: etcd3 dials TLS with the default CAs
  return out;
}

export interface EtcdSecurityFiles {
  /** PEM file of the CA that signed etcd's server certificates. */
  caFile?: string;
  /** PEM files of the agent's client certificate and its key. */
  certFile?: string;
  keyFile?: string;
  /** etcd user name; its password comes from `passwordFile`, else from RXMESH_ETCD_PASSWORD. */
  user?: string;
  passwordFile?: string;
  /** Where RXMESH_ETCD_PASSWORD is read from. Default process.env. */
  env?: Readonly<Record<string, string | undefined>>;
}

/**
 * Read the agent's etcd credentials: PEM files, and the password from a file
 * (one trailing newline dropped) or RXMESH_ETCD_PASSWORD, never from the
 * command line. Throws a TypeError naming the file or setting at fault.
 */
export function etcdSecurityFromFiles(o: EtcdSecurityFiles): EtcdSecurity {
  const out: EtcdSecurity = {};
  if (o.passwordFile !== undefined && !o.user) throw new TypeError('an etcd password file was given without an etcd user');
  if (o.user) {
    const fromFile = o.passwordFile !== undefined;
    const password = fromFile ? readPart(o.passwordFile!, 'etcd password').toString('utf8').replace(/\r?\n$/, '') : (o.env ?? process.env)[PASSWORD_ENV];
    if (!password) {
      throw new TypeError(fromFile ? `the etcd password file '${o.passwordFile}' is empty`
        : `etcd user '${o.user}' needs a password: a password file, or ${PASSWORD_ENV} in the environment`);
    }
    out.auth = { username: o.user, password };
  }
  if (!o.certFile !== !o.keyFile) throw new TypeError('a TLS client certificate needs both its cert file and its key file');
  if (o.caFile !== undefined || o.certFile !== undefined) {
    const tls: EtcdTls = {};
    if (o.caFile !== undefined) tls.ca = readPem(o.caFile, 'TLS CA');
    if (o.certFile !== undefined) tls.cert = readPem(o.certFile, 'TLS certificate');
    if (o.keyFile !== undefined) tls.key = readPem(o.keyFile, 'TLS key');
    out.tls = tls;
  }
  return out;
}

function readPart(file: string, what: string): Buffer {
  try {
    return readFileSync(file);
  } catch (err) {
    throw new TypeError(`cannot read the ${what} file '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function readPem(file: string, what: string): Buffer {
  const pem = readPart(file, what);
  if (!pem.includes('-----BEGIN ')) throw new TypeError(`the ${what} file '${file}' is not PEM`);
  return pem;
}
