/**
 * What idle instances cost the agent, and that closing them gives it back:
 * one mapping per ring (2 per instance), no staging memory while nothing
 * waits (anonymous memory per idle instance far under the 256 KiB batch each
 * once held), and after close the rings are unmapped and their files gone.
 * Counted from /proc (mappings, files); the one memory bound is generous.
 */
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh } from '../../../lib/index.js';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';
import { anonKb, mappings } from './fixtures.js';

const N = 1000;
let up: MeshProcess;
let app: Mesh;

const Memory = suite('limits memory');
Memory.before(async () => {
  up = await startUp({ args: ['--ring-bytes', '16384'] });
  app = await up.connect();
});
Memory.after(async () => {
  await app?.close();
  await up?.stop();
  cleanupShm();
});

const ringFiles = (dir: string): number => readdirSync(dir).filter((f) => /^i\d+\.(tx|rx)$/.test(f)).length;

Memory('limits - idle instances cost one mapping per ring and little memory; close gives the mappings and files back', async () => {
  const pid = up.fixture.pid;
  const warm = app.instance('g.idle.1.0', { userData: 'warm' }); // first-use code paths, not per-instance cost
  await next(warm.startup$);
  await warm.close();
  await sleep(500);
  const maps0 = mappings(pid);
  const anon0 = anonKb(pid);

  const all: Instance[] = [];
  for (let i = 0; i < N; i += 50) {
    const batch = Array.from({ length: 50 }, (_, k) => app.instance('g.idle.1.0', { userData: `u${i + k}` }));
    await Promise.all(batch.map((b) => next(b.startup$)));
    all.push(...batch);
  }
  await sleep(500);
  const perMaps = (mappings(pid) - maps0) / N;
  const perAnonKb = (anonKb(pid) - anon0) / N;
  assert.ok(perMaps <= 2.2, `mappings per idle instance: ${perMaps.toFixed(2)} (one per ring)`);
  assert.ok(perAnonKb <= 64, `anonymous memory per idle instance: ${perAnonKb.toFixed(1)} KiB`);
  assert.is(ringFiles(up.shmDir), 2 * N);

  for (let i = 0; i < N; i += 100) await Promise.all(all.slice(i, i + 100).map((x) => x.close()));
  await until(() => ringFiles(up.shmDir) === 0, 20_000, 'ring files removed');
  // every ring unmapped: what may remain is V8 heap growth, far fewer than the 2,000 ring mappings
  await until(() => mappings(pid) <= maps0 + 250, 20_000, `mappings back near ${maps0} (now ${mappings(pid)})`);
});

Memory.run();
