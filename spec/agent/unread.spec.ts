/**
 * Messages nobody has subscribed to yet: they wait in the ring (replies and
 * reports behind them still arrive), reach the first `messages$` subscriber in
 * order, and go back to their senders if the instance closes first.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { sendAll } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;
let other: Mesh;

const seqOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0, true);

const Unread = suite('unread messages');
Unread.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  other = await up.connect();
});
Unread.after(async () => {
  await mesh?.close();
  await other?.close();
  await up?.stop();
  cleanupShm();
});

Unread('unread - messages that arrive before messages$ is subscribed wait for the first subscriber, in order', async () => {
  const b = other.instance('g.late-sub.1.0', { userData: 'b' });
  const bRef = await next(b.startup$);
  b.undeliverable$.subscribe(() => {}); // starts reading: replies and reports flow, messages must wait
  const a = mesh.instance('g.late-src.1.0', { userData: 'a' });
  await next(a.startup$);
  const COUNT = 5000;
  await sendAll(a, bRef, COUNT);
  await sleep(300);
  const got: number[] = [];
  b.messages$.subscribe((m) => got.push(seqOf(m.data)));
  await until(() => got.length >= COUNT, 10_000, `${COUNT} messages`);
  await sleep(100);
  assert.is(got.length, COUNT, 'every message, once');
  assert.ok(got.every((s, i) => s === i), 'in order');
  await b.close();
  await a.close();
});

Unread('unread - a request is answered while plain messages wait for a subscriber', async () => {
  const server = other.instance('g.late-srv.1.0', { userData: 's' });
  const sRef = await next(server.startup$);
  const client = mesh.instance('g.late-cli.1.0', { userData: 'c' });
  const cRef = await next(client.startup$);
  server.messages$.subscribe((m) => m.reply('pong'));
  server.sendTo(cRef, 'a plain message nobody reads yet');
  const reply = await client.request(sRef, 'ping', { timeoutMs: 5000 });
  assert.is(reply.value(), 'pong');
  const held = next(client.messages$);
  assert.is((await held).value(), 'a plain message nobody reads yet');
  await client.close();
  await server.close();
});

Unread('unread - an instance that closes without subscribing bounces every message to its sender', async () => {
  const b = other.instance('g.never-sub.1.0', { userData: 'b' });
  const bRef = await next(b.startup$);
  b.undeliverable$.subscribe(() => {});
  const a = mesh.instance('g.never-src.1.0', { userData: 'a' });
  await next(a.startup$);
  const bounced = new Set<number>();
  a.undeliverable$.subscribe((u) => {
    assert.is(u.reason, 'offline');
    bounced.add(seqOf(u.data));
  });
  const COUNT = 2000;
  await sendAll(a, bRef, COUNT);
  await sleep(200);
  await b.close();
  await until(() => bounced.size >= COUNT, 10_000, `${COUNT} bounces`);
  assert.is(bounced.size, COUNT);
  await a.close();
});

Unread.run();
