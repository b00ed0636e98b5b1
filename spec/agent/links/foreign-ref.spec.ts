/**
 * A ref is only meaningful to the apps of the agent that gave it out (its
 * node numbers are that agent's own). An app that sends to a ref another
 * agent gave out (passed along in a payload, say) must not reach whichever
 * local instance has the same local id: the epoch in the ref is the other
 * agent's, so the message is bounced `offline`, never delivered.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh, Undeliverable } from '../../../lib/index.js';
import { startTwoHosts, type TwoHosts } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';

let hosts: TwoHosts;
let mesh1: Mesh;
let mesh2: Mesh;

const Foreign = suite('foreign refs');
Foreign.before(async () => {
  hosts = await startTwoHosts();
  [mesh1, mesh2] = hosts.meshes;
});
Foreign.after(async () => {
  await hosts?.stop();
  cleanupShm();
});

Foreign('foreign refs - a ref of another agent is bounced offline, never delivered to the local instance with its local id', async () => {
  // the same local id on both agents: each agent's first instance
  const decoy = mesh1.instance('g.decoy.1.0', { userData: 'd' });
  const target = mesh2.instance('g.target.1.0', { userData: 't' });
  const decoyRef = await next(decoy.startup$);
  const targetRef = await next(target.startup$); // as agent 2 numbers it: node 0, its epoch
  assert.is(targetRef.localId, decoyRef.localId, 'the two first instances share a local id');
  assert.is.not(targetRef.epoch, decoyRef.epoch, 'the two agents have different epochs');
  const sender = mesh1.instance('g.sender.1.0', { userData: 's' });
  await next(sender.startup$);
  let misdelivered = 0;
  decoy.messages$.subscribe(() => misdelivered++);
  let delivered = 0;
  target.messages$.subscribe(() => delivered++);
  const bounced: Undeliverable[] = [];
  sender.undeliverable$.subscribe((u) => bounced.push(u));
  for (let i = 0; i < 10; i++) sender.sendTo(targetRef, { i });
  await until(() => bounced.length === 10, 5000, 'ten bounces');
  await sleep(100);
  assert.is(misdelivered, 0, 'nothing reached the local instance with that local id');
  assert.is(delivered, 0, 'nor the instance on the other agent (its ref was not ours to use)');
  assert.ok(bounced.every((u) => u.reason === 'offline'), bounced.map((u) => u.reason).join(','));
  assert.equal(bounced.map((u) => u.value<{ i: number }>().i), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

Foreign.run();
