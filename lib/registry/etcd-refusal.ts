/**
 * Tells etcd refusing the agent (credentials, role, certificates) apart from
 * an outage, so that a refusal fails at once with RegistryAuthError instead of
 * being retried until it looks like etcd is down. No message here ever
 * carries a password or key.
 */
import { EtcdAuthenticationFailedError, EtcdPermissionDeniedError } from 'etcd3';
import { RegistryAuthError } from '../protocol/errors.js';
import { GAMES } from './etcd-keys.js';
import { AGENT_PREFIXES, PASSWORD_ENV, type EtcdSecurity } from './etcd-security.js';

/** The server refused our certificate (a TLS alert), or we refused the server's. */
const CLIENT_CERT_REFUSED = /alert (bad certificate|certificate required|unknown ca|certificate unknown|certificate expired|certificate revoked|unsupported certificate|handshake failure)/i;
const SERVER_CERT_UNTRUSTED = /unable to verify the first certificate|self[- ]signed certificate|unable to get (local )?issuer certificate|certificate has expired|certificate is not yet valid|Hostname\/IP does not match|ERR_TLS_CERT_ALTNAME_INVALID/i;

/**
 * The RegistryAuthError for an error that is etcd (or TLS) refusing the
 * connection, or undefined for anything else. `where` names the endpoints.
 */
export function refusal(err: unknown, where: string, s: EtcdSecurity): RegistryAuthError | undefined {
  if (!(err instanceof Error)) return undefined;
  const msg = err.message;
  const user = s.auth ? `user '${s.auth.username}'` : 'a client without a user';
  const fail = (why: string): RegistryAuthError => new RegistryAuthError(`etcd at ${where} ${why}`, { cause: err });
  if (err instanceof EtcdAuthenticationFailedError) return fail(`refused ${user}: wrong password or unknown user`);
  if (/etcdserver: user name is empty/.test(msg)) {
    return fail(`has auth enabled and no user was given (the auth option; rxmesh: --etcd-user and --etcd-password-file or ${PASSWORD_ENV})`);
  }
  if (err instanceof EtcdPermissionDeniedError) {
    const agent = `readwrite on ${AGENT_PREFIXES.readwrite.join(' and ')}, read on ${AGENT_PREFIXES.read.join(', ')}`;
    return fail(`denied ${user} permission (an agent's role needs ${agent}; games set needs readwrite on ${GAMES})`);
  }
  let m = CLIENT_CERT_REFUSED.exec(msg);
  if (m) {
    const given = s.tls?.cert ? 'the client certificate given is not one it trusts' : 'it wants a client certificate and none was given (tls cert and key)';
    return fail(`refused the TLS connection (${m[0]}): ${given}`);
  }
  m = SERVER_CERT_UNTRUSTED.exec(msg);
  return m ? fail(`has a server certificate this side does not trust (${m[0]}): give the CA that signed it (tls ca)`) : undefined;
}
