/**
 * Pair rings join apps of one Unix user only (issue 12): an app of another
 * user than its peer's stays on the agent path both ways (the agent refuses
 * the ring; the files of one user are not the other's to open), and still
 * works; apps of one user on the same agent do get their rings. A real user
 * (useradd) on an agent running as root, like users.spec.ts: without root and
 * useradd the suite says so loudly and checks nothing.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GAMES, startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const possible = process.getuid?.() === 0 && existsSync('/usr/sbin/useradd');
let user: { name: string; uid: number; gid: number } | undefined;
let fixture: Fixture | undefined;
let up: MeshProcess;

const PairUsers = suite('pair rings and Unix users');
PairUsers.before(async () => {
  if (!possible) return;
  const name = `rxmp${process.pid % 100000}`;
  execFileSync('/usr/sbin/useradd', ['-M', '-s', '/usr/sbin/nologin', name]);
  const id = (flag: string): number => Number(execFileSync('id', [flag, name], { encoding: 'utf8' }).trim());
  user = { name, uid: id('-u'), gid: id('-g') };
  up = await startUp();
});
PairUsers.after(async () => {
  await fixture?.kill();
  await up?.stop();
  if (user) execFileSync('/usr/sbin/userdel', [user.name]);
  cleanupShm();
});

PairUsers('pair users - apps of two users talk through the agent, both ways; apps of one user get pair rings', async () => {
  if (!possible) {
    process.stderr.write('\n  *** SKIPPED: the pair-ring users spec needs root and useradd; nothing was checked ***\n');
    return;
  }
  fixture = startFixture('spec/isolation/fixtures/user-app.ts',
    [JSON.stringify({ socket: up.socket, mode: 'serve', gameId: 'g', key: GAMES['g'], service: 'g.other-user.1.0' })], { HOME: '/tmp' }, user);
  await fixture.waitFor('started ');
  const theirs = Number(/started (\d+)/.exec(fixture.stdout)![1]);
  const mesh = await up.connect(); // this process: root, the agent's own user
  const asker = mesh.instance('g.asker.1.0', { userData: 'root', watch: ['g.other-user.1.0', 'g.same-user.1.0'] });
  const echo = mesh.instance('g.same-user.1.0', { userData: 'root' });
  await next(asker.startup$);
  await next(echo.startup$);
  echo.messages$.subscribe((m) => m.reply(m.data));
  for (const service of ['g.other-user.1.0', 'g.same-user.1.0']) {
    for (let i = 0; i < 300; i++) {
      const reply = await asker.request(service, new TextEncoder().encode(`${service} ${i}`), { timeoutMs: 5000 });
      assert.is(new TextDecoder().decode(reply.data), `${service} ${i}`);
    }
  }
  const pairs = (await up.status()).pairs;
  assert.equal(pairs.filter((p) => p.from === theirs || p.to === theirs), [], 'no pair ring with the other user\'s instance, either way');
  const mine = [asker.ref!.localId, echo.ref!.localId];
  assert.is(pairs.filter((p) => mine.includes(p.from) && mine.includes(p.to) && p.ring.recordsWritten > 0).length, 2,
    'the same user\'s instances got one each way, and used them');
  await mesh.close();
});

PairUsers.run();
