import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { RegistryUnavailableError } from '../../lib/protocol/errors.js';
import { keyOf } from '../../lib/protocol/registry-messages.js';
import { parseNsUrl } from '../../lib/registry/ns-connect.js';
import { NsRegistry, type NsRegistryOptions } from '../../lib/registry/ns-registry.js';
import type { InstanceRecord, WatchEvent } from '../../lib/registry/registry.js';
import { EventLog, httpGet, killChildren, NS_SECRET, spawnAgent, startNsInProcess, type NsHandle } from '../helpers/ns.js';
import { sleep, waitFor } from '../helpers/wait.js';
import { CONTRACT_GAMES, registryContract } from './contract.js';

const TTL = 600;

registryContract('ns', async () => {
  const h = await startNsInProcess({ games: CONTRACT_GAMES });
  const clients: NsRegistry[] = [];
  return {
    registry: () => {
      const r = new NsRegistry(h.url, { secret: NS_SECRET, requestTimeoutMs: 3000 });
      clients.push(r);
      return r;
    },
    close: async () => {
      await Promise.allSettled(clients.map((c) => c.close()));
      await h.close();
    },
  };
}).run();

// --- NsRegistry specifics ------------------------------------------------------

const test = suite('ns-registry');
let servers: NsHandle[] = [];
let clients: NsRegistry[] = [];

test.after.each(async () => {
  await killChildren();
  await Promise.allSettled(clients.map((c) => c.close()));
  await Promise.allSettled(servers.map((s) => s.close()));
  clients = [];
  servers = [];
});

async function ns(options: Parameters<typeof startNsInProcess>[0] = {}): Promise<NsHandle> {
  const h = await startNsInProcess({ games: CONTRACT_GAMES, leaseTtlMs: TTL, ...options });
  servers.push(h);
  return h;
}

/** Client log lines of every client, in order (for checking who reconnected first). */
const clientLog: string[] = [];

