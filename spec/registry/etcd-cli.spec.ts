/**
 * The CLI's etcd security flags against a real etcd serving https with
 * --client-cert-auth: `rxmesh games set` and `rxmesh agent` on an etcds://
 * URL take their TLS identity from --tls-ca/--tls-cert/--tls-key; an app
 * proves its game key (verified through etcd) and registers an instance a
 * second agent sees. Without the flags the agent stops at start, saying why.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { startAgent, type MeshProcess } from '../helpers/mesh.js';
import { makePki, type Authority, type Issued, type Pki } from '../helpers/pki.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const enabled = etcdSpecsEnabled('etcd-cli.spec.ts');
const Cli = suite('etcd cli');
let pki: Pki | undefined;
let ca: Authority;
let etcd: EtcdCluster | undefined;
const procs: MeshProcess[] = [];
const fixtures: Fixture[] = [];

const tlsFlags = (who: Issued): string[] => ['--tls-ca', ca.caFile, '--tls-cert', who.certFile, '--tls-key', who.keyFile];

Cli.after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await Promise.all(fixtures.map((f) => f.kill()));
  await etcd?.close();
  pki?.remove();
  cleanupShm();
});

if (enabled) {
  Cli('etcd cli - games set and agent on etcds:// with --tls-*: an app of the game registers, another agent sees it; without the flags the agent stops with REGISTRY_AUTH', async () => {
    pki = makePki();
    ca = pki.authority('mesh');
    const server = ca.server('etcd');
    const admin = ca.member('admin');
    etcd = await startEtcd(1, { tls: { certFile: server.certFile, keyFile: server.keyFile, trustedCaFile: ca.caFile, client: { ca: ca.ca, cert: admin.cert, key: admin.key } } });

    const set = startFixture('lib/cli/main.ts', ['games', 'set', 'eg', '--registry', etcd.url, ...tlsFlags(admin)]);
    fixtures.push(set);
    set.child.stdin!.end('eg-key\n');
    assert.is((await set.exited).code, 0, set.stderr);

    const a1 = await startAgent(etcd.url, { id: 'etcd-cli-1', args: tlsFlags(ca.member('agent-1')) });
    const a2 = await startAgent(etcd.url, { id: 'etcd-cli-2', args: tlsFlags(ca.member('agent-2')) });
    procs.push(a1, a2);
    const held = (await a1.connect('eg', 'eg-key')).instance('eg.cli.1.0', { userData: 'h' });
    await next(held.startup$);
    const watcher = (await a2.connect('eg', 'eg-key')).instance('eg.watch.1.0', { userData: 'w', watch: ['eg.cli.1.0'] });
    await next(watcher.startup$);
    const seen = await next(watcher.members$('eg.cli.1.0'), (l) => l.length > 0);
    assert.is(seen[0]!.agentId, 'etcd-cli-1');

    let refused = '';
    try {
      procs.push(await startAgent(etcd.url, { id: 'etcd-cli-bare' }));
    } catch (err) {
      refused = String(err);
    }
    assert.match(refused, /rxmesh agent: etcd at etcds:\/\/.* has a server certificate this side does not trust/, refused);
  });
  Cli.run();
}
