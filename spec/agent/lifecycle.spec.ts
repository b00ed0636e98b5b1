/** Registration, conflicts, startup and online/offline, against a real `rxmesh up`. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConflictError, type Mesh } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const SVC = 'g.lobby.1.0';
let up: MeshProcess;
let mesh: Mesh;

const Lifecycle = suite('mesh lifecycle');
Lifecycle.before(async () => {
  up = await startUp();
  mesh = await up.connect();
});
Lifecycle.after(async () => {
  await mesh?.close();
  await up?.stop();
  cleanupShm();
});

Lifecycle('lifecycle - register then startup$ emits the ref and completes', async () => {
  const inst = mesh.instance(SVC, { userData: 'a1' });
  const ref = await next(inst.startup$);
  assert.is(ref.id, `${SVC}/a1`);
  assert.is(ref.node, 0);
  await inst.close();
});

Lifecycle('lifecycle - a second reject registration fails with ConflictError naming the holder', async () => {
  const first = mesh.instance(SVC, { userData: 'dup' });
  await next(first.startup$);
  const other = await up.connect();
  const second = other.instance(SVC, { userData: 'dup', conflict: 'reject' });
  const err = await next(second.startup$).then(() => null, (e: Error) => e);
  assert.instance(err, ConflictError);
  assert.match(err!.message, /held by/);
  await first.close();
  await other.close();
});

Lifecycle('lifecycle - replace kicks the first holder, which sees offline reason replaced', async () => {
  const watcher = mesh.instance(SVC, { userData: 'watcher', watch: [SVC] });
  await next(watcher.startup$);
  const first = mesh.instance(SVC, { userData: 'seat' });
  const firstRef = await next(first.startup$);
  const kicked = next(first.offline$);
  const watcherSeesOffline = next(watcher.offline$, (o) => o.instance.localId === firstRef.localId);
  const other = await up.connect();
  const second = other.instance(SVC, { userData: 'seat', conflict: 'replace' });
  const secondRef = await next(second.startup$);
  const k = await kicked;
  assert.is(k.reason, 'replaced');
  assert.is(k.instance.localId, firstRef.localId);
  assert.is((await watcherSeesOffline).reason, 'replaced');
  assert.is.not(secondRef.localId, firstRef.localId);
  await watcher.close();
  await other.close();
});

Lifecycle('lifecycle - a watcher sees B online, then offline with reason closed', async () => {
  const a = mesh.instance(SVC, { userData: 'A', watch: ['g.battle.*.*'] });
  await next(a.startup$);
  const other = await up.connect();
  const online = next(a.online$, (r) => r.userData === 'B');
  const b = other.instance('g.battle.1.0', { userData: 'B' });
  const bRef = await next(b.startup$);
  assert.is((await online).localId, bRef.localId);
  const offline = next(a.offline$, (o) => o.instance.userData === 'B');
  await b.close();
  assert.is((await offline).reason, 'closed');
  await a.close();
  await other.close();
});

Lifecycle('lifecycle - online$ reports what comes online after the watch started; replayOnline adds the snapshot, once each', async () => {
  const other = await up.connect();
  const early = ['E1', 'E2'].map((ud) => other.instance('g.arena.1.0', { userData: ud }));
  for (const e of early) await next(e.startup$);
  const seen = { plain: [] as string[], replay: [] as string[] };
  // two patterns covering the same service: the snapshot still counts each instance once
  const plain = mesh.instance(SVC, { userData: 'plain', watch: ['g.arena.*.*'] });
  const replay = mesh.instance(SVC, { userData: 'replay', watch: ['g.arena.*.*', 'g.arena.1.*'], replayOnline: true });
  plain.online$.subscribe((r) => seen.plain.push(r.userData));
  replay.online$.subscribe((r) => seen.replay.push(r.userData));
  await next(plain.startup$);
  await next(replay.startup$);
  const both = Promise.all([next(plain.online$, (r) => r.userData === 'L'), next(replay.online$, (r) => r.userData === 'L')]);
  const late = other.instance('g.arena.1.0', { userData: 'L' });
  await next(late.startup$);
  await both;
  assert.equal(seen.plain, ['L'], 'changes only');
  assert.equal(seen.replay.slice(0, 2).sort(), ['E1', 'E2'], 'the snapshot first');
  assert.equal(seen.replay.filter((u) => u !== 'L').length, 2, 'each of the snapshot once');
  assert.ok(seen.replay.includes('L'), 'then changes');
  await plain.close();
  await replay.close();
  await other.close();
});

Lifecycle('lifecycle - await using: an instance and a mesh leaving their scope are closed (watchers see closed)', async () => {
  const watcher = mesh.instance(SVC, { userData: 'disposal-watcher', watch: ['g.scoped.*.*'] });
  await next(watcher.startup$);
  const closed: string[] = [];
  watcher.offline$.subscribe((o) => closed.push(`${o.instance.userData}:${o.reason}`));
  {
    await using scoped = await up.connect();
    {
      await using inst = scoped.instance('g.scoped.1.0', { userData: 'inner' });
      await next(inst.startup$);
    }
    await until(() => closed.includes('inner:closed'), undefined, 'the instance closed at the end of its scope');
    const outer = scoped.instance('g.scoped.1.0', { userData: 'outer' });
    await next(outer.startup$);
  }
  await until(() => closed.includes('outer:closed'), undefined, 'the mesh closed its instances at the end of its scope');
  await watcher.close();
});

Lifecycle('lifecycle - B SIGKILLed: offline (crashed) at once and its rings are gone', async () => {
  const a = mesh.instance(SVC, { userData: 'A2', watch: ['g.victim.1.0'] });
  await next(a.startup$);
  const online = next(a.online$, (r) => r.userData === 'B2');
  const app = startFixture('spec/helpers/fixtures/app.ts', [up.socket, 'g.victim.1.0', 'B2']);
  await app.waitFor('started');
  const bRef = await online;
  assert.ok(existsSync(join(up.shmDir, `i${bRef.localId}.tx`)), 'B has its rings while alive');
  const offline = next(a.offline$, (o) => o.instance.userData === 'B2');
  const killedAt = performance.now();
  await app.kill();
  const o = await offline;
  const elapsed = performance.now() - killedAt;
  assert.is(o.reason, 'crashed');
  assert.ok(elapsed < 1000, `offline seen ${elapsed.toFixed(1)} ms after SIGKILL`); // DESIGN: 100 ms; bench/ reports the real figure
  assert.not.ok(existsSync(join(up.shmDir, `i${bRef.localId}.tx`)), 'tx ring unlinked');
  assert.not.ok(existsSync(join(up.shmDir, `i${bRef.localId}.rx`)), 'rx ring unlinked');
  await a.close();
});

Lifecycle.run();
