/** Stateless and stateful routing on one agent, against a real `rxmesh up`. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NotWatchedError, type Instance, type Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const SVC = 'g.recv.1.0';
let up: MeshProcess;
let mesh: Mesh;
let other: Mesh;
let sender: Instance;
const receivers: Instance[] = [];
const counts = new Map<string, number>();

const Routing = suite('mesh routing');
Routing.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  other = await up.connect(); // receivers in another connection: a second client bell and pump
  for (const ud of ['r1', 'r2', 'r3']) {
    const r = other.instance(SVC, { userData: ud });
    r.messages$.subscribe((m) => counts.set(ud, (counts.get(ud) ?? 0) + 1));
    await next(r.startup$);
    receivers.push(r);
  }
  sender = mesh.instance('g.send.1.0', { userData: 's', watch: [SVC] });
  await next(sender.startup$);
});
Routing.before.each(() => counts.clear());
Routing.after(async () => {
  await mesh?.close();
  await other?.close();
  await up?.stop();
  cleanupShm();
});

const total = (): number => [...counts.values()].reduce((a, b) => a + b, 0);

Routing('routing - round-robin over 3 receivers: 3000 messages, exactly 1000 each', async () => {
  const routed = new Map<string, number>();
  for (let i = 0; i < 3000; i++) {
    const ref = sender.send(SVC, { i });
    routed.set(ref!.userData, (routed.get(ref!.userData) ?? 0) + 1);
  }
  await until(() => total() === 3000, undefined, '3000 deliveries');
  for (const ud of ['r1', 'r2', 'r3']) {
    assert.is(counts.get(ud), 1000, `${ud} received 1000`);
    assert.is(routed.get(ud), 1000, `send() returned ${ud} 1000 times`);
  }
});

Routing('routing - random spreads over all receivers', async () => {
  for (let i = 0; i < 3000; i++) sender.send(SVC, i, { strategy: 'random' });
  await until(() => total() === 3000, undefined, '3000 deliveries');
  for (const ud of ['r1', 'r2', 'r3']) assert.ok((counts.get(ud) ?? 0) > 700, `${ud} got ${counts.get(ud)}`);
});

Routing('routing - via keeps sending to the routed instance', async () => {
  const first = sender.send(SVC, 'hello')!;
  for (let i = 0; i < 99; i++) assert.equal(sender.send(SVC, i, { via: first }), first);
  await until(() => total() === 100, undefined, '100 deliveries');
  assert.is(counts.get(first.userData), 100);
});

Routing('routing - sendTo reaches exactly that instance', async () => {
  const target = receivers[1]!.ref!;
  for (let i = 0; i < 50; i++) sender.sendTo(target, i);
  await until(() => total() === 50, undefined, '50 deliveries');
  assert.is(counts.get('r2'), 50);
});

Routing('routing - broadcast reaches all', async () => {
  assert.is(sender.broadcast(SVC, 'all'), 3);
  await until(() => total() === 3, undefined, '3 deliveries');
  for (const ud of ['r1', 'r2', 'r3']) assert.is(counts.get(ud), 1);
});

Routing('routing - a service that is not watched is an error, not a silent fallback', () => {
  assert.throws(() => sender.send('g.unknown.1.0', 1), (e: Error) => e instanceof NotWatchedError);
});

Routing('routing - the sender is stamped by the agent', async () => {
  const got = next(receivers[0]!.messages$);
  sender.sendTo(receivers[0]!.ref!, 'who');
  const m = await got;
  assert.is(m.from.localId, sender.ref!.localId);
  assert.is(m.from.node, 0);
  assert.is((await receivers[0]!.resolve(m.from)).id, sender.ref!.id, 'resolve() names a sender it never watched');
});

Routing.run();
