/**
 * The Registry contract: one suite every backend must pass (NsRegistry now,
 * EtcdRegistry later). Backend-neutral: it only uses the Registry interface.
 *
 * A backend must know the games in CONTRACT_GAMES. `registry()` returns a new,
 * unopened client each call; `close()` stops the backend and any clients the
 * backend still tracks.
 *
 *   registryContract('ns', async () => ({ registry: () => new NsRegistry(url, { secret }), close })).run();
 */
import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { ConflictError, CrossGameError, InvalidNameError, MeshError } from '../../lib/protocol/errors.js';
import type { InstanceRecord, Registry } from '../../lib/registry/registry.js';
import { EventLog } from '../helpers/ns.js';
import { waitFor } from '../helpers/wait.js';

export const CONTRACT_GAMES = { cg: 'contract-key-1', cg2: 'contract-key-2' } as const;

export interface RegistryBackend {
  /** A new client each call. */
  registry(): Registry;
  close(): Promise<void>;
}

export function registryContract(name: string, makeBackend: () => Promise<RegistryBackend>) {
  const test = suite(`${name} registry contract`);
  let backend: RegistryBackend;
  let opened: Registry[] = [];
  let n = 0;

  test.before(async () => {
    backend = await makeBackend();
  });
  test.after.each(async () => {
    await Promise.allSettled(opened.map((r) => r.close()));
    opened = [];
  });
  test.after(async () => {
    await backend.close();
  });

  /** A fresh, opened client with a unique agent id; its kicks land in `kicks`. */
  async function client(label: string) {
    const kicks: Array<{ instance: InstanceRecord; by: InstanceRecord }> = [];
    const registry = backend.registry();
    const agentId = `${name}-${label}-${++n}`;
    const address = `127.0.0.1:${7000 + n}`; // (n moves on as other clients open)
    await registry.open({ agentId, address }, { kicked: (instance, by) => kicks.push({ instance, by }) });
    opened.push(registry);
    const record = (service: string, userData: string, localId = 1): InstanceRecord =>
      ({ gameId: service.split('.')[0]!, service, userData, agentId, address, localId, epoch: 1, online: false });
    /** register + startup */
    const up = async (service: string, userData: string, localId = 1): Promise<InstanceRecord> => {
      const r = record(service, userData, localId);
      await registry.register(r, 'reject');
      await registry.startup(r);
      return r;
    };
    return { registry, agentId, kicks, record, up };
  }

  async function watcher(pattern: string) {
    const log = new EventLog();
    const c = await client('watcher');
    const watch = await c.registry.watch(pattern.split('.')[0]!, pattern, log.listener);
    return { log, watch, client: c };
  }

  test('registry - register + startup: a watcher on another client sees it online', async () => {
    const w = await watcher('cg.alpha.*.*');
    const a = await client('a');
    const r = await a.up('cg.alpha.1.0', 'u1', 7);
    const e = await w.log.next();
    assert.is(e.kind, 'online');
    assert.is(e.instance.service, r.service);
    assert.is(e.instance.userData, 'u1');
    assert.is(e.instance.agentId, a.agentId);
    assert.is(e.instance.localId, 7);
    assert.is(e.instance.address, r.address);
  });

  test('registry - registered but not started is invisible', async () => {
    const a = await client('a');
    const hidden = a.record('cg.beta.1.0', 'hidden');
    await a.registry.register(hidden, 'reject');
    const w = await watcher('cg.beta.*.*');
    assert.equal(w.watch.snapshot, []);
    await a.up('cg.beta.1.0', 'barrier', 2); // events arrive in order: nothing before this one
    const first = await w.log.next();
    assert.is(first.instance.userData, 'barrier');
    await a.registry.startup(hidden);
    const second = await w.log.next();
    assert.is(second.kind, 'online');
    assert.is(second.instance.userData, 'hidden');
  });

  test('registry - reject conflict names the holder; the same holder may register again', async () => {
    const a = await client('a');
    const b = await client('b');
    const mine = await a.up('cg.gamma.1.0', 'x', 3);
    await a.registry.register(mine, 'reject'); // same holder: fine
    try {
      await b.registry.register(b.record('cg.gamma.1.0', 'x', 4), 'reject');
      assert.unreachable('should have been rejected');
    } catch (err) {
      assert.instance(err, ConflictError);
      assert.is((err as MeshError).code, 'CONFLICT');
      assert.ok((err as Error).message.includes(a.agentId), `names the agent: ${(err as Error).message}`);
      assert.ok((err as Error).message.includes('3'), `names the localId: ${(err as Error).message}`);
    }
    // same agent, another localId is another holder
    try {
      await a.registry.register(a.record('cg.gamma.1.0', 'x', 9), 'reject');
      assert.unreachable('should have been rejected');
    } catch (err) {
      assert.instance(err, ConflictError);
    }
  });

  test('registry - replace kicks the old holder; watchers see offline replaced, then the new one online', async () => {
    const a = await client('a');
    const b = await client('b');
    const old = await a.up('cg.delta.1.0', 'x', 1);
    const w = await watcher('cg.delta.*.*');
    assert.is(w.watch.snapshot.length, 1);
    const fresh = b.record('cg.delta.1.0', 'x', 5);
    await b.registry.register(fresh, 'replace');
    const off = await w.log.next();
    assert.equal([off.kind, off.kind === 'offline' && off.reason, off.instance.agentId], ['offline', 'replaced', a.agentId]);
    const kick = await waitFor(() => a.kicks[0], 'a kicked event');
    assert.is(kick.instance.agentId, a.agentId);
    assert.is(kick.instance.localId, old.localId);
    assert.is(kick.by.agentId, b.agentId);
    assert.is(kick.by.localId, 5);
    await b.registry.startup(fresh);
    const on = await w.log.next();
    assert.equal([on.kind, on.instance.agentId, on.instance.localId], ['online', b.agentId, 5]);
    // the old holder's late deregistration must not remove the new holder
    await a.registry.deregister(old, 'closed');
    await b.up('cg.delta.1.0', 'barrier', 6);
    const next = await w.log.next();
    assert.is(next.instance.userData, 'barrier');
  });

  test('registry - deregister: watchers see offline with the reason', async () => {
    const a = await client('a');
    const r = await a.up('cg.eps.1.0', 'x');
    const w = await watcher('cg.eps.*.*');
    await a.registry.deregister(r, 'crashed');
    const e = await w.log.next();
    assert.is(e.kind, 'offline');
    assert.is(e.kind === 'offline' && e.reason, 'crashed');
    assert.is(e.instance.userData, 'x');
  });

  test('registry - a * pattern matches whole segments and only those', async () => {
    const w = await watcher('cg.zeta.*.1');
    const a = await client('a');
    await a.up('cg.zeta.a.1', 'in1', 1);
    await a.up('cg.zeta.a.2', 'out1', 2);
    await a.up('cg.zetaa.a.1', 'out2', 3);
    await a.up('cg2.zeta.a.1', 'out3', 4);
    await a.up('cg.zeta.b.1', 'in2', 5);
    await w.log.next((e) => e.instance.userData === 'in2');
    assert.equal(w.log.events.map((e) => `${e.kind} ${e.instance.service}`), ['online cg.zeta.a.1', 'online cg.zeta.b.1']);
    try {
      await w.client.registry.watch('cg', 'cg2.zeta.*.*', () => {});
      assert.unreachable('a pattern of another game');
    } catch (err) {
      assert.instance(err, CrossGameError);
    }
    try {
      await w.client.registry.watch('cg', 'cg.zeta.x*.*', () => {});
      assert.unreachable('a partial-segment wildcard');
    } catch (err) {
      assert.instance(err, InvalidNameError);
    }
  });

  test('registry - the snapshot holds exactly the online instances', async () => {
    const a = await client('a');
    await a.up('cg.eta.1.0', 'one', 1);
    await a.up('cg.eta.2.0', 'two', 2);
    await a.registry.register(a.record('cg.eta.3.0', 'registered', 3), 'reject');
    await a.up('cg.other.1.0', 'elsewhere', 4);
    const w = await watcher('cg.eta.*.*');
    assert.equal(w.watch.snapshot.map((r) => r.userData).sort(), ['one', 'two']);
    assert.ok(w.watch.snapshot.every((r) => r.agentId === a.agentId));
  });

  test('registry - names are validated', async () => {
    const a = await client('a');
    for (const [rec, Err] of [
      [a.record('cg.bad name.1.0', 'x'), InvalidNameError],
      [a.record('cg.theta.1', 'x'), InvalidNameError],
      [a.record('cg.theta.1.0', 'bad/user'), InvalidNameError],
      [{ ...a.record('cg2.theta.1.0', 'x'), gameId: 'cg' }, CrossGameError],
    ] as const) {
      try {
        await a.registry.register(rec, 'reject');
        assert.unreachable(`${rec.service}/${rec.userData} should be refused`);
      } catch (err) {
        assert.instance(err, Err, `${rec.service}/${rec.userData}: ${(err as Error).message}`);
      }
    }
    await a.up('cg.theta.1.0', 'fine'); // the client still works
  });

  test('registry - verifyGame accepts the right key only, and says whether a refused game exists', async () => {
    const a = await client('a');
    const nonce = randomBytes(32);
    assert.is(await a.registry.verifyGame('cg', nonce, gameProof(CONTRACT_GAMES.cg, nonce)), 'ok');
    assert.is(await a.registry.verifyGame('cg', nonce, gameProof('wrong', nonce)), 'wrong_key');
    assert.is(await a.registry.verifyGame('cg', nonce, gameProof(CONTRACT_GAMES.cg2, nonce)), 'wrong_key');
    assert.is(await a.registry.verifyGame('nosuchgame', nonce, gameProof(CONTRACT_GAMES.cg, nonce)), 'unknown_game');
  });

  test('registry - a closed watch gets no more events', async () => {
    const a = await client('a');
    const w = await watcher('cg.iota.*.*');
    const other = new EventLog();
    await w.client.registry.watch('cg', 'cg.iota.*.*', other.listener);
    await w.watch.close();
    await w.watch.close(); // idempotent
    await a.up('cg.iota.1.0', 'x');
    await other.next();
    assert.equal(w.log.events, []);
  });

  test('registry - close() takes the client\'s instances offline with reason closed', async () => {
    const a = await client('a');
    await a.up('cg.kappa.1.0', 'x', 1);
    await a.up('cg.kappa.1.0', 'y', 2);
    const w = await watcher('cg.kappa.*.*');
    await a.registry.close();
    const e1 = await w.log.next();
    const e2 = await w.log.next();
    assert.equal([e1, e2].map((e) => `${e.kind} ${e.instance.userData} ${e.kind === 'offline' ? e.reason : ''}`).sort(), [
      'offline x closed',
      'offline y closed',
    ]);
  });

  return test;
}
