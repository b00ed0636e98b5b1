/**
 * `rxmesh ls`: services and instances as a table (or JSON lines), from the
 * name server's HTTP view (--http) or straight from etcd (--registry
 * etcd://..., with etcd's auth and TLS flags as `rxmesh agent` takes them).
 */
import { isEtcdUrl } from '../registry/etcd-keys.js';
import { loadEtcdLister } from '../registry/etcd-load.js';
import { UsageError, type Parsed } from './options.js';
import { etcdSecurity } from './servers.js';

interface Row {
  service: string;
  userData: string;
  agentId: string;
  localId: number;
  online: boolean;
}

export async function runLs(p: Parsed): Promise<void> {
  const registry = p.str('registry');
  if (registry !== undefined && !isEtcdUrl(registry)) {
    throw new UsageError(`--registry '${registry}': ls reads etcd (etcd://... or etcds://...); for the name server use --http URL`);
  }
  if (registry === undefined && p.has('game')) throw new UsageError('--game filters etcd listings; the name server view lists every game');
  const rows = registry === undefined ? await fromNameServer(p.str('http')!) : await (await loadEtcdLister()).listEtcdInstances(registry, etcdSecurity({
    tls: { ca: p.str('tls-ca'), cert: p.str('tls-cert'), key: p.str('tls-key') }, etcdUser: p.str('etcd-user'), etcdPasswordFile: p.str('etcd-password-file'),
  }, registry), p.str('game'));
  if (p.bool('json')) {
    for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
    return;
  }
  const table = [['SERVICE', 'USERDATA', 'AGENT', 'LOCAL', 'STATE'], ...rows.map((r) => [r.service, r.userData, r.agentId, String(r.localId), r.online ? 'online' : 'registered'])];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  for (const row of table) process.stdout.write(row.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd() + '\n');
  if (rows.length === 0) process.stdout.write('(no instances)\n');
}

async function fromNameServer(http: string): Promise<Row[]> {
  const res = await fetch(new URL('/v1/instances', http));
  if (!res.ok) throw new Error(`${http} answered ${res.status}`);
  const body = (await res.json()) as Row[] | { instances: Row[] };
  return Array.isArray(body) ? body : body.instances;
}
