/** Three agents (three hosts): stateless routing spreads over instances on every host. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh } from '../../../lib/index.js';
import { startAgent, startNs, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, until } from '../../helpers/wait.js';

const SVC = 'g.recv.1.0';
let ns: MeshProcess;
const agents: MeshProcess[] = [];
const meshes: Mesh[] = [];
let sender: Instance;
const counts = new Map<string, number>();

const Three = suite('links three agents');
Three.before(async () => {
  ns = await startNs();
  for (const id of ['h1', 'h2', 'h3']) {
    const agent = await startAgent(ns.nsUrl, { id, links: true });
    agents.push(agent);
    meshes.push(await agent.connect());
  }
  for (const [i, mesh] of meshes.entries()) {
    const r = mesh.instance(SVC, { userData: `r${i + 1}` });
    r.messages$.subscribe(() => counts.set(`r${i + 1}`, (counts.get(`r${i + 1}`) ?? 0) + 1));
    await next(r.startup$);
  }
  sender = meshes[0]!.instance('g.send.1.0', { userData: 's', watch: [SVC] });
  await next(sender.startup$);
  await next(sender.members$(SVC), (l) => l.length === 3);
});
Three.after(async () => {
  for (const m of meshes) await m.close().catch(() => {});
  for (const a of agents) await a.stop();
  await ns?.stop();
  cleanupShm();
});

Three('three agents - round-robin over instances on three hosts hits each exactly equally', async () => {
  const routed = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const ref = sender.send(SVC, { i });
    routed.set(ref!.agentId, (routed.get(ref!.agentId) ?? 0) + 1);
  }
  await until(() => [...counts.values()].reduce((a, b) => a + b, 0) === 3000, undefined, '3000 deliveries');
  for (const ud of ['r1', 'r2', 'r3']) assert.is(counts.get(ud), 1000, `${ud} received 1000`);
  assert.equal([...routed.keys()].sort(), ['h1', 'h2', 'h3']);
  for (const n of routed.values()) assert.is(n, 1000);
});

Three.run();
