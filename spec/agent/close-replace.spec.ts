/**
 * An instance that closes, or is replaced, while the agent still holds what it
 * sent: every message it sent is delivered once or reported once before its
 * close completes; a send after it was replaced throws.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Subscription } from 'rxjs';
import { KickedError, QueueFullError, type Instance, type InstanceRef, type Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { seqPayload } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;
let other: Mesh;

const seqOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0, true);

/** Send until `count` were accepted, `stop()` says so, or the ring stayed full for `fullFor` ms. Returns the accepted numbers. */
async function sendUntil(from: Instance, to: InstanceRef, count: number, stop: () => boolean = () => false, fullFor = Infinity): Promise<number[]> {
  const accepted: number[] = [];
  let fullSince = 0;
  for (let i = 0; i < count && !stop(); ) {
    try {
      from.sendTo(to, seqPayload(i));
      accepted.push(i);
      fullSince = 0;
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      fullSince ||= performance.now();
      if (performance.now() - fullSince > fullFor) break;
      await sleep(1);
    }
  }
  return accepted;
}

/** Count deliveries and bounces per sequence number. */
function account(receiver: Instance, sender: Instance): { delivered: Map<number, number>; bounced: Map<number, number>; sub: Subscription } {
  const delivered = new Map<number, number>();
  const bounced = new Map<number, number>();
  const sub = receiver.messages$.subscribe((m) => delivered.set(seqOf(m.data), (delivered.get(seqOf(m.data)) ?? 0) + 1));
  sub.add(sender.undeliverable$.subscribe((u) => bounced.set(seqOf(u.data), (bounced.get(seqOf(u.data)) ?? 0) + 1)));
  return { delivered, bounced, sub };
}

function check(accepted: number[], delivered: Map<number, number>, bounced: Map<number, number>): void {
  const lost = accepted.filter((s) => !delivered.has(s) && !bounced.has(s));
  const both = accepted.filter((s) => delivered.has(s) && bounced.has(s));
  const twice = [...delivered.values(), ...bounced.values()].filter((n) => n > 1).length;
  assert.is(lost.length, 0, `${lost.length} of ${accepted.length} neither delivered nor reported (e.g. ${lost.slice(0, 5).join(', ')})`);
  assert.is(both.length, 0, `${both.length} delivered and reported`);
  assert.is(twice, 0, 'nothing delivered or reported twice');
}

const Close = suite('close and replace');
Close.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  other = await up.connect();
});
Close.after(async () => {
  await mesh?.close();
  await other?.close();
  await up?.stop();
  cleanupShm();
});

Close('close - a sender closing with a backlog at a slow receiver: everything is delivered or reported before close resolves', async () => {
  const receiver = other.instance('g.backlog-recv.1.0', { userData: 'r' });
  const rRef = await next(receiver.startup$);
  const sender = mesh.instance('g.backlog-send.1.0', { userData: 's' });
  await next(sender.startup$);
  const delivered = new Map<number, number>();
  const bounced = new Map<number, number>();
  sender.undeliverable$.subscribe((u) => bounced.set(seqOf(u.data), (bounced.get(seqOf(u.data)) ?? 0) + 1));
  // the receiver does not read: its ring fills, the agent holds the rest, the sender's ring fills
  const accepted = await sendUntil(sender, rRef, 200_000, () => false, 300);
  const closing = sender.close();
  await sleep(100);
  receiver.messages$.subscribe((m) => delivered.set(seqOf(m.data), (delivered.get(seqOf(m.data)) ?? 0) + 1));
  await closing;
  await until(() => accepted.every((s) => delivered.has(s) || bounced.has(s)), 15_000, 'the backlog delivered');
  check(accepted, delivered, bounced);
  await receiver.close();
});

Close('replace - a sender replaced while the agent holds its backlog: everything it sent is delivered or reported', async () => {
  const receiver = other.instance('g.repl-recv.1.0', { userData: 'r' });
  const rRef = await next(receiver.startup$);
  const sender = mesh.instance('g.repl-send.1.0', { userData: 'seat' });
  await next(sender.startup$);
  const { delivered, bounced } = account(receiver, sender);
  let pause = true;
  const slow = receiver.messages$.subscribe(() => {
    if (!pause) return;
    const until = performance.now() + 0.05;
    while (performance.now() < until) { /* a slow receiver: the agent queues for it */ }
  });
  let replaced = false;
  sender.offline$.subscribe((o) => { if (o.reason === 'replaced') replaced = true; });
  const sending = sendUntil(sender, rRef, 60_000, () => replaced);
  await sleep(300);
  const usurper = other.instance('g.repl-send.1.0', { userData: 'seat', conflict: 'replace' });
  await next(usurper.startup$);
  const accepted = await sending.catch((err) => {
    if (err instanceof KickedError) return [];
    throw err;
  });
  pause = false;
  await until(() => replaced, 10_000, 'the sender replaced');
  await sender.close();
  await until(() => accepted.every((s) => delivered.has(s) || bounced.has(s)), 15_000, 'everything accounted for');
  check(accepted, delivered, bounced);
  slow.unsubscribe();
  await usurper.close();
  await receiver.close();
});

Close('replace - a send inside the offline$ handler of a replaced instance throws KickedError', async () => {
  const receiver = other.instance('g.kick-recv.1.0', { userData: 'r' });
  const rRef = await next(receiver.startup$);
  const got: unknown[] = [];
  receiver.messages$.subscribe((m) => got.push(m.value()));
  const sender = mesh.instance('g.kick-send.1.0', { userData: 'seat' });
  await next(sender.startup$);
  const reported: unknown[] = [];
  sender.undeliverable$.subscribe((u) => reported.push(u.value()));
  const outcome = new Promise<unknown>((resolve) => {
    sender.offline$.subscribe((o) => {
      if (o.reason !== 'replaced') return;
      try {
        sender.sendTo(rRef, 'after replace');
        resolve('accepted');
      } catch (err) {
        resolve(err);
      }
    });
  });
  const usurper = other.instance('g.kick-send.1.0', { userData: 'seat', conflict: 'replace' });
  await next(usurper.startup$);
  const r = await outcome;
  await sleep(300);
  if (r === 'accepted') {
    assert.ok(got.includes('after replace') || reported.includes('after replace'), 'an accepted send must be delivered or reported');
  } else {
    assert.instance(r, KickedError, String(r));
  }
  await usurper.close();
  await receiver.close();
});

Close.run();
