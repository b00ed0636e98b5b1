/**
 * EtcdRegistry against a real etcd (spec/helpers/etcd.ts): the shared
 * registry contract, then what is particular to etcd (URLs, lease expiry of
 * a SIGKILLed agent, a lost lease, compaction, unreachable etcd, games set).
 * The cluster and downtime specs are in etcd-cluster.spec.ts.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { RegistryUnavailableError } from '../../lib/protocol/errors.js';
import { keyOf } from '../../lib/protocol/registry-messages.js';
import { EtcdRegistry, parseEtcdUrl, type EtcdRegistryOptions } from '../../lib/registry/etcd-registry.js';
import type { InstanceRecord, WatchEvent } from '../../lib/registry/registry.js';
import { etcdSpecsEnabled, startEtcd, type EtcdCluster } from '../helpers/etcd.js';
import { EventLog } from '../helpers/ns.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { CONTRACT_GAMES, registryContract } from './contract.js';

const enabled = etcdSpecsEnabled('etcd-registry.spec.ts');

const contract = registryContract('etcd', async () => {
  const etcd = await startEtcd(1);
  await etcd.setGames(CONTRACT_GAMES);
  const clients: EtcdRegistry[] = [];
  return {
    registry: () => {
      const r = new EtcdRegistry(etcd.url, { requestTimeoutMs: 3000 });
      clients.push(r);
      return r;
    },
    close: async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      await etcd.close();
    },
  };
});
if (enabled) contract.run();

// --- EtcdRegistry specifics -----------------------------------------------------

const TTL = 1000;
const test = suite('etcd-registry');
let etcd: EtcdCluster;
let clients: EtcdRegistry[] = [];
let children: Fixture[] = [];

test.before(async () => {
  etcd = await startEtcd(1);
  await etcd.setGames(CONTRACT_GAMES);
});
test.after.each(async () => {
  await Promise.all(children.map((c) => c.kill()));
  await Promise.allSettled(clients.map((c) => c.close()));
  children = [];
  clients = [];
});
test.after(async () => {
  await etcd.close();
});

async function client(agentId: string, options: EtcdRegistryOptions = {}) {
  const log = (m: string): void => {
    if (process.env.RXMESH_SPEC_LOG) process.stderr.write(`[${agentId}] ${m}\n`);
  };
  const r = new EtcdRegistry(etcd.url, { requestTimeoutMs: 3000, leaseTtlMs: TTL, log, ...options });
  clients.push(r);
  const kicks: Array<InstanceRecord & { by: InstanceRecord }> = [];
  await r.open({ agentId, address: '' }, { kicked: (i, by) => kicks.push({ ...i, by }) });
  const record = (service: string, userData: string, localId = 1): InstanceRecord =>
    ({ gameId: 'cg', service, userData, agentId, address: '', localId, epoch: 1, online: false });
  const up = async (service: string, userData: string, localId = 1): Promise<InstanceRecord> => {
    const rec = record(service, userData, localId);
    await r.register(rec, 'reject');
    await r.startup(rec);
    return rec;
  };
  return { r, kicks, record, up };
}

/** Apply events to a snapshot: the set a watcher believes is online. */
function believed(snapshot: InstanceRecord[], events: WatchEvent[]): string[] {
  const set = new Map(snapshot.map((r) => [keyOf(r), r.userData]));
  for (const e of events) {
    if (e.kind === 'online') set.set(keyOf(e.instance), e.instance.userData);
    else set.delete(keyOf(e.instance));
  }
  return [...set.values()].sort();
}

const CHILD = fileURLToPath(new URL('../helpers/etcd-agent-child.ts', import.meta.url));

test('etcd-registry - parses etcd:// URLs', () => {
  assert.equal(parseEtcdUrl('etcd://h1:2379,h2:2380,10.0.0.3'), ['http://h1:2379', 'http://h2:2380', 'http://10.0.0.3:2379']);
  assert.equal(parseEtcdUrl('etcd://[::1]:2379'), ['http://[::1]:2379']);
  for (const bad of ['ns://h:1', 'etcd://', 'etcd://h:1,,h:2', 'etcd://h:99999', 'etcd://u@h:1', 'h1:2379']) {
    assert.throws(() => parseEtcdUrl(bad), /etcd URL/, bad);
  }
});

test('etcd-registry - open fails with RegistryUnavailableError when etcd does not answer', async () => {
  const r = new EtcdRegistry('etcd://127.0.0.1:1', { requestTimeoutMs: 600, callTimeoutMs: 200 });
  clients.push(r);
  try {
    await r.open({ agentId: 'nobody', address: '' }, { kicked: () => {} });
    assert.unreachable('open should fail');
  } catch (err) {
    assert.instance(err, RegistryUnavailableError);
  }
});

