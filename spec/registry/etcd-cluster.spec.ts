/**
 * EtcdRegistry when etcd fails: a 3-member cluster losing its leader while
 * registrations and messages flow, and a single etcd down for 5 s. Real etcd
 * processes (spec/helpers/etcd.ts) and a real `rxmesh agent` on etcd.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import { keyOf } from '../../lib/protocol/registry-messages.js';
import { EtcdRegistry, type EtcdRegistryOptions } from '../../lib/registry/etcd-registry.js';
import type { InstanceRecord, WatchEvent } from '../../lib/registry/registry.js';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { GAMES, startAgent, type MeshProcess } from '../helpers/mesh.js';
import { EventLog } from '../helpers/ns.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, waitFor } from '../helpers/wait.js';

const enabled = etcdSpecsEnabled('etcd-cluster.spec.ts');

const test = suite('etcd-cluster');
let etcd: EtcdCluster | undefined;
let clients: EtcdRegistry[] = [];
let meshes: Mesh[] = [];
let agents: MeshProcess[] = [];
let children: Fixture[] = [];

test.after.each(async () => {
  await Promise.allSettled(meshes.map((m) => m.close()));
  await Promise.allSettled(agents.map((a) => a.kill()));
  await Promise.all(children.map((c) => c.kill()));
  await Promise.allSettled(clients.map((c) => c.close()));
  await etcd?.close();
  cleanupShm();
  etcd = undefined;
  clients = [];
  meshes = [];
  agents = [];
  children = [];
});

async function client(agentId: string, options: EtcdRegistryOptions = {}) {
  const log = (m: string): void => {
    if (process.env.RXMESH_SPEC_LOG) process.stderr.write(`[${agentId}] ${m}\n`);
  };
  const r = new EtcdRegistry(etcd!.url, { log, ...options });
  clients.push(r);
  await r.open({ agentId, address: '' }, { kicked: () => {} });
  const record = (service: string, userData: string, localId = 1): InstanceRecord =>
    ({ gameId: 'g', service, userData, agentId, address: '', localId, epoch: 1, online: false });
  const up = async (service: string, userData: string, localId = 1): Promise<InstanceRecord> => {
    const rec = record(service, userData, localId);
    await r.register(rec, 'reject');
    await r.startup(rec);
    return rec;
  };
  return { r, record, up };
}

function believed(snapshot: InstanceRecord[], events: WatchEvent[]): string[] {
  const set = new Map(snapshot.map((r) => [keyOf(r), r.userData]));
  for (const e of events) {
    if (e.kind === 'online') set.set(keyOf(e.instance), e.instance.userData);
    else set.delete(keyOf(e.instance));
  }
  return [...set.values()].sort();
}

test('etcd-cluster - the leader SIGKILLed mid-stream: no registration lost, no watch event missed, messages flow', async () => {
  etcd = await startEtcd(3);
  await etcd.setGames(GAMES);
  const agent = await startAgent(etcd.url);
  agents.push(agent);
  const echoMesh = await agent.connect();
  const callerMesh = await agent.connect();
  meshes.push(echoMesh, callerMesh);
  const echo = echoMesh.instance('g.echo.1.0', { userData: 'e' });
  echo.messages$.subscribe((m) => m.isRequest && m.reply(m.value()));
  await next(echo.startup$);
  const caller = callerMesh.instance('g.caller.1.0', { userData: 'c', watch: ['g.echo.1.0'] });
  await next(caller.startup$);

  const w = await client('watcher');
  const log = new EventLog();
  const watch = await w.r.watch('g', 'g.stream.*.*', log.listener);
  const producers = await Promise.all([client('p1'), client('p2')]);

  let stop = false;
  let replies = 0;
  const messages = (async () => {
    for (let i = 0; !stop; i++) {
      const reply = await caller.request('g.echo.1.0', i, { timeoutMs: 5000 });
      assert.is(reply.value(), i);
      replies++;
    }
  })();
  const registered: string[] = [];
  const stream = Promise.all(producers.map(async (p, n) => {
    for (let i = 0; !stop; i++) {
      const id = `p${n}-${i}`;
      await p.up(`g.stream.${n}.0`, id, i + 1);
      registered.push(id);
      await sleep(5);
    }
  }));

  await waitFor(() => registered.length >= 40, 'registrations before the kill', 10_000);
  const leader = await etcd.leader();
  const before = { registered: registered.length, replies };
  await etcd.kill(leader);
  await waitFor(() => registered.length >= before.registered + 60, 'registrations after the kill', 15_000);
  await waitFor(() => replies >= before.replies + 20, 'replies after the kill', 15_000);
  stop = true;
  await Promise.all([stream, messages]);

  // every registration arrived at the watcher, each exactly once, and its view is the truth
  await waitFor(() => log.events.length >= registered.length, 'every online event', 10_000);
  assert.equal(log.events.filter((e) => e.kind !== 'online'), [], 'no offline events');
  assert.equal(log.events.map((e) => e.instance.userData).sort(), [...registered].sort());
  const fresh = await (await client('fresh')).r.watch('g', 'g.stream.*.*', () => {});
  assert.equal(believed(watch.snapshot, log.events), fresh.snapshot.map((r) => r.userData).sort());
  assert.is(fresh.snapshot.length, registered.length);
});

test('etcd-cluster - etcd down for 5 s: agents recover, registrations are restored, watchers converge', async () => {
  etcd = await startEtcd(1);
  const member = etcd.members[0]!;
  const holder = await client('holder', { leaseTtlMs: 3000, requestTimeoutMs: 1500 });
  await holder.up('g.down.1.0', 'keep', 1);
  const leaving = await holder.up('g.down.1.0', 'leaving', 2);
  await holder.r.register(holder.record('g.down.1.0', 'parked', 3), 'reject');
  const w = await client('watcher', { leaseTtlMs: 3000 });
  const log = new EventLog();
  const watch = await w.r.watch('g', 'g.down.*.*', log.listener);
  assert.equal(watch.snapshot.map((r) => r.userData).sort(), ['keep', 'leaving']);
  const doomed = startFixture('spec/helpers/etcd-agent-child.ts', [etcd.url, 'doomed', 'g.down.2.0', 'dies', '3000']);
  children.push(doomed);
  await doomed.waitFor('ready\n');
  await log.next((e) => e.instance.userData === 'dies');

  await etcd.kill(member);
  const downAt = performance.now();
  await doomed.kill(); // never comes back: its lease must expire once etcd is back
  // a deregistration while etcd is down fails (unavailable) but is not forgotten
  const dereg = await holder.r.deregister(leaving, 'closed').then(() => null, (e: Error) => e);
  assert.ok(dereg, 'deregister fails while etcd is down');
  await sleep(5000 - (performance.now() - downAt));
  await etcd.restart(member);

  const late = await client('late');
  await late.up('g.down.3.0', 'new');
  await log.seen((e) => e.instance.userData === 'new', 'the new instance online', 10_000);
  const dies = await log.seen((e) => e.kind === 'offline' && e.instance.userData === 'dies', 'the dead agent offline', 10_000);
  assert.is(dies.kind === 'offline' && dies.reason, 'agent_lost');
  await log.seen((e) => e.kind === 'offline' && e.instance.userData === 'leaving', 'the deregistration sent at last', 10_000);
  assert.equal(log.about('keep'), [], 'no spurious events for an instance that never went away');
  assert.equal(log.about('parked'), [], 'registered-only stays invisible');

  // the holder still holds what it held: its parked instance can start up
  await holder.r.startup(holder.record('g.down.1.0', 'parked', 3));
  await log.seen((e) => e.instance.userData === 'parked', 'parked online');
  const fresh = await (await client('fresh')).r.watch('g', 'g.down.*.*', () => {});
  assert.equal(believed(watch.snapshot, log.events), fresh.snapshot.map((r) => r.userData).sort());
  assert.equal(believed(watch.snapshot, log.events), ['keep', 'new', 'parked']);
});

if (enabled) test.run();
