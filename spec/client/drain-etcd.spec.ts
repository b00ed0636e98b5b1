/** Graceful drain with the etcd registry: the reason `draining` survives the tombstone, for watchers on both agents. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { GAMES, startAgent, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const enabled = etcdSpecsEnabled('client/drain-etcd.spec.ts');
let etcd: EtcdCluster | undefined;
const agents: MeshProcess[] = [];
const meshes: Mesh[] = [];

const DrainEtcd = suite('client drain on etcd');
DrainEtcd.after(async () => {
  for (const m of meshes) await m.close();
  for (const a of agents) await a.stop();
  await etcd?.close();
  cleanupShm();
});

if (enabled) {
  DrainEtcd('drain on etcd - watchers on both agents see draining; a request sent before is answered', async () => {
    etcd = await startEtcd(1);
    await etcd.setGames(GAMES);
    agents.push(await startAgent(etcd.url, { id: 'etcd-1', links: true }), await startAgent(etcd.url, { id: 'etcd-2', links: true }));
    meshes.push(await agents[0]!.connect(), await agents[1]!.connect());
    const [m1, m2] = meshes as [Mesh, Mesh];
    const near = m1.instance('g.gate.1.0', { userData: 'near', watch: ['g.scene.1.0'] });
    const far = m2.instance('g.gate.1.0', { userData: 'far', watch: ['g.scene.1.0'] });
    await next(near.startup$);
    await next(far.startup$);
    const scene = m1.instance('g.scene.1.0', { userData: 's' });
    const ref = await next(scene.startup$);
    scene.messages$.subscribe((m) => setTimeout(() => m.reply(`done ${String(m.value())}`), 100));
    const farRef = (await next(far.members$('g.scene.1.0'), (l) => l.length > 0))[0]!;
    await next(near.members$('g.scene.1.0'), (l) => l.length > 0);
    const pending = far.request(farRef, 'across', { timeoutMs: 5000 });
    const offNear = next(near.offline$, (o) => o.instance.id === ref.id);
    const offFar = next(far.offline$, (o) => o.instance.id === ref.id);
    const done = scene.drain({ quietMs: 50 });
    assert.is((await offNear).reason, 'draining');
    assert.is((await offFar).reason, 'draining');
    assert.is((await pending).value(), 'done across');
    await done;
  });
}

DrainEtcd.run();
