/**
 * A uid with no passwd entry (`docker run --user 54321`, OpenShift's random
 * uids): os.userInfo() throws for it, so the default shm directory cannot be
 * named after the user. A real `rxmesh agent` and a real app run as such a
 * uid with every path left to its default: the agent serves in
 * /dev/shm/rxmesh-uid<N>/, the app finds it there by itself, registers and
 * gets a reply, and `rxmesh status` as that uid reads the agent. Needs root
 * (to start processes as another uid): without it the suite says so loudly
 * and checks nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GAME, KEY, MESH_SECRET, startNs, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';

const possible = process.getuid?.() === 0;

/** Has `uid` a passwd entry (files, NSS, whatever getent asks)? */
function hasPasswdEntry(uid: number): boolean {
  try {
    execFileSync('getent', ['passwd', String(uid)], { stdio: 'ignore' });
    return true;
  } catch (err) {
    if ((err as { status?: number }).status === 2) return false; // 2: no such key
    throw err;
  }
}

/** The first uid from 54321 with no passwd entry and no default shm dir of its own yet. */
function namelessUid(): number {
  for (let uid = 54321; uid < 54321 + 1000; uid++) {
    if (!hasPasswdEntry(uid) && !existsSync(`/dev/shm/rxmesh-uid${uid}`)) return uid;
  }
  throw new Error('no free uid without a passwd entry in 54321..55320');
}

const Nameless = suite('a uid without a passwd entry');
let uid = 0;
let ns: MeshProcess | undefined;
const fixtures: Fixture[] = [];
let tsxCacheWasThere = true;

/** Run lib/cli/main.ts or a fixture as the nameless uid, every path left to its default. */
function asNameless(script: string, args: string[], env: NodeJS.ProcessEnv = {}): Fixture {
  const f = startFixture(script, args, { HOME: '/tmp', USER: '', LOGNAME: '', ...env }, { uid, gid: uid });
  fixtures.push(f);
  return f;
}

Nameless.before(async () => {
  if (!possible) return;
  uid = namelessUid();
  tsxCacheWasThere = existsSync(join(tmpdir(), `tsx-${uid}`));
  ns = await startNs();
});
Nameless.after(async () => {
  for (const f of fixtures) await f.kill();
  await ns?.stop();
  if (uid) {
    rmSync(`/dev/shm/rxmesh-uid${uid}`, { recursive: true, force: true });
    if (!tsxCacheWasThere) rmSync(join(tmpdir(), `tsx-${uid}`), { recursive: true, force: true });
  }
  cleanupShm();
});

Nameless('uid without passwd - rxmesh agent, an app and rxmesh status agree on /dev/shm/rxmesh-uid<N>; a request round-trips', async () => {
  if (!possible) {
    process.stderr.write('\n  *** SKIPPED: the uid-without-passwd spec needs root; nothing was checked ***\n');
    return;
  }
  assert.not.ok(hasPasswdEntry(uid), `uid ${uid} has no passwd entry`);
  const dir = `/dev/shm/rxmesh-uid${uid}`;

  const agent = asNameless('lib/cli/main.ts', ['agent', '--registry', ns!.nsUrl, '--exit-with-parent'], { RXMESH_MESH_SECRET: MESH_SECRET });
  await agent.waitFor('"ready"');
  const ready = JSON.parse(agent.stdout.split('\n').find((l) => l.includes('"ready"'))!) as { ready: { agent: { socket: string } } };
  assert.is(ready.ready.agent.socket, `${dir}/agent.sock`, 'the agent serves in the fallback directory');

  const app = asNameless('spec/ops/fixtures/nameless-app.ts', [JSON.stringify({ gameId: GAME, key: KEY })]);
  await app.waitFor('\n');
  const result = JSON.parse(app.stdout.trim()) as { socket: string; reply: string; service: string };
  assert.is(result.socket, `${dir}/agent.sock`, 'the app looks for the agent where the agent is');
  assert.is(result.reply, `hello from uid ${uid}`);

  const status = asNameless('lib/cli/main.ts', ['status', '--json']);
  const exit = await status.exited;
  assert.is(exit.code, 0, `rxmesh status failed: ${status.stderr}`);
  const s = JSON.parse(status.stdout) as { instances: { id: string; state: string }[] };
  assert.ok(s.instances.some((i) => i.id === `${result.service}/echo`), `status lists the app's instance: ${status.stdout}`);

  await app.kill();
  agent.child.kill('SIGTERM');
  const agentExit = await agent.exited;
  assert.is(agentExit.code, 0, `the agent stopped cleanly: ${agent.stderr}`);
  assert.not.ok(existsSync(`${dir}/agent.sock`), 'the agent removed its socket');
});

Nameless.run();
