/**
 * A one-instance EtcdRegistry agent for specs that kill it: argv = url
 * agentId service userData leaseTtlMs. Prints "ready" once the instance is
 * online, then keeps its lease alive until it is killed.
 */
import { gameOf } from '../../lib/protocol/names.js';
import { EtcdRegistry } from '../../lib/registry/etcd-registry.js';
import { exitWithParent } from './process.js';

exitWithParent();

const [url, agentId, service, userData, ttl] = process.argv.slice(2) as [string, string, string, string, string];
const registry = new EtcdRegistry(url, { leaseTtlMs: Number(ttl) });
await registry.open({ agentId, address: '' }, { kicked: () => {} });
const key = { gameId: gameOf(service), service, userData };
await registry.register({ ...key, agentId, address: '', localId: 1, epoch: 1, online: false }, 'reject');
await registry.startup(key);
process.stdout.write('ready\n');
