/** Instances per app connection and per game: past the limit CREATE is refused with LimitError; nothing else changes. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh } from '../../../lib/index.js';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next } from '../../helpers/wait.js';
import { assertLimit, roundTrip, startupError } from './fixtures.js';

let up: MeshProcess;

const Instances = suite('limits instances');
Instances.before(async () => {
  up = await startUp({ args: ['--ring-bytes', '16384', '--max-instances-per-app', '3', '--max-instances-per-game', '5'] });
});
Instances.after(async () => {
  await up?.stop();
  cleanupShm();
});

async function started(mesh: Mesh, n: number, prefix: string): Promise<Instance[]> {
  const out: Instance[] = [];
  for (let i = 0; i < n; i++) {
    const inst = mesh.instance('g.seat.1.0', { userData: `${prefix}${i}` });
    await next(inst.startup$);
    out.push(inst);
  }
  return out;
}

Instances('limits - one app past --max-instances-per-app is refused with LimitError; its instances and the agent go on', async () => {
  const app = await up.connect();
  const [a, b, c] = await started(app, 3, 'a');
  const err = await startupError(app.instance('g.seat.1.0', { userData: 'a-extra' }));
  assertLimit(err, /--max-instances-per-app 3/);
  await roundTrip(a!, b!);
  await c!.close(); // a slot is given back once the instance is gone
  const again = app.instance('g.seat.1.0', { userData: 'a-again' });
  await next(again.startup$);
  await roundTrip(again, a!);
  assert.is(up.fixture.child.exitCode, null, 'the agent is up');
  await app.close();
});

Instances('limits - the apps of one game past --max-instances-per-game are refused; another game is not', async () => {
  const first = await up.connect();
  const second = await up.connect();
  const mine = [...await started(first, 3, 'g1-'), ...await started(second, 2, 'g2-')];
  const err = await startupError(second.instance('g.seat.1.0', { userData: 'g2-extra' }));
  assertLimit(err, /game 'g'.*--max-instances-per-game 5/);
  const other = await up.connect('other');
  const o1 = other.instance('other.seat.1.0', { userData: 'o1' });
  const o2 = other.instance('other.seat.1.0', { userData: 'o2' });
  await next(o1.startup$);
  await next(o2.startup$);
  await roundTrip(o1, o2);
  await roundTrip(mine[0]!, mine[4]!);
  await Promise.all([first.close(), second.close(), other.close()]);
});

Instances('limits - counts are per connection: an app that closed leaves nothing counted, a new one gets its full count', async () => {
  for (let round = 0; round < 3; round++) {
    const app = await up.connect();
    await started(app, 3, `r${round}-`);
    await app.close();
  }
  const app = await up.connect();
  const all = await started(app, 3, 'last-');
  await roundTrip(all[0]!, all[2]!);
  assertLimit(await startupError(app.instance('g.seat.1.0', { userData: 'last-extra' })), /holds 3 instances/);
  await app.close();
});

Instances.run();
