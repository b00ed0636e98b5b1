/**
 * Throwaway certificate authorities for specs, made with the `openssl`
 * binary in a temp dir: a CA, server certificates for loopback (SAN
 * IP:127.0.0.1, DNS:localhost), client certificates and certificates of mesh
 * members (both, for given addresses). Keys are P-256,
 * valid one day. The dir is removed by remove(), and again when the spec
 * process exits.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A key and certificate on disk, with their PEM contents. */
export interface Issued {
  certFile: string;
  keyFile: string;
  cert: Buffer;
  key: Buffer;
}

export interface Authority {
  /** The CA certificate (PEM file and contents). */
  caFile: string;
  ca: Buffer;
  /** A certificate for a server on loopback, signed by this CA. */
  server(name: string): Issued;
  /** A client certificate (extendedKeyUsage clientAuth) with common name `cn`. */
  client(cn: string): Issued;
  /** A mesh member's certificate (agents and name servers both dial and accept: serverAuth and clientAuth), for loopback and `ips`. */
  member(cn: string, ips?: string[]): Issued;
}

export interface Pki {
  dir: string;
  /** A new CA named `name` (its files are prefixed with it). */
  authority(name: string): Authority;
  remove(): void;
}

const dirs = new Set<string>();
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const openssl = (args: string[]): void => {
  execFileSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'] });
};

const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export function makePki(): Pki {
  const dir = mkdtempSync(join(tmpdir(), 'rxmesh-pki-'));
  dirs.add(dir);
  const at = (f: string): string => join(dir, f);

  const authority = (name: string): Authority => {
    const caFile = at(`${name}-ca.crt`);
    const caKey = at(`${name}-ca.key`);
    openssl(['req', '-x509', ...newKey, '-keyout', caKey, '-out', caFile, '-days', '1', '-subj', `/CN=${name} CA`]);
    const issue = (file: string, cn: string, ext: string): Issued => {
      const keyFile = at(`${name}-${file}.key`);
      const certFile = at(`${name}-${file}.crt`);
      const csr = at(`${name}-${file}.csr`);
      const extFile = at(`${name}-${file}.ext`);
      writeFileSync(extFile, `${ext}\n`);
      openssl(['req', ...newKey, '-keyout', keyFile, '-out', csr, '-subj', `/CN=${cn}`]);
      openssl(['x509', '-req', '-in', csr, '-CA', caFile, '-CAkey', caKey, '-CAcreateserial', '-days', '1', '-out', certFile, '-extfile', extFile]);
      return { certFile, keyFile, cert: readFileSync(certFile), key: readFileSync(keyFile) };
    };
    return {
      caFile,
      ca: readFileSync(caFile),
      server: (file) => issue(file, 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth'),
      client: (cn) => issue(cn, cn, 'extendedKeyUsage=clientAuth'),
      member: (cn, ips = []) => issue(cn, cn, `subjectAltName=${['IP:127.0.0.1', 'DNS:localhost', ...ips.map((ip) => `IP:${ip}`)].join(',')}\nextendedKeyUsage=serverAuth,clientAuth`),
    };
  };

  return {
    dir,
    authority,
    remove: () => {
      rmSync(dir, { recursive: true, force: true });
      dirs.delete(dir);
    },
  };
}