test('etcd-registry - lease expiry: a SIGKILLed agent goes offline (agent_lost) within TTL + 1 s', async () => {
  const w = await client('watcher');
  const log = new EventLog();
  await w.r.watch('cg', 'cg.lease.*.*', log.listener);
  const child = startFixture(CHILD, [etcd.url, 'doomed', 'cg.lease.1.0', 'victim', String(TTL)]);
  children.push(child);
  await child.waitFor('ready\n');
  await log.next((e) => e.kind === 'online' && e.instance.userData === 'victim', 'the child online', 5000);
  await child.kill();
  const e = await log.next((ev) => ev.kind === 'offline', 'offline after SIGKILL', TTL + 1000);
  assert.is(e.instance.userData, 'victim');
  assert.is(e.kind === 'offline' && e.reason, 'agent_lost');
});

test('etcd-registry - keepalives hold a lease well past its TTL', async () => {
  const w = await client('watcher');
  const log = new EventLog();
  await w.r.watch('cg', 'cg.beat.*.*', log.listener);
  const a = await client('beating');
  await a.up('cg.beat.1.0', 'alive');
  await log.next();
  await sleep(2500);
  assert.equal(log.events.map((e) => e.kind), ['online']);
});

test('etcd-registry - a lost lease: a new one is granted and every instance registered again', async () => {
  const a = await client('loser');
  await a.up('cg.lost.1.0', 'on', 1);
  await a.r.register(a.record('cg.lost.1.0', 'parked', 2), 'reject');
  const w = await client('watcher');
  const log = new EventLog();
  const watch = await w.r.watch('cg', 'cg.lost.*.*', log.listener);
  assert.equal(watch.snapshot.map((r) => r.userData), ['on']);
  // Revoke a's lease behind its back: its keys vanish, its keepalive learns the lease is gone.
  const leases = await (a.r as unknown as { client: { leaseClient: { leaseLeases(x: object): Promise<{ leases: Array<{ ID: string }> }> } } }).client.leaseClient.leaseLeases({});
  const mine = (a.r as unknown as { leaseId: string }).leaseId;
  assert.ok(leases.leases.some((l) => l.ID === mine));
  await (a.r as unknown as { client: { leaseClient: { leaseRevoke(x: object): Promise<unknown> } } }).client.leaseClient.leaseRevoke({ ID: mine });
  const off = await log.next((e) => e.kind === 'offline', 'offline on revoke');
  assert.is(off.kind === 'offline' && off.reason, 'agent_lost');
  const back = await log.next((e) => e.kind === 'online', 'online again on the new lease', 5000);
  assert.is(back.instance.userData, 'on');
  assert.equal(a.kicks, []);
  // the parked one is registered again (a startup works) and the agent works on
  await a.r.startup(a.record('cg.lost.1.0', 'parked', 2));
  await log.next((e) => e.kind === 'online' && e.instance.userData === 'parked', 'parked online');
  assert.ok((a.r as unknown as { leaseId: string }).leaseId !== mine, 'a new lease');
});

test('etcd-registry - a lease lost between register and startup: the startup waits for the new lease, not NOT_FOUND', async () => {
  // A long TTL: the keepalive does not notice the revoke before the startup's write does (the startup must).
  const a = await client('between', { leaseTtlMs: 30_000 });
  const rec = a.record('cg.between.1.0', 'x', 1);
  await a.r.register(rec, 'reject');
  const w = await client('watcher');
  const log = new EventLog();
  await w.r.watch('cg', 'cg.between.*.*', log.listener);
  const mine = (a.r as unknown as { leaseId: string }).leaseId;
  await (a.r as unknown as { client: { leaseClient: { leaseRevoke(x: object): Promise<unknown> } } }).client.leaseClient.leaseRevoke({ ID: mine });
  await a.r.startup(rec); // its key went with the lease; the registration is still ours to restore
  const on = await log.next((e) => e.kind === 'online', 'online on the new lease', 5000);
  assert.is(on.instance.userData, 'x');
  assert.ok((a.r as unknown as { leaseId: string }).leaseId !== mine, 'a new lease');
});

