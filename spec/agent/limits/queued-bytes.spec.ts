/**
 * Bytes queued in the agent per app connection and per game: while the
 * instances of an app (or a game) that do not read have the limit waiting in
 * the agent, new messages to any of them are refused (undeliverable reason
 * `limit`, a request rejects with LimitError); other apps and games go on,
 * and once the app reads again its instances take messages again.
 *
 * Rings of 16 KiB: a sender's own tx ring holds about 15 KiB of its messages
 * unsettled, so one sender can make at most that wait for one receiver.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type InstanceRef, type Mesh, type Undeliverable } from '../../../lib/index.js';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';
import { assertLimit, roundTrip } from './fixtures.js';

const PAYLOAD = new Uint8Array(1024);
let up: MeshProcess;

const Queued = suite('limits queued bytes');
Queued.before(async () => {
  up = await startUp({
    fullMs: 60_000, // no stall refusals (queue_full) while a spec runs
    // every message through the agent: pair rings hold nothing in the agent (a full one is the sender's QueueFullError)
    args: ['--ring-bytes', '16384', '--max-queued-bytes-per-app', '20000', '--max-queued-bytes-per-game', '24000', '--max-pairs-per-instance', '0'],
  });
});
Queued.after(async () => {
  await up?.stop();
  cleanupShm();
});

async function instances(mesh: Mesh, names: string[]): Promise<Instance[]> {
  const out = names.map((u) => mesh.instance('g.box.1.0', { userData: u }));
  for (const i of out) await next(i.startup$);
  return out;
}

function reasons(inst: Instance): Undeliverable['reason'][] {
  const seen: Undeliverable['reason'][] = [];
  inst.undeliverable$.subscribe((u) => seen.push(u.reason));
  return seen;
}

/** Send 1 KiB messages from `s` to `to` until `stop()` or until its tx ring stays full (nothing more is taken). */
async function fill(s: Instance, to: InstanceRef, stop: () => boolean = () => false): Promise<void> {
  let full = 0;
  for (let sent = 0; full < 40 && !stop() && sent < 2000;) {
    try {
      s.sendTo(to, PAYLOAD);
      sent++;
      full = 0;
      if (sent % 4 === 0) await sleep(1);
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      full++;
      await sleep(25);
    }
  }
}

Queued('limits - an app past --max-queued-bytes-per-app: new messages to its instances are refused (limit); others go on', async () => {
  const receiver = await up.connect();
  const sender = await up.connect();
  const bystander = await up.connect();
  const [r1, r2, r3] = await instances(receiver, ['r1', 'r2', 'r3']);
  const [s1, s2, s3] = await instances(sender, ['s1', 's2', 's3']);
  const [b1] = await instances(bystander, ['b1']);
  const seen1 = reasons(s1!);
  const seen2 = reasons(s2!);
  const seen3 = reasons(s3!);

  await fill(s1!, r1!.ref!); // r1 does not read: its ring fills, then about 15 KiB wait in the agent
  await fill(s2!, r2!.ref!, () => seen2.includes('limit')); // r2 too, until the app's 20000 bytes are waiting
  await until(() => seen2.includes('limit'), 20_000, "a 'limit' report for s2");
  assert.not.ok(seen1.includes('limit'), 'what waited before the limit was not refused');

  // (asked by s3: s2's own tx ring may be full of messages read behind the ones still waiting for r2, which keep
  // it from being released, so s2's request could not even reach the agent until those settle)
  const err = await s3!.request(r2!.ref!, 'q', { timeoutMs: 10_000 }).then(() => null, (e: Error) => e);
  assertLimit(err, /undeliverable: limit/);
  s3!.sendTo(r3!.ref!, PAYLOAD); // another instance of the same app: refused too
  await until(() => seen3.includes('limit'), 10_000, "a 'limit' report for s3");
  await roundTrip(s3!, b1!); // another app of the same game is not held up
  assert.is(up.fixture.child.exitCode, null, 'the agent is up');

  // the app reads again: what waited is delivered, and its instances take new messages
  let got = 0;
  for (const r of [r1!, r2!]) r.messages$.subscribe(() => {});
  r3!.messages$.subscribe(() => got++);
  for (let i = 0; got === 0 && i < 400; i++) {
    s3!.sendTo(r3!.ref!, PAYLOAD);
    await sleep(25);
  }
  assert.ok(got > 0, 'r3 takes messages again once its app has read');
  await Promise.all([receiver.close(), sender.close(), bystander.close()]);
});

Queued('limits - a game past --max-queued-bytes-per-game: new messages to its apps are refused (limit); another game is not', async () => {
  const p = await up.connect();
  const q = await up.connect();
  const sender = await up.connect();
  const [p1] = await instances(p, ['p1']);
  const [q1] = await instances(q, ['q1']);
  const [s1, s2] = await instances(sender, ['gs1', 'gs2']);
  const seen2 = reasons(s2!);
  await fill(s1!, p1!.ref!); // app p: about 15 KiB waiting, under its own limit
  await fill(s2!, q1!.ref!, () => seen2.includes('limit')); // app q: under its own limit too, but the game reaches 24000
  await until(() => seen2.includes('limit'), 20_000, "a 'limit' report for gs2");

  const other = await up.connect('other');
  const o1 = other.instance('other.box.1.0', { userData: 'o1' });
  const o2 = other.instance('other.box.1.0', { userData: 'o2' });
  await next(o1.startup$);
  await next(o2.startup$);
  await roundTrip(o1, o2);
  await Promise.all([p.close(), q.close(), sender.close(), other.close()]);
});

Queued.run();
