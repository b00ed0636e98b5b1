/**
 * The sending side under pressure, on one host: a full destination holds up
 * nobody else and gives its waiting messages back at once when its bound is
 * up; a buffer reused after send() does not change what was sent; an operator
 * that failed stops pulling from its source.
 */
import { range, tap } from 'rxjs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, toInstance, type Mesh, type Undeliverable } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

const FULL_MS = 1000;
let up: MeshProcess;
let mesh: Mesh;
let other: Mesh;

const Sender = suite('sender side');
Sender.before(async () => {
  up = await startUp({ fullMs: FULL_MS });
  mesh = await up.connect();
  other = await up.connect();
});
Sender.after(async () => {
  await mesh?.close();
  await other?.close();
  await up?.stop();
  cleanupShm();
});

/** Fill `to`'s ring from a helper instance of `other` (it never reads), so the agent queues for it. */
async function fill(to: Parameters<Mesh['instance']>[0], ref: import('../../lib/index.js').InstanceRef): Promise<void> {
  const filler = other.instance(`g.filler-${to.split('.')[1]}.1.0`, { userData: 'f' });
  await next(filler.startup$);
  const chunk = new Uint8Array(8 * 1024);
  let fullSince = 0;
  while (!fullSince || performance.now() - fullSince < 200) {
    try {
      filler.sendTo(ref, chunk);
      fullSince = 0;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      fullSince ||= performance.now();
      await sleep(5);
    }
  }
}

Sender('sender - one full destination delays no other: a source goes on to a healthy one; the full one bounces at once after its bound', async () => {
  const full = other.instance('g.hol-full.1.0', { userData: 'd' });
  const fullRef = await next(full.startup$);
  const healthy = other.instance('g.hol-ok.1.0', { userData: 'e' });
  const okRef = await next(healthy.startup$);
  const got: unknown[] = [];
  healthy.messages$.subscribe((m) => got.push(m.value()));
  await fill('g.hol-full.1.0', fullRef);
  const src = mesh.instance('g.hol-src.1.0', { userData: 's' });
  await next(src.startup$);
  const bounced: Undeliverable[] = [];
  src.undeliverable$.subscribe((u) => bounced.push(u));
  for (let i = 0; i < 6; i++) src.sendTo(fullRef, `to the full one ${i}`);
  for (let i = 0; i < 6; i++) src.sendTo(okRef, `to the healthy one ${i}`);
  await until(() => got.length === 6, 3 * FULL_MS, 'the healthy destination served while the other is full');
  const t0 = performance.now();
  await until(() => bounced.length === 6, 6 * FULL_MS, 'the waiting messages bounced');
  assert.ok(bounced.every((u) => u.reason === 'queue_full'), bounced.map((u) => u.reason).join());
  assert.equal(bounced.map((u) => u.value()), [0, 1, 2, 3, 4, 5].map((i) => `to the full one ${i}`), 'each once, in order');
  assert.ok(performance.now() - t0 < 3 * FULL_MS, 'all at once, not one bound per message');
  await src.close();
  await healthy.close();
  await full.close();
});

Sender('sender - a Buffer reused after send() does not change what was sent', async () => {
  const receiver = other.instance('g.reuse-recv.1.0', { userData: 'r' });
  const rRef = await next(receiver.startup$);
  const src = mesh.instance('g.reuse-src.1.0', { userData: 's' });
  await next(src.startup$);
  // a message larger than the ring waits partly in the sender: that part must be a copy
  const big = Buffer.alloc(4 * 1024 * 1024, 7);
  src.sendTo(rRef, big);
  big.fill(9);
  const got = next(receiver.messages$, () => true, 15_000);
  const m = await got;
  assert.is(m.data.length, big.length);
  assert.ok(m.data.every((b) => b === 7), 'the bytes as they were when send() returned');
  await src.close();
  await receiver.close();
});

Sender('sender - an operator that errored stops pulling from its source', async () => {
  const receiver = other.instance('g.pull-recv.1.0', { userData: 'r' }); // never reads
  const rRef = await next(receiver.startup$);
  const src = mesh.instance('g.pull-src.1.0', { userData: 's' });
  await next(src.startup$);
  let pulled = 0;
  const err = await new Promise<unknown>((resolve) => {
    range(0, 200_000).pipe(tap(() => pulled++), toInstance(src, rRef, { maxWaiting: 16, drainTimeoutMs: 200 }))
      .subscribe({ error: resolve, complete: () => resolve(null) });
  });
  assert.instance(err, QueueFullError);
  assert.ok(pulled < 100_000, `${pulled} values pulled after the error`);
  await src.close();
  await receiver.close();
});

Sender.run();
