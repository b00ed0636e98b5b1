/**
 * connect({ replySpinUs }): a requester polls its rings for the reply that
 * long before it parks, and only while a reply is awaited. Replies are caught
 * either way; a request nobody answers costs the poll window, not a core for
 * the whole wait; a value that is not a number of microseconds is refused.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BadArgumentError, connect, type Mesh } from '../../lib/index.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const Spin = suite('reply spin');
let up: MeshProcess;
let requester: Mesh;
let replier: Mesh;

Spin.before(async () => {
  up = await startUp();
  requester = await connect({ gameId: GAME, password: KEY, agent: up.socket, replySpinUs: 200 });
  replier = await up.connect();
});
Spin.after(async () => {
  await requester?.close();
  await replier?.close();
  await up?.stop();
  cleanupShm();
});

Spin('reply spin - requests are answered while the requester polls for the replies', async () => {
  const echo = replier.instance('g.echo.1.0', { userData: 'e' });
  echo.messages$.subscribe((m) => m.reply(m.value<number>() + 1));
  const me = requester.instance('g.asker.1.0', { userData: 'a' });
  const to = await next(echo.startup$);
  await next(me.startup$);
  for (let i = 0; i < 500; i++) assert.is((await me.request(to, i, { timeoutMs: 5000 })).value(), i + 1);
  await me.close();
  await echo.close();
});

Spin('reply spin - a request nobody answers costs the poll window, not the wait', async () => {
  const silent = replier.instance('g.silent.1.0', { userData: 's' });
  silent.messages$.subscribe(); // takes everything, answers nothing
  const me = requester.instance('g.asker.1.0', { userData: 'b' });
  const to = await next(silent.startup$);
  await next(me.startup$);
  await me.request(to, 'ping', { timeoutMs: 100 }).catch(() => {}); // warm: the pair ring is set up
  const before = process.cpuUsage();
  const t0 = performance.now();
  const err = await me.request(to, 'anyone?', { timeoutMs: 600 }).then(() => null, (e: unknown) => e);
  const wall = performance.now() - t0;
  const used = process.cpuUsage(before);
  assert.ok(err, 'timed out');
  const cpuMs = (used.user + used.system) / 1000;
  // this process also runs the replier's connection and the specs; polling the whole wait would cost ~wall
  assert.ok(cpuMs < wall / 4, `${cpuMs.toFixed(1)} ms of CPU over a ${wall.toFixed(0)} ms wait`);
  await me.close();
  await silent.close();
});

Spin('reply spin - a requester whose replies come later than the window stops polling for them', async () => {
  // replies 30 ms late against a 5 ms window: polling each wait would cost ~5 ms of CPU per request
  const slowRequester = await connect({ gameId: GAME, password: KEY, agent: up.socket, replySpinUs: 5000 });
  const slow = replier.instance('g.slow.1.0', { userData: 's' });
  slow.messages$.subscribe((m) => setTimeout(() => m.reply(m.value()), 30));
  const me = slowRequester.instance('g.asker.1.0', { userData: 'c' });
  const to = await next(slow.startup$);
  await next(me.startup$);
  await me.request(to, 0, { timeoutMs: 5000 }); // the first one teaches it how long replies take
  const before = process.cpuUsage();
  for (let i = 1; i <= 20; i++) assert.is((await me.request(to, i, { timeoutMs: 5000 })).value(), i);
  const used = process.cpuUsage(before);
  const cpuMs = (used.user + used.system) / 1000;
  assert.ok(cpuMs < 50, `${cpuMs.toFixed(1)} ms of CPU for 20 requests (polling each wait would be about 100)`);
  await me.close();
  await slow.close();
  await slowRequester.close();
});

Spin('reply spin - a value that is not a number of microseconds is refused', async () => {
  for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
    const err = await connect({ gameId: GAME, password: KEY, agent: up.socket, replySpinUs: bad }).then((m) => m.close().then(() => null), (e: unknown) => e);
    assert.instance(err, BadArgumentError, String(bad));
  }
});

Spin.run();
