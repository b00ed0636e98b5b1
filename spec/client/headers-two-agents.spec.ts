/** Message headers (issue 14) across two agents on one name server: the peer link carries them with the message, in replies and in bounces. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { reply, type Instance, type Mesh, type Message, type Undeliverable } from '../../lib/index.js';
import { startTwoHosts, type TwoHosts } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let hosts: TwoHosts;
let mesh2: Mesh;
let a: Instance;
let b: Instance;
/** b as agent 1 numbers it. */
let bRef: NonNullable<Instance['ref']>;

const Remote = suite('links headers');
Remote.before(async () => {
  hosts = await startTwoHosts();
  const [mesh1] = hosts.meshes;
  mesh2 = hosts.meshes[1];
  b = mesh2.instance('g.b.1.0', { userData: 'b' });
  await next(b.startup$);
  a = mesh1.instance('g.a.1.0', { userData: 'a', watch: ['g.b.1.0'] });
  await next(a.startup$);
  bRef = (await next(a.members$('g.b.1.0'), (l) => l.length > 0))[0]!;
});
Remote.after(async () => {
  await hosts?.stop();
  cleanupShm();
});

/** Send, waiting out a full tx ring. */
async function sendTo(ref: NonNullable<Instance['ref']>, value: unknown, headers?: Record<string, string>): Promise<void> {
  for (;;) {
    try {
      a.sendTo(ref, value, headers ? { headers } : undefined);
      return;
    } catch (err) {
      if ((err as { code?: string }).code !== 'QUEUE_FULL') throw err;
      await a.whenWritable(10_000);
    }
  }
}

Remote('remote headers - a stream across the link keeps each message\'s headers, in order; plain messages have none', async () => {
  const got: Message[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m));
  const COUNT = 2000;
  for (let i = 0; i < COUNT; i++) {
    if (i % 3 === 2) a.send('g.b.1.0', i);
    else a.send('g.b.1.0', i, { headers: { seq: String(i), host: 'one' } });
    if (i % 200 === 199) await sleep(1);
  }
  await until(() => got.length === COUNT, 10_000, `${COUNT} messages (got ${got.length})`);
  sub.unsubscribe();
  got.forEach((m, i) => {
    assert.is(m.value(), i, 'in order');
    assert.equal(m.headers, i % 3 === 2 ? undefined : { seq: String(i), host: 'one' }, `message ${i}'s headers`);
  });
});

Remote('remote headers - large fragmented messages (whole and streamed) keep their headers across the link', async () => {
  const got: Message[] = [];
  const sub = b.messages$.subscribe((m) => got.push(m));
  const sizes = [150 * 1024, 2 * 1024 * 1024];
  for (const [i, size] of sizes.entries()) await sendTo(bRef, new Uint8Array(size).fill(i + 1), { size: String(size) });
  await until(() => got.length === sizes.length, 20_000, 'both large messages');
  sub.unsubscribe();
  got.forEach((m, i) => {
    assert.equal(m.headers, { size: String(sizes[i]) });
    assert.is(m.data.length, sizes[i]);
    assert.ok(m.data.every((x) => x === i + 1), 'the value intact');
  });
});

Remote('remote headers - a reply across the link echoes the request\'s headers', async () => {
  const sub = b.messages$.pipe(reply((m) => `re ${String(m.value())}`, { echoHeaders: ['corr-id'], headers: { from: 'host-2' } })).subscribe();
  const r = await a.request('g.b.1.0', 'x', { headers: { 'corr-id': 'abc', other: 'dropped' } });
  assert.is(r.value(), 're x');
  assert.equal(r.headers, { 'corr-id': 'abc', from: 'host-2' });
  sub.unsubscribe();
});

Remote('remote headers - a message bounced by the other host comes back with its headers', async () => {
  const c = mesh2.instance('g.c.1.0', { userData: 'c' });
  await next(c.startup$);
  await a.service$('g.c.1.0');
  const cRef = (await next(a.members$('g.c.1.0'), (l) => l.length > 0))[0]!;
  const reports: Undeliverable[] = [];
  const sub = a.undeliverable$.subscribe((u) => reports.push(u));
  await c.close();
  await next(a.members$('g.c.1.0'), (l) => l.length === 0);
  await sendTo(cRef, 'late', { why: 'offline' });
  await sendTo(cRef, new Uint8Array(100 * 1024).fill(5), { why: 'offline-large' });
  await until(() => reports.length === 2, 10_000, `two reports (got ${reports.length})`);
  sub.unsubscribe();
  const byWhy = new Map(reports.map((r) => [r.headers?.['why'], r]));
  assert.is(byWhy.get('offline')?.reason, 'offline');
  assert.is(byWhy.get('offline')?.value(), 'late');
  assert.is(byWhy.get('offline-large')?.reason, 'offline');
  assert.is(byWhy.get('offline-large')?.data.length, 100 * 1024);
});

Remote.run();