async function client(url: string, agentId: string, options: Partial<NsRegistryOptions> = {}) {
  const log = (m: string): void => {
    clientLog.push(`[${agentId}] ${m}`);
    if (process.env.RXMESH_SPEC_LOG) process.stderr.write(`[${agentId}] ${m}\n`);
  };
  const r = new NsRegistry(url, { secret: NS_SECRET, requestTimeoutMs: 3000, log, ...options });
  clients.push(r);
  const kicks: Array<InstanceRecord & { by: InstanceRecord }> = [];
  await r.open({ agentId, address: '' }, { kicked: (i, by) => kicks.push({ ...i, by }) });
  const record = (service: string, userData: string, localId = 1): InstanceRecord =>
    ({ gameId: 'cg', service, userData, agentId, address: '', localId, epoch: 1, online: false });
  return { r, kicks, record };
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

test('ns-registry - parses ns:// URLs', () => {
  assert.equal(parseNsUrl('ns://10.0.0.1:9100'), { host: '10.0.0.1', port: 9100 });
  assert.equal(parseNsUrl('ns://ns.example'), { host: 'ns.example', port: 9092 });
  assert.equal(parseNsUrl('ns://[::1]:9092'), { host: '::1', port: 9092 });
  for (const bad of ['http://h:1', 'ns://', 'h:9092', 'ns://h:1/path', 'ns://u@h:1']) {
    assert.throws(() => parseNsUrl(bad), /name-server URL/, bad);
  }
});

test('ns-registry - open fails with RegistryUnavailableError when no name server listens', async () => {
  const h = await ns();
  const url = h.url;
  await h.close();
  const r = new NsRegistry(url, { secret: NS_SECRET, requestTimeoutMs: 300 });
  clients.push(r);
  try {
    await r.open({ agentId: 'nobody', address: '' }, { kicked: () => {} });
    assert.unreachable('open should fail');
  } catch (err) {
    assert.instance(err, RegistryUnavailableError);
  }
});

test('ns-registry - lease expiry: a SIGKILLed agent goes offline (agent_lost) within TTL + 1 s', async () => {
  const h = await ns();
  const w = await client(h.url, 'watcher');
  const log = new EventLog();
  await w.r.watch('cg', 'cg.lease.*.*', log.listener);
  const child = await spawnAgent(h.url, 'doomed', 'cg.lease.1.0', 'victim', TTL);
  await log.next((e) => e.kind === 'online' && e.instance.userData === 'victim', 'the child online');
  await child.kill();
  const e = await log.next((ev) => ev.kind === 'offline', 'offline after SIGKILL', TTL + 1000);
  assert.is(e.instance.userData, 'victim');
  assert.is(e.kind === 'offline' && e.reason, 'agent_lost');
  assert.ok(h.logs.some((l) => l.includes(`lease of agent 'doomed' expired`)), 'the expiry is logged');
});

test('ns-registry - heartbeats keep a lease alive well past its TTL', async () => {
  const h = await ns();
  const w = await client(h.url, 'watcher');
  const log = new EventLog();
  await w.r.watch('cg', 'cg.beat.*.*', log.listener);
  const a = await client(h.url, 'beating', { leaseTtlMs: 300 });
  await a.r.register(a.record('cg.beat.1.0', 'alive'), 'reject');
  await a.r.startup(a.record('cg.beat.1.0', 'alive'));
  await log.next();
  await sleep(1200);
  assert.equal(log.events.map((e) => e.kind), ['online']);
  const agents = (await httpGet(h.ns.httpPort, '/v1/agents')).body as Array<{ agentId: string; ttlMs: number }>;
  assert.is(agents.find((x) => x.agentId === 'beating')?.ttlMs, 300, 'the asked-for TTL was granted');
});

test('ns-registry - requests wait for the reconnect, or fail with RegistryUnavailableError', async () => {
  const h = await ns();
  const port = h.ns.port;
  const a = await client(h.url, 'patient', { requestTimeoutMs: 1500, reconnectMaxMs: 100 });
  await h.close();
  // down for good (as far as this request knows): unavailable after the timeout
  try {
    await a.r.register(a.record('cg.wait.1.0', 'x'), 'reject');
    assert.unreachable('should time out');
  } catch (err) {
    assert.instance(err, RegistryUnavailableError);
  }
  // back within the timeout: the request goes through
  const pending = a.r.register(a.record('cg.wait.1.0', 'y'), 'reject');
  await sleep(200);
  const h2 = await ns({ port });
  await pending;
  await a.r.startup(a.record('cg.wait.1.0', 'y'));
  const instances = (await httpGet(h2.ns.httpPort, '/v1/instances?service=cg.wait.1.0')).body as InstanceRecord[];
  assert.equal(instances.map((i) => [i.userData, i.online]), [['y', true]]);
});

for (const order of ['holders first', 'watcher first'] as const) {
  test(`ns-registry - ns restart (${order}): agents re-register, watchers see only real changes`, async () => {
    // Who reconnects first decides whether the watcher's new snapshot already
    // has the re-registered instances or must wait for them (recoveryMs).
    const quick = { reconnectMinMs: 20, reconnectMaxMs: 40 };
    const slow = { reconnectMinMs: 500, reconnectMaxMs: 500 };
    const holderOpts = order === 'holders first' ? quick : slow;
    const watcherOpts = { ...(order === 'holders first' ? slow : quick), recoveryMs: 2000 };
    clientLog.length = 0;
    const h1 = await ns();
    const port = h1.ns.port;
    const holder = await client(h1.url, 'holder', holderOpts);
    const keep = holder.record('cg.rs.1.0', 'keep', 1);
    const parked = holder.record('cg.rs.1.0', 'parked', 2);
    await holder.r.register(keep, 'reject');
    await holder.r.startup(keep);
    await holder.r.register(parked, 'reject'); // registered, never started
    const dying = await spawnAgent(h1.url, 'dying', 'cg.rs.2.0', 'gone', TTL);

    const w = await client(h1.url, 'watcher', watcherOpts);
    const log = new EventLog();
    const watch = await w.r.watch('cg', 'cg.rs.*.*', log.listener);
    assert.equal(watch.snapshot.map((r) => r.userData).sort(), ['gone', 'keep']);

    await h1.close();
    await dying.kill(); // SIGKILL: this agent never comes back
    const h2 = await ns({ port });
    const late = await client(h2.url, 'late');
    await late.r.register(late.record('cg.rs.3.0', 'new'), 'reject');
    await late.r.startup(late.record('cg.rs.3.0', 'new'));

    const gone = await log.seen((e) => e.instance.userData === 'gone', 'the dead agent offline', 5000);
    assert.is(gone.kind === 'offline' && gone.reason, 'agent_lost');
    const added = await log.seen((e) => e.instance.userData === 'new', 'the new instance online', 5000);
    assert.is(added.kind, 'online');
    assert.equal(log.about('keep'), [], 'no spurious events for an instance that never went away');
    assert.equal(log.about('parked'), [], 'registered-only stays invisible');
    const reconnects = clientLog.filter((l) => l.includes('reconnected')).map((l) => l.slice(1, l.indexOf(']')));
    assert.equal(reconnects, order === 'holders first' ? ['holder', 'watcher'] : ['watcher', 'holder']);

    // converged: the watcher's view equals a fresh snapshot; the parked one is registered again
    const fresh = await client(h2.url, 'fresh');
    const now = await fresh.r.watch('cg', 'cg.rs.*.*', () => {});
    assert.equal(believed(watch.snapshot, log.events), now.snapshot.map((r) => r.userData).sort());
    assert.equal(believed(watch.snapshot, log.events), ['keep', 'new']);
    const all = (await httpGet(h2.ns.httpPort, '/v1/instances?service=cg.rs.1.0')).body as InstanceRecord[];
    assert.equal(all.map((i) => [i.userData, i.online, i.agentId]), [['keep', true, 'holder'], ['parked', false, 'holder']]);
    assert.equal(holder.kicks, []);
  });
}

test('ns-registry - an instance taken while its agent was away is reported as kicked', async () => {
  const h1 = await ns();
  const port = h1.ns.port;
  const a = await client(h1.url, 'away', { reconnectMinMs: 400, reconnectMaxMs: 400 });
  const mine = a.record('cg.taken.1.0', 'x', 1);
  await a.r.register(mine, 'reject');
  await a.r.startup(mine);
  await h1.close();
  const h2 = await ns({ port });
  const b = await client(h2.url, 'usurper');
  const theirs = b.record('cg.taken.1.0', 'x', 8);
  await b.r.register(theirs, 'reject'); // the new name server has never heard of 'away'
  await b.r.startup(theirs);
  const kicked = await waitFor(() => a.kicks[0], 'kicked after the reconnect', 5000);
  assert.is(kicked.agentId, 'away');
  assert.equal([kicked.by.agentId, kicked.by.localId], ['usurper', 8], 'names the new holder');
  // a's re-registration lost: b keeps it, and a no longer holds it
  const all = (await httpGet(h2.ns.httpPort, '/v1/instances?service=cg.taken.1.0')).body as InstanceRecord[];
  assert.equal(all.map((i) => [i.agentId, i.localId, i.online]), [['usurper', 8, true]]);
  await a.r.close();
  const after = (await httpGet(h2.ns.httpPort, '/v1/instances?service=cg.taken.1.0')).body as InstanceRecord[];
  assert.is(after.length, 1, 'closing the kicked agent leaves the new holder alone');
});

test('ns-registry - close() while the name server is down does not hang', async () => {
  const h = await ns();
  const a = await client(h.url, 'lonely', { reconnectMaxMs: 100 });
  await a.r.register(a.record('cg.down.1.0', 'x'), 'reject');
  await h.close();
  await sleep(50);
  await a.r.close();
  assert.is(a.r.connected, false);
});

test.run();