test('etcd-registry - a watch cancelled by compaction lists again and reports only real differences', async () => {
  const a = await client('holder');
  await a.up('cg.cmp2.1.0', 'stays', 1);
  const w = await client('watcher');
  const log = new EventLog();
  const watch = await w.r.watch('cg', 'cg.cmp2.*.*', log.listener);
  // Force the follower to watch again from an old revision that is compacted by now.
  const follower = [...(w.r as unknown as { watches: Set<{ follower: { watchFrom(r: bigint): void; watcher?: { cancel(): Promise<void> } } }> }).watches][0]!.follower;
  const old = follower.watcher;
  const gone = await a.up('cg.cmp2.1.0', 'goes', 2);
  await log.next((e) => e.instance.userData === 'goes');
  await a.r.deregister(gone, 'closed');
  await log.next((e) => e.instance.userData === 'goes');
  const kv = (w.r as unknown as { client: { kv: { compact(x: object): Promise<unknown>; range(x: object): Promise<{ header: { revision: string } }> } } }).client.kv;
  const rev = (await kv.range({ key: Buffer.from('x') })).header.revision;
  await kv.compact({ revision: rev, physical: true });
  await old?.cancel();
  follower.watchFrom(1n); // compacted: etcd cancels it, the follower lists again
  await a.up('cg.cmp2.2.0', 'later', 3);
  await log.next((e) => e.instance.userData === 'later', 'an event after the repair', 5000);
  assert.equal(believed(watch.snapshot, log.events), ['later', 'stays']);
  assert.equal(log.events.map((e) => `${e.kind} ${e.instance.userData}`), ['online goes', 'offline goes', 'online later']);
});

test('etcd-registry - game keys: only a verifier is stored, and it checks proofs', async () => {
  const a = await client('auth');
  const kv = (a.r as unknown as { client: { kv: { range(x: object): Promise<{ kvs: Array<{ value: Buffer }> }> } } }).client.kv;
  const stored = (await kv.range({ key: Buffer.from('/rxmesh-games/cg') })).kvs[0]!.value.toString();
  assert.not.ok(stored.includes(CONTRACT_GAMES.cg), 'the key is not readable back');
  const setter = new EtcdRegistry(etcd.url);
  await setter.setGame('fresh', 'fresh-key');
  const nonce = randomBytes(32);
  assert.is(await a.r.verifyGame('fresh', nonce, gameProof('fresh-key', nonce)), 'ok');
  assert.is(await a.r.verifyGame('fresh', nonce, gameProof('nope', nonce)), 'wrong_key');
});

test('etcd-registry - `rxmesh games set` stores a verifier from --key or stdin', async () => {
  const viaFlag = startFixture('lib/cli/main.ts', ['games', 'set', 'flagged', '--registry', etcd.url, '--key', 'flag-key']);
  children.push(viaFlag);
  assert.is((await viaFlag.exited).code, 0, viaFlag.stderr);
  const viaStdin = startFixture('lib/cli/main.ts', ['games', 'set', 'piped', '--registry', etcd.url]);
  children.push(viaStdin);
  viaStdin.child.stdin!.end('piped-key\n');
  assert.is((await viaStdin.exited).code, 0, viaStdin.stderr);
  const a = await client('auth2');
  const nonce = randomBytes(32);
  assert.is(await a.r.verifyGame('flagged', nonce, gameProof('flag-key', nonce)), 'ok');
  assert.is(await a.r.verifyGame('piped', nonce, gameProof('piped-key', nonce)), 'ok');
  const bad = startFixture('lib/cli/main.ts', ['games', 'set', 'x', '--registry', 'ns://127.0.0.1:9092', '--key', 'k']);
  children.push(bad);
  assert.is((await bad.exited).code, 1);
  assert.match(bad.stderr, /etcd registry/);
});

test('etcd-registry - a replaced instance is reported to its old holder even if it was offline-registered', async () => {
  const a = await client('old');
  const b = await client('new');
  await a.r.register(a.record('cg.rep.1.0', 'x', 1), 'reject');
  await b.r.register(b.record('cg.rep.1.0', 'x', 2), 'replace');
  const k = await waitFor(() => a.kicks[0], 'kicked');
  assert.equal([k.agentId, k.localId, k.by.agentId, k.by.localId], ['old', 1, 'new', 2]);
});

test('etcd-registry - 10 000 instances of 600 B: watched and listed correctly (paged)', async () => {
  const N = 10_000;
  const meta = { pad: 'x'.repeat(480) };
  const a = await client('bulk');
  const w = await client('watcher');
  let online = 0;
  await w.r.watch('cg', 'cg.bulk.*.*', (e) => {
    if (e.kind === 'online') online++;
  });
  let next = 0;
  await Promise.all(Array.from({ length: 64 }, async () => {
    for (let i = next++; i < N; i = next++) {
      const rec = { ...a.record(`cg.bulk.${i % 8}.0`, `u${i}`, i + 1), meta };
      await a.r.register(rec, 'reject');
      await a.r.startup(rec);
    }
  }));
  await waitFor(() => online === N, `all ${N} online at the watcher`, 20_000);
  const l = await client('lister', { pageSize: 1500 });
  const listed = await l.r.watch('cg', 'cg.bulk.*.*', () => {});
  assert.is(listed.snapshot.length, N);
  assert.is(new Set(listed.snapshot.map((r) => r.userData)).size, N);
  assert.equal(listed.snapshot.find((r) => r.userData === 'u9999')?.meta, meta);
  await sleep(100);
  assert.is(online, N, 'no duplicate events');
});

if (enabled) test.run();
