/**
 * Several Unix users on one agent (issue 10, item 4; README "Trust model").
 * Two real users (useradd) run apps of two games on one agent running as
 * root. Each can use the mesh; neither can open, list or write the other's
 * rings, doorbells or directory, nor read the agent's status before it
 * authenticates. Needs root and useradd: without them the suite says so
 * loudly and checks nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import { GAMES, startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

interface User {
  name: string;
  uid: number;
  gid: number;
}

const possible = process.getuid?.() === 0 && existsSync('/usr/sbin/useradd');
const users: User[] = [];
const fixtures: Fixture[] = [];
let up: MeshProcess;

function addUser(name: string): User {
  execFileSync('/usr/sbin/useradd', ['-M', '-s', '/usr/sbin/nologin', name]);
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  const u = { name, uid: id('-u'), gid: id('-g') };
  users.push(u);
  return u;
}

function as(u: User, opts: object): Fixture {
  const f = startFixture('spec/isolation/fixtures/user-app.ts', [JSON.stringify({ socket: up.socket, ...opts })], { HOME: '/tmp' }, { uid: u.uid, gid: u.gid });
  fixtures.push(f);
  return f;
}

async function probe(u: User, paths: string[], dirs: string[]): Promise<{ open: Record<string, string>; list: Record<string, string>; status: string }> {
  const f = as(u, { mode: 'probe', paths, dirs });
  await f.exited;
  const line = f.stdout.trim().split('\n').pop() ?? '';
  if (!line.startsWith('{')) throw new Error(`probe as ${u.name} printed nothing: ${f.stderr}`);
  return JSON.parse(line) as { open: Record<string, string>; list: Record<string, string>; status: string };
}

/** A request from a root app of `game` to `service`, echoed by the other user's app. */
async function roundTrip(mesh: Mesh, service: string): Promise<void> {
  const asker = mesh.instance(`${service.split('.')[0]}.asker.1.0`, { userData: service, watch: [service] });
  await next(asker.startup$);
  await next(asker.members$(service), (l) => l.length > 0);
  const reply = await asker.request(service, new TextEncoder().encode(service), { timeoutMs: 5000 });
  assert.is(new TextDecoder().decode(reply.data), service);
  await asker.close();
}

const Users = suite('several Unix users on one agent');
Users.before(async () => {
  if (!possible) return;
  const tag = String(process.pid % 100000);
  addUser(`rxma${tag}`);
  addUser(`rxmb${tag}`);
  up = await startUp();
});
Users.after(async () => {
  await Promise.all(fixtures.map((f) => f.kill()));
  await up?.stop();
  for (const u of users) execFileSync('/usr/sbin/userdel', [u.name]);
  cleanupShm();
});

Users('users - each user uses the mesh; neither can touch the other\'s rings, doorbells or directory', async () => {
  if (!possible) {
    process.stderr.write('\n  *** SKIPPED: the multi-user spec needs root and useradd; nothing was checked ***\n');
    return;
  }
  const [a, b] = users as [User, User];
  const fa = as(a, { mode: 'serve', gameId: 'g', key: GAMES['g'], service: 'g.user-a.1.0' });
  const fb = as(b, { mode: 'serve', gameId: 'other', key: GAMES['other'], service: 'other.user-b.1.0' });
  await Promise.all([fa.waitFor('started '), fb.waitFor('started ')]);
  await roundTrip(await up.connect('g'), 'g.user-a.1.0');
  await roundTrip(await up.connect('other'), 'other.user-b.1.0');

  const shm = up.shmDir;
  assert.is(statSync(shm).mode & 0o777, 0o711, 'the agent directory is enterable, not listable');
  assert.is(statSync(up.socket).mode & 0o777, 0o666, 'anyone may connect; the game key decides the rest');
  const filesOf = (u: User): string[] => {
    const dir = join(shm, `u${u.uid}`);
    const st = statSync(dir);
    assert.is(st.uid, u.uid);
    assert.is(st.mode & 0o777, 0o700);
    const files = readdirSync(dir).map((n) => join(dir, n));
    assert.ok(files.some((f) => f.endsWith('.tx')) && files.some((f) => f.endsWith('.rx')) && files.some((f) => f.endsWith('.bell')), files.join());
    for (const f of files) {
      const fst = statSync(f);
      assert.is(fst.uid, u.uid, `${f} belongs to ${u.name}`);
      assert.is(fst.mode & 0o077, 0, `${f} is for ${u.name} only`);
    }
    return files;
  };
  const ofA = filesOf(a);
  const ofB = filesOf(b);

  for (const [who, other, theirs] of [[b, a, ofA], [a, b, ofB]] as const) {
    const r = await probe(who, theirs, [shm, join(shm, `u${other.uid}`)]);
    for (const [p, code] of Object.entries(r.open)) assert.is(code, 'EACCES', `${who.name} opening ${p}`);
    for (const [d, code] of Object.entries(r.list)) assert.is(code, 'EACCES', `${who.name} listing ${d}`);
    assert.is(r.status, 'AUTH', `${who.name} asking for the agent's status without authenticating`);
  }
  // its own files are its own
  const own = await probe(a, ofA, []);
  for (const [p, code] of Object.entries(own.open)) assert.is(code, 'ok', `${a.name} opening its own ${p}`);
});

Users.run();
