/**
 * How long after an app is SIGKILLed does a watcher on the same host see it
 * offline (DESIGN §7: within 100 ms)? Starts `rxmesh up`, then N times: an
 * app process starts an instance, the watcher sees it online, the app is
 * SIGKILLed, and the time to the watcher's offline event is recorded.
 *
 *   npx tsx bench/crash-detect.ts [--runs 20]
 */
import { parseArgs } from 'node:util';
import { startUp } from '../spec/helpers/mesh.js';
import { startFixture } from '../spec/helpers/process.js';
import { cleanupShm } from '../spec/helpers/shm.js';
import { next } from '../spec/helpers/wait.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '20' }, help: { type: 'boolean', default: false } } });
if (values.help) {
  console.log('usage: crash-detect.ts [--runs N]');
  process.exit(0);
}

const up = await startUp();
try {
  const mesh = await up.connect();
  const watcher = mesh.instance('g.watch.1.0', { userData: 'w', watch: ['g.victim.1.0'] });
  await next(watcher.startup$);
  const times: number[] = [];
  for (let i = 0; i < Number(values.runs); i++) {
    const online = next(watcher.online$, (r) => r.userData === `v${i}`);
    const app = startFixture('spec/helpers/fixtures/app.ts', [up.socket, 'g.victim.1.0', `v${i}`]);
    await app.waitFor('started');
    await online;
    const offline = next(watcher.offline$, (o) => o.instance.userData === `v${i}`);
    const t0 = performance.now();
    app.child.kill('SIGKILL');
    const o = await offline;
    times.push(performance.now() - t0);
    if (o.reason !== 'crashed') throw new Error(`reason ${o.reason}`);
    await app.exited;
  }
  times.sort((a, b) => a - b);
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!.toFixed(1);
  console.log(`crash-detect: SIGKILL -> offline at a same-host watcher, ${times.length} runs: p50 ${q(0.5)} ms, max ${q(1)} ms (target < 100 ms)`);
  await mesh.close();
} finally {
  await up.stop();
  cleanupShm();
}
