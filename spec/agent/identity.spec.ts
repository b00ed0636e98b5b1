/**
 * Instance addresses across agent restarts: a ref an app kept from before its
 * agent restarted never reaches whichever instance has that number now; it
 * comes back `offline`. Also across hosts: frames queued for a peer that
 * restarted never reach the new incarnation's instances.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, type InstanceRef, type Mesh, type Undeliverable } from '../../lib/index.js';
import { GAME, KEY, startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let ns: MeshProcess;
const procs: MeshProcess[] = [];
const meshes: Mesh[] = [];

async function app(socket: string, reconnect = true): Promise<Mesh> {
  const m = await connect({ gameId: GAME, password: KEY, agent: socket, reconnect });
  meshes.push(m);
  return m;
}

async function agent(opts: Parameters<typeof startAgent>[1] = {}): Promise<MeshProcess> {
  const p = await startAgent(ns.nsUrl, opts);
  procs.push(p);
  return p;
}

const Identity = suite('instance identity');
Identity.before(async () => {
  ns = await startNs();
});
Identity.after(async () => {
  for (const m of meshes) await m.close().catch(() => {});
  for (const p of procs) await p.kill();
  await ns?.stop();
  cleanupShm();
});

Identity('identity - a ref kept across an agent restart bounces offline; the instance that has its number now gets nothing', async () => {
  const shmDir = tempShmDir();
  let a = await agent({ shmDir, id: 'restart-local' });
  const senderApp = await app(a.socket);
  const victimApp = await app(a.socket, false);
  const sender = senderApp.instance('g.id-send.1.0', { userData: 's', watch: ['g.id-target.1.0'] });
  await next(sender.startup$);
  const victim = victimApp.instance('g.id-target.1.0', { userData: 'old' });
  const staleRef: InstanceRef = await next(victim.startup$);
  await a.kill();
  a = await agent({ shmDir, id: 'restart-local' });
  // a newcomer takes the same local numbers the old instances had
  const newcomerApp = await app(a.socket);
  const got: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    const n = newcomerApp.instance('g.id-target.1.0', { userData: `new-${i}` });
    n.messages$.subscribe((m) => got.push(m.value()));
    await next(n.startup$);
  }
  await next(senderApp.reconnected$, () => true, 20_000);
  const report = next(sender.undeliverable$, (u) => u.value() === 'to the old one');
  sender.sendTo(staleRef, 'to the old one');
  const u = await report;
  assert.is(u.reason, 'offline');
  await sleep(200);
  assert.equal(got, [], 'nobody else received it');
});

Identity('identity - frames queued for a peer that restarted never reach the new incarnation', async () => {
  const hostA = await agent({ id: 'peer-a', links: true, testHooks: true });
  const shmDir = tempShmDir();
  let hostB = await agent({ id: 'peer-b', links: true, shmDir });
  const appA = await app(hostA.socket);
  const appB = await app(hostB.socket, false);
  const src = appA.instance('g.pr-src.1.0', { userData: 's', watch: ['g.pr-dst.1.0'] });
  await next(src.startup$);
  const dst = appB.instance('g.pr-dst.1.0', { userData: 'old' });
  await next(dst.startup$);
  const oldRef = (await next(src.members$('g.pr-dst.1.0'), (l) => l.length > 0))[0]!;
  const reports: Undeliverable[] = [];
  src.undeliverable$.subscribe((u) => reports.push(u));
  await hostB.kill();
  for (let i = 0; i < 50; i++) src.sendTo(oldRef, i); // queued while the peer is down
  hostB = await agent({ id: 'peer-b', links: true, shmDir });
  hostA.fixture.child.kill('SIGUSR2'); // hold hostA's redials for 1 s while the newcomer takes the old numbers
  const newApp = await app(hostB.socket);
  const got: unknown[] = [];
  for (let i = 0; i < 4; i++) {
    const n = newApp.instance('g.pr-dst.1.0', { userData: `new-${i}` });
    n.messages$.subscribe((m) => got.push(m.value()));
    await next(n.startup$);
  }
  await until(() => reports.length >= 50, 15_000, 'every queued message reported');
  await sleep(300);
  assert.equal(got, [], 'nothing reached the new incarnation');
  assert.ok(reports.every((u) => u.reason === 'offline' || u.reason === 'in_doubt' || u.reason === 'link_down'), reports.map((u) => u.reason).join());
});

Identity.run();
