/**
 * Where an agent serves by default, and so where an app looks for it: one
 * function for both sides, so they always agree.
 *
 *   /dev/shm/rxmesh-<login name>/agent.sock
 *   /dev/shm/rxmesh-uid<N>/agent.sock     a uid with no passwd entry
 *
 * A uid need not have a passwd entry: `docker run --user 12345`, OpenShift's
 * arbitrary uids, a pod's `runAsUser`. os.userInfo() throws ENOENT for it;
 * the directory is then named after the uid, which both sides know without
 * asking anyone. Other failures (an unreachable LDAP behind NSS) are thrown:
 * falling back there could name a different directory than the other side.
 */
import { userInfo } from 'node:os';
import { join } from 'node:path';

/** The user part of the default shm directory's name: the login name, or `uid<N>`. */
export function shmUserName(): string {
  try {
    return userInfo().username;
  } catch (err) {
    const info = (err as { info?: { code?: string } }).info;
    if (info?.code === 'ENOENT' && process.getuid) return `uid${process.getuid()}`;
    throw err;
  }
}

/** The agent's default shm directory: /dev/shm/rxmesh-<user>. */
export const defaultShmDir = (): string => `/dev/shm/rxmesh-${shmUserName()}`;

/** The default control socket an app connects to: <defaultShmDir>/agent.sock. */
export const defaultAgentSocket = (): string => join(defaultShmDir(), 'agent.sock');
