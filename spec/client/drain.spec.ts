/**
 * Graceful drain (client/drain.ts) on real agents: two agents on one name
 * server (two hosts), watchers on both, requesters that had not seen the
 * offline yet, and the request re-route that covers a late one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BadArgumentError, ClosedError, NoRouteError, type Instance, type InstanceRef, type Mesh, type OfflineInfo, type Undeliverable } from '../../lib/index.js';
import { OfflineReason, reasonFor } from '../../lib/protocol/registry-messages.js';
import { decodeInstance, encodeInstance, instancePath } from '../../lib/registry/etcd-keys.js';
import { startTwoHosts, type TwoHosts } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, refusal, sleep, until } from '../helpers/wait.js';

let hosts: TwoHosts;
let mesh1: Mesh;
let mesh2: Mesh;
let gw: Instance;
let far: Instance;
let n = 0;

const SVC = 'g.scene.1.0';

/** A scene on mesh1 answering every request after `delayMs` (0: at once); `read: false` reads nothing. */
async function scene(opts: { delayMs?: number; read?: boolean; mesh?: Mesh } = {}): Promise<{ inst: Instance; ref: InstanceRef; served: () => number }> {
  const inst = (opts.mesh ?? mesh1).instance(SVC, { userData: `s${++n}` });
  const ref = await next(inst.startup$);
  let served = 0;
  if (opts.read !== false) {
    inst.messages$.subscribe((m) => {
      const answer = (): void => {
        served++;
        m.reply({ by: ref.userData, x: m.value() });
      };
      if (opts.delayMs) setTimeout(answer, opts.delayMs);
      else answer();
    });
  }
  await until(() => online(gw, ref), 10_000, `${ref.id} online at the gateway`);
  await until(() => online(far, ref), 10_000, `${ref.id} online on the other agent`);
  return { inst, ref, served: () => served };
}

const views = new Map<Instance, Set<string>>();
const online = (inst: Instance, ref: InstanceRef): boolean => views.get(inst)?.has(ref.id) ?? false;
function track(inst: Instance): void {
  const set = new Set<string>();
  views.set(inst, set);
  inst.members$(SVC).subscribe((refs) => {
    set.clear();
    for (const r of refs) set.add(r.id);
  });
}

const offlineOf = (inst: Instance, ref: InstanceRef): Promise<OfflineInfo> => next(inst.offline$, (o) => o.instance.id === ref.id);

const Drain = suite('client drain');
Drain.before(async () => {
  hosts = await startTwoHosts();
  [mesh1, mesh2] = hosts.meshes;
  gw = mesh1.instance('g.gate.1.0', { userData: 'gw', watch: ['g.scene.*.*'] });
  far = mesh2.instance('g.gate.1.0', { userData: 'far', watch: ['g.scene.*.*'] });
  await next(gw.startup$);
  await next(far.startup$);
  track(gw);
  track(far);
});
Drain.after(async () => {
  await hosts?.stop();
  cleanupShm();
});

Drain('drain - watchers on the same agent and on another agent see it offline, reason draining', async () => {
  const s = await scene();
  const here = offlineOf(gw, s.ref);
  const there = offlineOf(far, s.ref);
  const done = s.inst.drain({ quietMs: 50 });
  assert.is((await here).reason, 'draining');
  assert.is((await there).reason, 'draining');
  await done;
});

Drain('drain - stateless sends pick the others at once; a sticky via falls back', async () => {
  const a = await scene({ delayMs: 5 });
  const b = await scene({ delayMs: 5 });
  const seen = offlineOf(gw, a.ref);
  const done = a.inst.drain({ quietMs: 100 });
  await seen;
  const via = gw.send(SVC, 'sticky', { via: a.ref });
  assert.is(via?.id, b.ref.id, 'via a draining instance falls back to the strategy');
  for (let i = 0; i < 6; i++) assert.is(gw.send(SVC, i)?.id, b.ref.id, 'round-robin skips the draining instance');
  await done;
  await b.inst.close();
});

Drain('drain - what was sent to it before and after its offline is still answered, then it closes', async () => {
  const s = await scene({ delayMs: 30 });
  const before = Array.from({ length: 20 }, (_, i) => gw.request(s.ref, i, { timeoutMs: 5000 }));
  const seen = offlineOf(gw, s.ref);
  const done = s.inst.drain({ quietMs: 150 });
  await seen;
  // a sender that still holds its address: it is still a destination until it closes
  const after = gw.request(s.ref, 'late', { timeoutMs: 5000 });
  const replies = await Promise.all([...before, after]);
  assert.equal(replies.map((m) => m.value<{ x: unknown }>().x), [...Array.from({ length: 20 }, (_, i) => i), 'late']);
  assert.is(s.served(), 21);
  await done;
  assert.instance(await refusal(s.inst.request(SVC, 1)), ClosedError, 'closed once drained');
});

Drain('drain - at timeoutMs it closes anyway and what is unread is bounced to the sender', async () => {
  const s = await scene({ read: false }); // nobody takes its messages: they wait in its ring
  const bounced: Undeliverable[] = [];
  const sub = gw.undeliverable$.subscribe((u) => bounced.push(u));
  for (let i = 0; i < 5; i++) gw.sendTo(s.ref, i);
  const t0 = performance.now();
  await s.inst.drain({ timeoutMs: 300, quietMs: 50 });
  const took = performance.now() - t0;
  assert.ok(took >= 290, `waited for the timeout (${took.toFixed(0)} ms)`);
  await until(() => bounced.length === 5, 5000, 'five bounces');
  assert.equal(bounced.map((u) => [u.reason, u.value()]), [0, 1, 2, 3, 4].map((i) => ['offline', i]));
  sub.unsubscribe();
});

