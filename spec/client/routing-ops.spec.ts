/** Routing strategies that need an agent (least-loaded, via) and the routing operators, against a real `rxmesh up`. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { firstValueFrom, from, map, of, range, Subject, toArray } from 'rxjs';
import {
  MeshError, RemoteError, request, reply, shardBy, shardRequest, toInstance, toService,
  type Instance, type InstanceRef, type Mesh, type Message, type ReplyOutcome,
} from '../../lib/index.js';
import { internals } from '../../lib/client/internals.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const SVC = 'g.work.1.0';
const ECHO = 'g.echo.1.0';
const SILENT = 'g.silent.1.0';
let up: MeshProcess;
let mesh: Mesh;
let peer: Mesh;
let sender: Instance;
const workers: Instance[] = [];
const got = new Map<string, unknown[]>();
let echo: Instance;
let silent: Instance;
const outcomes: ReplyOutcome<number>[] = [];

const codeOf = async (p: Promise<unknown>): Promise<string> => p.then(() => 'none', (e: unknown) => (e instanceof MeshError ? e.code : `not a MeshError: ${String(e)}`));
const received = (): number => [...got.values()].reduce((a, l) => a + l.length, 0);

const Ops = suite('mesh routing operators');
Ops.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  peer = await up.connect(); // the receiving side: its own connection, bell and pump
  for (const ud of ['w1', 'w2', 'w3']) {
    const w = peer.instance(SVC, { userData: ud });
    w.messages$.subscribe((m) => got.set(ud, [...(got.get(ud) ?? []), m.value()]));
    workers.push(w);
  }
  echo = peer.instance(ECHO, { userData: 'e' });
  // multiples of 3 throw, the rest answer through a Promise or an Observable
  echo.messages$.pipe(reply((m: Message) => {
    const v = m.value<number>();
    if (v % 3 === 0) throw new RangeError(`${v} is a multiple of 3`);
    return v % 3 === 1 ? Promise.resolve(v * 2) : of(v * 2);
  })).subscribe((o) => outcomes.push(o));
  silent = peer.instance(SILENT, { userData: 's' });
  silent.messages$.subscribe(); // reads, never answers
  sender = mesh.instance('g.front.1.0', { userData: 'f' });
  for (const i of [...workers, echo, silent, sender]) await next(i.startup$);
});
Ops.before.each(() => got.clear());
Ops.after(async () => {
  await mesh?.close();
  await peer?.close();
  await up?.stop();
  cleanupShm();
});

Ops('toService - routes round-robin, emits the routed refs, and releases its watch when done', async () => {
  const before = sender.stats();
  const refs = await firstValueFrom(range(0, 300).pipe(toService(sender, SVC), toArray()));
  assert.is(refs.length, 300);
  await until(() => received() === 300, undefined, '300 deliveries');
  for (const w of workers) {
    assert.is(refs.filter((r) => r?.userData === w.userData).length, 100);
    assert.is(got.get(w.userData)!.length, 100);
  }
  assert.equal(sender.stats(), before, 'no watch, request or waiter left');
  assert.throws(() => sender.send(SVC, 1), (e: MeshError) => e.code === 'NOT_WATCHED', 'the watch it held is gone');
});

Ops('toService - unsubscribing releases the watch and the values it held', async () => {
  const before = sender.stats();
  const input = new Subject<number>();
  const refs: (InstanceRef | null)[] = [];
  const sub = input.pipe(toService(sender, SVC, { strategy: 'random' })).subscribe((r) => refs.push(r));
  input.next(1); // before the watch is ready: waits for it
  await until(() => refs.length === 1, undefined, 'the first value sent');
  assert.is(sender.stats().watches, before.watches + 1);
  sub.unsubscribe();
  sub.unsubscribe(); // idempotent
  assert.equal(sender.stats(), before);
});

Ops('toService - consistent-hash without a key errors with BAD_ARGUMENT', async () => {
  const before = sender.stats();
  const code = await codeOf(firstValueFrom(of(1).pipe(toService(sender, SVC, { strategy: 'consistent-hash' }))));
  assert.is(code, 'BAD_ARGUMENT');
  assert.equal(sender.stats(), before);
});

Ops('shardBy - each key always reaches the same instance; keys spread over all', async () => {
  const cmds = Array.from({ length: 600 }, (_, i) => ({ player: `p${i % 60}`, i }));
  const refs = await firstValueFrom(from(cmds).pipe(shardBy(sender, SVC, (c) => c.player), toArray()));
  const owner = new Map<string, string>();
  refs.forEach((r, i) => {
    const p = cmds[i]!.player;
    assert.is(owner.get(p) ?? r!.userData, r!.userData, `${p} stays on one instance`);
    owner.set(p, r!.userData);
  });
  assert.is(new Set(owner.values()).size, 3);
  await until(() => received() === 600, undefined, '600 deliveries');
  for (const [ud, list] of got) for (const c of list as { player: string }[]) assert.is(owner.get(c.player), ud);
});

Ops('toInstance - sends every value to that instance', async () => {
  const target = workers[2]!.ref!;
  const refs = await firstValueFrom(range(0, 50).pipe(toInstance(sender, target), toArray()));
  assert.ok(refs.every((r) => r === target));
  await until(() => received() === 50, undefined, '50 deliveries');
  assert.equal(got.get('w3'), Array.from({ length: 50 }, (_, i) => i), 'all of them, in order');
});

Ops('reply - survives a throwing handler: error replies, then more replies', async () => {
  await sender.service$(ECHO);
  const settled = await Promise.allSettled(Array.from({ length: 30 }, (_, v) => sender.request(ECHO, v, { timeoutMs: 5000 })));
  settled.forEach((s, v) => {
    if (v % 3 === 0) {
      assert.is(s.status, 'rejected');
      const e = (s as PromiseRejectedResult).reason as Error;
      assert.instance(e, RemoteError);
      assert.match(e.message, 'multiple of 3');
    } else {
      assert.is(s.status, 'fulfilled');
      assert.is((s as PromiseFulfilledResult<Message>).value.value(), v * 2);
    }
  });
  await until(() => outcomes.length === 30, undefined, '30 outcomes');
  assert.is(outcomes.filter((o) => !o.ok).length, 10);
});

Ops('reply - answers requests only: a plain message gets no answer, and its outcome says why', async () => {
  const before = outcomes.length;
  const stray: unknown[] = [];
  const sub = sender.messages$.subscribe((m) => stray.push(m.value()));
  try {
    sender.sendTo(echo.ref!, 5); // a plain message: the handler must not see it, nothing comes back
    const r = await sender.request(echo.ref!, 4, { timeoutMs: 5000 }); // FIFO: the plain message was handled first
    assert.is(r.value(), 8);
    await until(() => outcomes.length === before + 2, undefined, 'two outcomes');
    const plain = outcomes[before]!;
    if (plain.ok) return assert.unreachable('the plain message was answered');
    assert.is(plain.message.value(), 5);
    assert.is((plain.error as MeshError).code, 'BAD_ARGUMENT');
    assert.match(plain.error.message, 'reply() answers requests only');
    assert.equal(stray, [], 'no stray message sent back');
  } finally {
    sub.unsubscribe();
  }
});

Ops('shardRequest - each key is always answered by the same instance; keys spread over all; nothing left pending', async () => {
  const SHARD = 'g.shard.1.0';
  const shards = ['s1', 's2', 's3'].map((ud) => {
    const inst = peer.instance(SHARD, { userData: ud });
    inst.messages$.pipe(reply((m: Message) => ({ shard: ud, player: m.value<{ player: string }>().player }))).subscribe();
    return inst;
  });
  try {
    for (const s of shards) await next(s.startup$);
    const before = sender.stats();
    const cmds = Array.from({ length: 600 }, (_, i) => ({ player: `p${i % 60}`, i }));
    const replies = await firstValueFrom(from(cmds).pipe(shardRequest(sender, SHARD, (c) => c.player, { concurrency: 16 }), toArray()));
    assert.is(replies.length, 600);
    const owner = new Map<string, string>();
    for (const r of replies) {
      const { shard, player } = r.value<{ shard: string; player: string }>();
      assert.is(r.from.userData, shard, 'the reply comes from the shard that answered');
      assert.is(owner.get(player) ?? shard, shard, `${player} stays on one shard`);
      owner.set(player, shard);
    }
    assert.is(owner.size, 60);
    assert.is(new Set(owner.values()).size, 3, 'keys spread over all shards');
    const viaShardBy = await firstValueFrom(from(cmds.slice(0, 60)).pipe(shardBy(sender, SHARD, (c) => c.player), toArray()));
    viaShardBy.forEach((ref, i) => assert.is(ref!.userData, owner.get(cmds[i]!.player), 'the same owner as shardBy picks'));
    assert.equal(sender.stats(), before, 'no watch, request or waiter left');
  } finally {
    for (const s of shards) await s.close();
  }
});

Ops('request - each value becomes a request; replies in order; nothing left pending', async () => {
  const replies = await firstValueFrom(of(1, 2, 4, 5).pipe(request(sender, ECHO, { timeoutMs: 5000 }), toArray()));
  assert.equal(replies.map((m) => m.value()), [2, 4, 8, 10]);
  const byRef = await firstValueFrom(of(7).pipe(request(sender, echo.ref!), toArray()));
  assert.equal(byRef.map((m) => m.value()), [14]);
  assert.is(sender.stats().pendingRequests, 0);
});

Ops('request - errors propagate as MeshError codes: REMOTE, TIMEOUT, NO_ROUTE', async () => {
  assert.is(await codeOf(firstValueFrom(of(3).pipe(request(sender, ECHO)))), 'REMOTE');
  assert.is(await codeOf(firstValueFrom(of(1).pipe(request(sender, SILENT, { timeoutMs: 100 })))), 'TIMEOUT');
  assert.is(await codeOf(firstValueFrom(of(1).pipe(request(sender, 'g.nobody.1.0')))), 'NO_ROUTE');
  const s = sender.stats();
  assert.is(s.pendingRequests, 0);
  assert.is(s.writeWaiters, 0);
});

Ops('request - unsubscribing cancels pending requests with their timers and releases the watch', async () => {
  const before = sender.stats();
  const sub = of(1, 2, 3).pipe(request(sender, SILENT, { timeoutMs: 60_000, concurrency: 3 })).subscribe({ error: () => assert.unreachable('no error after unsubscribe') });
  await until(() => sender.stats().pendingRequests === 3, undefined, 'three requests in flight');
  sub.unsubscribe();
  assert.equal(sender.stats(), before);
});

Ops('least-loaded - prefers the instance whose ring is empty (depths reported by the agent)', async () => {
  const SVC2 = 'g.ll.1.0';
  const busy = peer.instance(SVC2, { userData: 'busy' }); // never reads: its ring fills
  const idle = peer.instance(SVC2, { userData: 'idle' });
  let idleGot = 0;
  idle.messages$.subscribe(() => idleGot++);
  const s = mesh.instance('g.ll-front.1.0', { userData: 'f', watch: [SVC2] });
  for (const i of [busy, idle, s]) await next(i.startup$);
  for (let i = 0; i < 20; i++) s.sendTo(busy.ref!, new Uint8Array(1024));
  s.sendTo(idle.ref!, 'one'); // the idle one reads it: its depth goes back to 0
  await until(() => s.load(busy.ref!) > 0 && idleGot === 1 && s.load(idle.ref!) === 0, undefined, 'load reports');
  const routed = Array.from({ length: 100 }, (_, i) => s.send(SVC2, i, { strategy: 'least-loaded' })!.userData);
  assert.ok(routed.every((ud) => ud === 'idle'), `routed to ${[...new Set(routed)].join(', ')}`);
  await until(() => idleGot === 101, undefined, '100 deliveries');
  await Promise.all([busy.close(), idle.close(), s.close()]);
});

Ops('via - sticks while online; falls back to the strategy once that instance is offline', async () => {
  const SVC3 = 'g.sticky.1.0';
  const [r1, r2] = ['r1', 'r2'].map((ud) => peer.instance(SVC3, { userData: ud }));
  const s = mesh.instance('g.sticky-front.1.0', { userData: 'f', watch: [SVC3] });
  for (const i of [r1!, r2!, s]) await next(i.startup$);
  const first = s.send(SVC3, 0)!;
  for (let i = 0; i < 10; i++) assert.is(s.send(SVC3, i, { via: first }), first);
  const stays = first.userData === 'r1' ? r2! : r1!;
  const gone = next(s.offline$, (o) => o.instance.id === first.id);
  await (first.userData === 'r1' ? r1! : r2!).close();
  await gone;
  const again = s.send(SVC3, 11, { via: first })!;
  assert.is(again.id, stays.ref!.id, 'the strategy picked the one still online');
  assert.is(s.send(SVC3, 12, { via: again }), again, 'and the new ref sticks');
  assert.throws(() => s.send(SVC3, 13, { via: workers[0]!.ref! }), (e: MeshError) => e.code === 'BAD_ARGUMENT', 'via of another service');
  await Promise.all([stays.close(), s.close()]);
});

Ops('backpressure - a full ring makes the operator wait for it to drain, then all arrive in order', async () => {
  const slow = peer.instance('g.slow.1.0', { userData: 'slow' }); // starts reading only later
  const s = mesh.instance('g.fast.1.0', { userData: 'f' });
  for (const i of [slow, s]) await next(i.startup$);
  const COUNT = 6000; // ~6 MB of 1 KiB messages: far more than the rings and batches hold
  const payload = (i: number): Uint8Array => {
    const p = new Uint8Array(1024);
    new DataView(p.buffer).setUint32(0, i, true);
    return p;
  };
  let emitted = 0;
  const done = firstValueFrom(range(0, COUNT).pipe(map(payload), toInstance(s, slow.ref!, { maxWaiting: COUNT, drainTimeoutMs: 30_000 }), toArray()))
    .then((refs) => (emitted = refs.length));
  await until(() => s.stats().writeWaiters === 1, undefined, 'the operator waiting on a full ring');
  let expected = 0;
  let bad = 0;
  slow.messages$.subscribe((m) => {
    if (new DataView(m.data.buffer, m.data.byteOffset).getUint32(0, true) !== expected) bad++;
    expected++;
  });
  await done;
  await until(() => expected === COUNT, 30_000, `${COUNT} deliveries`);
  assert.is(emitted, COUNT);
  assert.is(bad, 0, 'in order, none lost');
  assert.is(s.stats().writeWaiters, 0);
  await Promise.all([slow.close(), s.close()]);
});

Ops('backpressure - the wait is bounded: a ring that never drains errors with QUEUE_FULL', async () => {
  const stuck = peer.instance('g.stuck.1.0', { userData: 'stuck' }); // never reads
  const s = mesh.instance('g.fast.1.0', { userData: 'g' });
  for (const i of [stuck, s]) await next(i.startup$);
  const kib = new Uint8Array(1024);
  const code = await codeOf(firstValueFrom(range(0, 10_000).pipe(map(() => kib), toInstance(s, stuck.ref!, { maxWaiting: 10_000, drainTimeoutMs: 200 }), toArray())));
  assert.is(code, 'QUEUE_FULL');
  assert.is(s.stats().writeWaiters, 0, 'its timer is gone');
  const overflow = await codeOf(firstValueFrom(range(0, 10_000).pipe(map(() => kib), toInstance(s, stuck.ref!, { maxWaiting: 10 }), toArray())));
  assert.is(overflow, 'QUEUE_FULL', 'more values waiting than maxWaiting');
  await Promise.all([s.close(), stuck.close()]);
});

Ops('holdWatch - leases are shared and counted; a service$ watch outlives them', async () => {
  const s = mesh.instance('g.lease.1.0', { userData: 'l' });
  await next(s.startup$);
  const [a, b] = await Promise.all([internals(s).holdWatch(SVC), internals(s).holdWatch(SVC)]);
  assert.is(s.stats().watches, 1, 'one watch for two holders');
  a!();
  a!();
  assert.ok(s.send(SVC, 'still held'));
  await s.service$(SVC);
  b!();
  assert.is(s.stats().watches, 1, 'the service$ watch');
  assert.ok(s.send(SVC, 'watched for good'));
  await s.close();
  await until(() => received() === 2, undefined, '2 deliveries');
});

Ops('holdWatch - released and held again at once, the service stays routable (a release in flight covers nothing)', async () => {
  const first = await internals(sender).holdWatch(SVC);
  first();
  const second = await internals(sender).holdWatch(SVC); // the first one's unwatch is still in flight
  try {
    await new Promise((r) => setImmediate(r));
    assert.ok(sender.send(SVC, 1), 'routed');
    await until(() => received() === 1, undefined, 'delivered');
  } finally {
    second();
  }
});

Ops('operators - a closed instance errors the stream with CLOSED', async () => {
  const s = mesh.instance('g.closing.1.0', { userData: 'c' });
  await next(s.startup$);
  await s.close();
  assert.is(await codeOf(firstValueFrom(of(1).pipe(toInstance(s, workers[0]!.ref!)))), 'CLOSED');
  assert.is(await codeOf(firstValueFrom(of(1).pipe(toService(s, SVC)))), 'CLOSED');
  assert.is(await codeOf(firstValueFrom(of(1).pipe(request(s, workers[0]!.ref!)))), 'CLOSED');
});

Ops.run();
