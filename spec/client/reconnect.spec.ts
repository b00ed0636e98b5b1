/** DESIGN §7: apps see AgentLostError, then reconnect and re-register when their agent returns. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLostError, connect, type Mesh } from '../../lib/index.js';
import { GAMES } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const SVC = 'g.rc.1.0';
let shmDir: string;
let gamesFile: string;
const ups: Fixture[] = [];
const meshes: Mesh[] = [];

/** `rxmesh up` on a fixed shm dir, so a second one serves the same socket path. */
async function up(): Promise<Fixture> {
  const f = startFixture('lib/cli/main.ts', ['up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--games', gamesFile, '--exit-with-parent']);
  ups.push(f);
  await f.waitFor('"ready"');
  return f;
}

const Reconnect = suite('mesh reconnect');
Reconnect.before(() => {
  shmDir = tempShmDir();
  gamesFile = join(tempShmDir(), 'games.json');
  writeFileSync(gamesFile, JSON.stringify(GAMES));
});
Reconnect.after(async () => {
  await Promise.allSettled(meshes.map((m) => m.close()));
  await Promise.allSettled(ups.map((f) => f.kill()));
  cleanupShm();
});

Reconnect('reconnect - the agent dies and returns: AgentLostError, then both apps re-register and talk again', async () => {
  const first = await up();
  const socket = join(shmDir, 'agent.sock');
  const meshA = await connect({ gameId: 'g', password: GAMES['g']!, agent: socket });
  const meshB = await connect({ gameId: 'g', password: GAMES['g']!, agent: socket });
  meshes.push(meshA, meshB);
  const a = meshA.instance('g.rc-a.1.0', { userData: 'a', watch: [SVC] });
  const b = meshB.instance(SVC, { userData: 'b' });
  await next(a.startup$);
  const bRef = await next(b.startup$);
  const got: unknown[] = [];
  b.messages$.subscribe((m) => got.push(m.value()));
  await next(a.members$(SVC), (m) => m.length === 1);

  const lostA = next(meshA.lost$);
  await first.kill(); // SIGKILL: name server and agent gone at once
  assert.instance(await lostA, AgentLostError);
  assert.throws(() => a.sendTo(bRef, 'while down'), (e: Error) => e instanceof AgentLostError && (e as AgentLostError).retryable);

  const backA = next(meshA.reconnected$, undefined, 20_000);
  const backB = next(meshB.reconnected$, undefined, 20_000);
  await up();
  await backA;
  await backB;
  assert.is.not(b.ref!.localId, undefined);
  const members = await next(a.members$(SVC), (m) => m.length === 1 && m[0]!.userData === 'b');
  assert.is(members[0]!.localId, b.ref!.localId, 'a routes to b as the new agent knows it');
  assert.ok(a.send(SVC, 'after') !== null);
  await until(() => got.includes('after'), undefined, 'the message after the reconnect');
});

Reconnect('reconnect - with reconnect: false the instances fail with AgentLostError and stay down', async () => {
  const socket = join(shmDir, 'agent.sock');
  const mesh = await connect({ gameId: 'g', password: GAMES['g']!, agent: socket, reconnect: false });
  meshes.push(mesh);
  const inst = mesh.instance('g.rc-c.1.0', { userData: 'c' });
  await next(inst.startup$);
  const lost = next(mesh.lost$);
  await ups[ups.length - 1]!.kill();
  assert.instance(await lost, AgentLostError);
  assert.throws(() => mesh.instance('g.rc-c.1.0', { userData: 'd' }), /closed/);
});

Reconnect.run();
