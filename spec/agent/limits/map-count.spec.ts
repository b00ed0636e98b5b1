/**
 * The agent checks vm.max_map_count headroom before it maps an instance's
 * rings, and refuses with LimitError (naming the sysctl) instead of dying of
 * SIGABRT. The sysctl cannot be lowered on a shared machine, so the agent runs
 * with --max-maps 2000, which takes the place of the ceiling read from
 * /proc/sys/vm/max_map_count; the count of the agent's real mappings and the
 * check are the same code path.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh } from '../../../lib/index.js';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next } from '../../helpers/wait.js';
import { assertLimit, mappings, roundTrip, startupError } from './fixtures.js';

const MAX_MAPS = 2000;
const RESERVE = 1024; // lib/agent/map-headroom.ts MAP_RESERVE
let up: MeshProcess;
let app: Mesh;

const MapCount = suite('limits map count');
MapCount.before(async () => {
  up = await startUp({ args: ['--ring-bytes', '16384', '--max-maps', String(MAX_MAPS)] });
  app = await up.connect();
});
MapCount.after(async () => {
  await app?.close();
  await up?.stop();
  cleanupShm();
});

MapCount('limits - near vm.max_map_count a new instance is refused with LimitError; the agent and its instances go on', async () => {
  const made: Instance[] = [];
  let err: Error | null = null;
  for (let i = 0; i < 500 && !err; i++) {
    const inst = app.instance('g.many.1.0', { userData: `m${i}` });
    err = await startupError(inst);
    if (!err) made.push(inst);
  }
  assertLimit(err, /vm\.max_map_count/);
  const maps = mappings(up.fixture.pid);
  assert.ok(made.length >= 10, `instances were made before the ceiling (${made.length})`);
  assert.ok(maps < MAX_MAPS, `the agent stayed under the ceiling (${maps} mappings)`);
  assert.ok(maps + 2 + RESERVE > MAX_MAPS - 128, `refused near the ceiling, not early (${maps} mappings, ${made.length} instances)`);
  await roundTrip(made[0]!, made[made.length - 1]!);

  await Promise.all(made.splice(0, made.length >> 1).map((i) => i.close())); // their mappings are given back
  const again = app.instance('g.many.1.0', { userData: 'again' });
  await next(again.startup$);
  await roundTrip(again, made[0]!);
  assert.is(up.fixture.child.exitCode, null, 'the agent is up');
});

MapCount.run();
