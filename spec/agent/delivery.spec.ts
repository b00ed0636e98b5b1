/** Order, large messages, request/reply and undeliverable reports, against a real `rxmesh up`. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { NoRouteError, TimeoutError, type Instance, type Mesh, type Undeliverable } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { streamInOrder } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;
let peer: Mesh;
let a: Instance;
let b: Instance;

const Delivery = suite('mesh delivery');
Delivery.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  peer = await up.connect();
  a = mesh.instance('g.a.1.0', { userData: 'a', watch: ['g.b.1.0', 'g.empty.1.0'] });
  b = peer.instance('g.b.1.0', { userData: 'b' });
  await next(a.startup$);
  await next(b.startup$);
});
Delivery.after(async () => {
  await mesh?.close();
  await peer?.close();
  await up?.stop();
  cleanupShm();
});

Delivery('delivery - 100 000 messages A->B arrive in order, none lost or duplicated', async () => {
  const COUNT = 100_000;
  const seq = await streamInOrder(a, b, COUNT);
  assert.is(seq.bad, 0, 'no gap, duplicate or reordering');
  assert.is(seq.expected, COUNT);
});

Delivery('delivery - a 16 MiB message arrives intact, between small ones', async () => {
  const big = new Uint8Array(16 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4093) big[i] = (i * 31) & 0xff;
  const got: Uint8Array[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m.data));
  a.sendTo(b.ref!, new Uint8Array([1]));
  a.sendTo(b.ref!, big);
  a.sendTo(b.ref!, new Uint8Array([2]));
  await until(() => got.length === 3, 30_000, 'three messages');
  sub.unsubscribe();
  assert.equal([...got[0]!], [1]);
  assert.is(got[1]!.length, big.length);
  assert.ok(Buffer.compare(Buffer.from(got[1]!), Buffer.from(big)) === 0, '16 MiB intact');
  assert.equal([...got[2]!], [2]);
});

Delivery('delivery - values travel as CBOR, bytes raw', async () => {
  const got = next(b.messages$);
  a.sendTo(b.ref!, { player: 42, name: 'x', tags: ['a'] });
  assert.equal((await got).value(), { player: 42, name: 'x', tags: ['a'] });
});

Delivery('delivery - request/reply round trip', async () => {
  const sub = b.messages$.subscribe((m) => m.isRequest && m.reply({ echo: m.value() }));
  const reply = await a.request('g.b.1.0', 'ping', { timeoutMs: 5000 });
  sub.unsubscribe();
  assert.equal(reply.value(), { echo: 'ping' });
  assert.is(reply.from.id, b.ref!.id);
});

Delivery('delivery - a request nobody answers times out with TimeoutError', async () => {
  const err = await a.request(b.ref!, 'ignored', { timeoutMs: 100 }).then(() => null, (e: Error) => e);
  assert.instance(err, TimeoutError, String(err));
  assert.ok((err as TimeoutError).retryable);
});

Delivery('delivery - send to a service with no instance: undeliverable, reason no_route', async () => {
  const report = next(a.undeliverable$);
  assert.is(a.send('g.empty.1.0', 'nobody'), null);
  const u = await report;
  assert.is(u.reason, 'no_route');
  assert.is(u.value(), 'nobody');
  const err = await a.request('g.empty.1.0', 'x').then(() => null, (e: Error) => e);
  assert.instance(err, NoRouteError);
});

Delivery('delivery - messages queued for an instance that goes offline are each bounced once', async () => {
  const other = await up.connect();
  const c = other.instance('g.c.1.0', { userData: 'c' }); // never reads: nobody subscribes, its ring fills
  const cRef = await next(c.startup$);
  const bounced: Undeliverable[] = [];
  const sub = a.undeliverable$.subscribe((u) => bounced.push(u));
  const COUNT = 500;
  for (let i = 0; i < COUNT; i++) a.sendTo(cRef, i);
  await sleep(50); // let the agent queue them for c
  await other.close(); // c goes offline with everything unread
  await until(() => bounced.length >= COUNT, 10_000, `${COUNT} bounces`);
  await sleep(100); // and no more than that
  sub.unsubscribe();
  assert.is(bounced.length, COUNT, 'each queued message bounced exactly once');
  const seen = new Set(bounced.map((u) => u.value<number>()));
  assert.is(seen.size, COUNT, 'every message accounted for');
  assert.ok(bounced.every((u) => u.reason === 'offline' && u.to.localId === cRef.localId));
});

Delivery.run();
