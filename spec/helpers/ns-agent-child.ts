/**
 * A one-instance agent for specs that kill it: argv = url agentId service
 * userData leaseTtlMs. Prints "ready" once the instance is online, then
 * heartbeats until it is killed.
 */
import { NsRegistry } from '../../lib/registry/ns-registry.js';
import { gameOf } from '../../lib/protocol/names.js';
import { exitWithParent } from './process.js';
import { NS_SECRET } from './ns.js';

exitWithParent();

const [url, agentId, service, userData, ttl] = process.argv.slice(2) as [string, string, string, string, string];
const registry = new NsRegistry(url, { secret: NS_SECRET, leaseTtlMs: Number(ttl) });
await registry.open({ agentId, address: '' }, { kicked: () => {} });
const key = { gameId: gameOf(service), service, userData };
await registry.register({ ...key, agentId, address: '', localId: 1, epoch: 1, online: false }, 'reject');
await registry.startup(key);
process.stdout.write('ready\n');
// The open connection (and stdin) keep it up until it is killed.