Drain('drain - twice is the same promise; on a closed instance it is close(); bad options are refused', async () => {
  const s = await scene();
  assert.instance(await refusal(s.inst.drain({ timeoutMs: -1 })), BadArgumentError);
  assert.instance(await refusal(s.inst.drain({ quietMs: Number.NaN })), BadArgumentError);
  const d1 = s.inst.drain({ quietMs: 20 });
  const d2 = s.inst.drain();
  assert.ok(d1 === d2, 'the same promise');
  await d1;
  await s.inst.drain(); // closed: resolves
  const t = await scene();
  const closing = t.inst.close();
  await t.inst.drain(); // while closing: resolves with the close
  await closing;
});

Drain('drain - a draining instance still sends and requests, and gets its replies', async () => {
  const echo = mesh1.instance('g.echo.1.0', { userData: 'e' }); // (a ref is of the agent that handed it out: same mesh)
  const echoRef = await next(echo.startup$);
  echo.messages$.subscribe((m) => m.reply(`echo ${String(m.value())}`));
  const s = await scene({ delayMs: 200 }); // a request in its handler keeps it draining
  const held = gw.request(s.ref, 'keep', { timeoutMs: 5000 });
  await sleep(50); // in its handler now
  const seen = offlineOf(gw, s.ref);
  const done = s.inst.drain({ quietMs: 50 });
  await seen;
  const reply = await s.inst.request(echoRef, 'from a draining one', { timeoutMs: 5000 });
  assert.is(reply.value(), 'echo from a draining one');
  await held;
  await done;
  await echo.close();
});

Drain('drain - its name is free at once: a successor registers it (conflict reject) while it drains', async () => {
  const s = await scene({ delayMs: 300 });
  const held = gw.request(s.ref, 'x', { timeoutMs: 5000 });
  const seen = offlineOf(gw, s.ref);
  const done = s.inst.drain({ quietMs: 50 });
  await seen;
  const successor = mesh1.instance(SVC, { userData: s.ref.userData, conflict: 'reject' });
  const ref = await next(successor.startup$);
  assert.is(ref.id, s.ref.id);
  assert.is((await held).value<{ by: string }>().by, s.ref.userData);
  await done;
  await sleep(50);
  assert.ok(online(gw, ref), 'the old one closing does not take the successor offline');
  await successor.close();
});

Drain('reroute - with reroute:true a request to a service bounced offline goes once to another instance; by default it rejects', async () => {
  const mute = await scene({ read: false }); // holds what it gets: bounced offline (never handed out) when it closes
  const live = await scene();
  const p = gw.request(SVC, 'r1', { via: mute.ref, timeoutMs: 5000, reroute: true });
  const q = refusal(gw.request(SVC, 'r2', { via: mute.ref, timeoutMs: 5000 }));
  const reported: Undeliverable[] = [];
  const sub = gw.undeliverable$.subscribe((u) => reported.push(u));
  await sleep(50);
  await mute.inst.close();
  const m = await p;
  assert.equal(m.value(), { by: live.ref.userData, x: 'r1' });
  assert.instance(await q, NoRouteError);
  await sleep(50);
  assert.equal(reported.map((u) => u.value()), ['r2'], 'only the one not re-sent is reported');
  sub.unsubscribe();
  await live.inst.close();
});

Drain('mesh.drain - drains every instance (watchers see draining), then closes the mesh', async () => {
  const mesh3 = await hosts.agents[0].connect();
  const a = await scene({ mesh: mesh3, delayMs: 20 });
  const b = await scene({ mesh: mesh3, delayMs: 20 });
  const replies = [a, b].map((s) => gw.request(s.ref, 'q', { timeoutMs: 5000 }));
  const offs = [offlineOf(far, a.ref), offlineOf(far, b.ref)];
  const d = mesh3.drain({ quietMs: 50 });
  assert.ok(mesh3.drain() === d, 'the same promise');
  assert.equal((await Promise.all(offs)).map((o) => o.reason), ['draining', 'draining']);
  assert.is((await Promise.all(replies)).length, 2);
  await d;
  assert.throws(() => mesh3.instance(SVC, { userData: 'late' }), (e: Error) => e instanceof ClosedError);
});

Drain('drain - a peer that did not name the draining capability is told closed (an older build refuses the word)', () => {
  assert.is(reasonFor(OfflineReason.DRAINING, ['uptime']), 'closed');
  assert.is(reasonFor(OfflineReason.DRAINING, ['draining']), 'draining');
  assert.is(reasonFor(OfflineReason.CRASHED, []), 'crashed');
  // etcd: the tombstone an older agent reads says closed, a new one reads draining
  const record = { gameId: 'g', service: SVC, userData: 'u', agentId: 'a', address: '', localId: 1, epoch: 2, online: true };
  const value = encodeInstance(record, { online: true, offline: OfflineReason.DRAINING });
  assert.is((JSON.parse(value.toString()) as { offline: string }).offline, 'closed');
  assert.is(decodeInstance(instancePath(record), value)?.offline, 'draining');
  assert.is(decodeInstance(instancePath(record), encodeInstance(record, { online: true, offline: OfflineReason.CLOSED }))?.offline, 'closed');
});

Drain.run();
