/** Watches per app connection and per game: past the limit WATCH is refused with LimitError; the watches held go on. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next } from '../../helpers/wait.js';
import { assertLimit, roundTrip, startupError } from './fixtures.js';

let up: MeshProcess;

const Watches = suite('limits watches');
Watches.before(async () => {
  up = await startUp({ args: ['--ring-bytes', '16384', '--max-watches-per-app', '2', '--max-watches-per-game', '3'] });
});
Watches.after(async () => {
  await up?.stop();
  cleanupShm();
});

Watches('limits - one app past --max-watches-per-app is refused with LimitError; its watches still report', async () => {
  const app = await up.connect();
  const w1 = app.instance('g.lobby.1.0', { userData: 'w1', watch: ['g.a.*.*', 'g.b.*.*'] });
  await next(w1.startup$);
  const err = await startupError(app.instance('g.lobby.1.0', { userData: 'w2', watch: ['g.c.*.*'] }));
  assertLimit(err, /--max-watches-per-app 2/);
  const other = await up.connect();
  const seen = next(w1.online$, (r) => r.userData === 'a1');
  const a1 = other.instance('g.a.1.0', { userData: 'a1' });
  await next(a1.startup$);
  assert.is((await seen).userData, 'a1', 'the watch held still reports');
  await roundTrip(w1, a1);
  await w1.close(); // its two watches are given back
  const w3 = app.instance('g.lobby.1.0', { userData: 'w3', watch: ['g.a.*.*', 'g.c.*.*'] });
  const ref = await next(w3.startup$);
  assert.is(ref.userData, 'w3');
  await Promise.all([app.close(), other.close()]);
});

Watches('limits - the apps of one game past --max-watches-per-game are refused; another game is not', async () => {
  const first = await up.connect();
  const second = await up.connect();
  const f = first.instance('g.lobby.1.0', { userData: 'f', watch: ['g.a.*.*', 'g.b.*.*'] });
  await next(f.startup$);
  const s = second.instance('g.lobby.1.0', { userData: 's', watch: ['g.a.*.*'] });
  await next(s.startup$);
  const err = await startupError(second.instance('g.lobby.1.0', { userData: 's2', watch: ['g.b.*.*'] }));
  assertLimit(err, /game 'g'.*--max-watches-per-game 3/);
  const other = await up.connect('other');
  const o = other.instance('other.lobby.1.0', { userData: 'o', watch: ['other.a.*.*', 'other.b.*.*'] });
  await next(o.startup$);
  await roundTrip(f, s);
  await Promise.all([first.close(), second.close(), other.close()]);
});

Watches.run();
