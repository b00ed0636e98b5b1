/**
 * The instances stored in etcd, read once at one revision (paged): what
 * `rxmesh ls --registry etcd://...` prints. Connects without a lease and
 * writes nothing; an instance being deregistered (a tombstone) is left out.
 */
import type { InstanceRecord } from '../protocol/registry-messages.js';
import { connect, DEFAULT_CALL_OPTIONS } from './etcd-calls.js';
import { checkGameId } from './etcd-games.js';
import { decodeInstance, INSTANCES, parseEtcdUrl } from './etcd-keys.js';
import { checkSecurity, type EtcdSecurity } from './etcd-security.js';

/** Every instance in etcd at `url`, or only those of `gameId`, sorted by service and user data. */
export async function listEtcdInstances(url: string, security: EtcdSecurity = {}, gameId?: string): Promise<InstanceRecord[]> {
  const hosts = parseEtcdUrl(url);
  const calls = connect(hosts, DEFAULT_CALL_OPTIONS, checkSecurity(hosts, security));
  try {
    const prefix = gameId === undefined ? INSTANCES : `${INSTANCES}${checkGameId(gameId)}/`;
    const { kvs } = await calls.retrying(() => calls.list(prefix));
    return kvs
      .flatMap((kv) => {
        const d = decodeInstance(kv.key.toString('utf8'), kv.value);
        return d && !d.offline ? [d.record] : [];
      })
      .sort((a, b) => a.service.localeCompare(b.service) || a.userData.localeCompare(b.userData));
  } finally {
    calls.client.close();
  }
}
