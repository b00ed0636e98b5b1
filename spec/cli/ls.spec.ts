/**
 * `rxmesh ls` from both registries, as a real process: against a real etcd
 * (--registry etcd://..., straight from the keys, filtered by --game) and
 * against the name server's HTTP view, an instance an app registered is
 * listed online on its agent; --json gives one record per line.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { runAll } from '../helpers/cli.js';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { GAME, GAMES, startAgent, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const enabled = etcdSpecsEnabled('cli/ls.spec.ts');
const Ls = suite('cli ls');
let etcd: EtcdCluster | undefined;
const procs: MeshProcess[] = [];

Ls.after(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await etcd?.close();
  cleanupShm();
});

/** The table row of `service` and `userData`, split on runs of spaces. */
const row = (stdout: string, service: string, userData: string): string[] | undefined =>
  stdout.split('\n').map((l) => l.split(/ +/)).find((c) => c[0] === service && c[1] === userData);

if (enabled) {
  Ls('ls - --registry etcd://: an instance registered through an agent on etcd is listed online, by game too, and as JSON', async () => {
    etcd = await startEtcd(1);
    await etcd.setGames(GAMES);
    const agent = await startAgent(etcd.url, { id: 'ls-etcd' });
    procs.push(agent);
    const inst = (await agent.connect()).instance('g.listed.1.0', { userData: 'u1' });
    await next(inst.startup$);
    const [all, mine, other, json] = await runAll([
      ['ls', '--registry', etcd.url],
      ['ls', '--registry', etcd.url, '--game', GAME],
      ['ls', '--registry', etcd.url, '--game', 'other'],
      ['ls', '--registry', etcd.url, '--json'],
    ], 2);
    for (const r of [all, mine, other, json]) assert.is(r!.code, 0, r!.stderr);
    assert.equal(row(all!.stdout, 'g.listed.1.0', 'u1')?.slice(2), ['ls-etcd', String(inst.ref!.localId), 'online']);
    assert.ok(row(mine!.stdout, 'g.listed.1.0', 'u1'), mine!.stdout);
    assert.is(other!.stdout.trim().split('\n').pop(), '(no instances)');
    const records = json!.stdout.trim().split('\n').map((l) => JSON.parse(l) as { service: string; userData: string; agentId: string; online: boolean });
    assert.ok(records.some((r) => r.service === 'g.listed.1.0' && r.userData === 'u1' && r.agentId === 'ls-etcd' && r.online), json!.stdout);
  });
}

Ls('ls - --http (the name server): the same table; --registry with an ns:// URL is a usage error', async () => {
  const up = await startUp();
  procs.push(up);
  const inst = (await up.connect()).instance('g.listed.1.0', { userData: 'u2' });
  await next(inst.startup$);
  const [table, bad] = await runAll([['ls', '--http', up.httpUrl], ['ls', '--registry', up.nsUrl]], 2);
  assert.is(table!.code, 0, table!.stderr);
  assert.equal(row(table!.stdout, 'g.listed.1.0', 'u2')?.slice(2), [up.agentId, String(inst.ref!.localId), 'online']);
  assert.is(bad!.code, 2);
  assert.match(bad!.stderr, /--registry/);
});

Ls.run();
