/**
 * The published package, as a consumer installs it: packed with `npm pack`,
 * installed with `npm install --ignore-scripts` (no build step runs, as with
 * pnpm >= 10 or a locked-down CI), then used for real: `rxmesh up` from its
 * bin and a message between two instances, both processes on the prebuilt
 * library that came in the tarball.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { platformTag } from '../../lib/native/locate.js';
import { installedPackage, roundTrip, type Installed } from '../helpers/packed.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const Tarball = suite('installed tarball');
let installed: Installed;

Tarball.before(async () => {
  installed = await installedPackage();
});
Tarball.after(() => {
  cleanupShm();
});

Tarball('install - the tarball installs with --ignore-scripts and carries the prebuilds, no local build', () => {
  const { pkg } = installed;
  assert.equal(readdirSync(join(pkg, 'prebuilds')).sort(), ['linux-arm64-glibc', 'linux-arm64-musl', 'linux-x64-glibc', 'linux-x64-musl']);
  for (const platform of readdirSync(join(pkg, 'prebuilds'))) assert.ok(existsSync(join(pkg, 'prebuilds', platform, 'shmq.so')), platform);
  assert.not.ok(existsSync(join(pkg, 'lib/native/shmq.so')), 'no local build was packed, and none was made');
  assert.not.ok(existsSync(join(pkg, 'build')), 'no C test build was packed');
  assert.ok(existsSync(join(pkg, 'dist/index.js')), 'the compiled package is there');
  assert.ok(existsSync(join(pkg, 'lib/native/shmq.so.c')) && existsSync(join(pkg, 'Makefile')), 'the fallback build has its sources');
});

Tarball('install - rxmesh up from the installed bin carries a message between two instances, on the prebuilt library', async () => {
  const shmDir = tempShmDir();
  const r = await roundTrip(installed.project, shmDir);
  assert.is(r.code, 0, `round trip failed: ${r.stderr}\n${r.stdout}`);
  const result = r.result!;
  assert.equal(result.value, { hello: 'from the installed package' });
  const prebuilt = join(installed.pkg, 'prebuilds', platformTag(), 'shmq.so');
  assert.equal(result.app, [prebuilt], 'the app mapped the prebuilt library from the tarball');
  assert.equal(result.agent, [prebuilt], 'rxmesh up mapped the prebuilt library from the tarball');
  assert.is(result.upExit, 0, 'rxmesh up stopped cleanly');
});

Tarball.run();
