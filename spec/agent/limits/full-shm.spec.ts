/**
 * A full tmpfs (Docker's 64 MB /dev/shm, a pod's sized emptyDir): the agent's
 * shm dir on a 5 MiB tmpfs with 1 MiB rings holds two instances (two rings
 * each, plus their headers); the next one is refused with LimitError naming
 * the bytes it needed, never a SIGBUS, and the agent and the instances it
 * already has keep working. Needs root (mount).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LimitError, type Instance, type Mesh } from '../../../lib/index.js';
import { startUp, type MeshProcess } from '../../helpers/mesh.js';
import { next } from '../../helpers/wait.js';

const FullShm = suite('full shm');
const mountPoint = mkdtempSync('/tmp/rxmesh-small-shm-');
let mounted = false;
let up: MeshProcess | undefined;
let mesh: Mesh | undefined;

FullShm.before(() => {
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=5m,mode=0755', 'tmpfs', mountPoint]);
  mounted = true;
});
FullShm.after(async () => {
  await mesh?.close();
  await up?.stop();
  if (mounted) execFileSync('umount', [mountPoint]);
  rmSync(mountPoint, { recursive: true, force: true });
});

FullShm('full shm - the instance that does not fit is refused with LimitError naming the bytes; the agent and the others go on', async () => {
  up = await startUp({ shmDir: join(mountPoint, 'agent'), args: ['--ring-bytes', String(1 << 20)] });
  mesh = await up.connect();
  const fitted: Instance[] = [];
  let refused: unknown;
  for (let i = 0; i < 6 && !refused; i++) {
    const inst = mesh.instance('g.fill.1.0', { userData: `i${i}` });
    try {
      await next(inst.startup$);
      fitted.push(inst);
    } catch (err) {
      refused = err;
    }
  }
  assert.ok(fitted.length >= 1, `${fitted.length} instances fitted`);
  assert.instance(refused, LimitError, String(refused));
  assert.match((refused as Error).message, /no room for this instance's rings: .*\d+ bytes/);
  // the agent is alive and the instances it has still talk
  const [a, b] = [fitted[0]!, fitted[1] ?? fitted[0]!];
  const got = next(b.messages$);
  a.sendTo(b.ref!, 'still here');
  assert.is((await got).value(), 'still here');
  // and once one closes, its room is back
  await fitted.pop()!.close();
  const again = mesh.instance('g.fill.1.0', { userData: 'again' });
  assert.is((await next(again.startup$)).userData, 'again');
});

FullShm.run();
