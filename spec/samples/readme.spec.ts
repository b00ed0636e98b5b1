/**
 * The README's walk-through runs as written (issue 14): the ```ts block of
 * its API section, with only `from 'rxmesh'` pointed at this checkout, runs
 * as an app against a real `rxmesh up` (its demo game), exits 0, and prints
 * what its comments say.
 */
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { repoRoot, startFixture } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const Readme = suite('README walk-through');
let dir = '';
Readme.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'rxmesh-readme-'));
  symlinkSync(join(repoRoot, 'node_modules'), join(dir, 'node_modules'));
});
Readme.after(() => {
  rmSync(dir, { recursive: true, force: true });
  cleanupShm();
});

/** The first ```ts block after `heading` in README.md. */
function block(heading: string): string {
  const readme = readFileSync(join(repoRoot, 'README.md'), 'utf8');
  const at = readme.indexOf(`\n${heading}\n`);
  assert.ok(at >= 0, `README has a '${heading}' section`);
  const m = /```ts\n([\s\S]*?)```/.exec(readme.slice(at));
  assert.ok(m, `a ts block under '${heading}'`);
  return m![1]!;
}

Readme('README walk-through - the API section runs as written against rxmesh up', async () => {
  const code = block('## API');
  assert.match(code, "from 'rxmesh'");
  const file = join(dir, 'walkthrough.mts');
  writeFileSync(file, code.replaceAll("from 'rxmesh'", `from ${JSON.stringify(join(repoRoot, 'lib/index.ts'))}`));
  const shmDir = tempShmDir();
  const up = startFixture('lib/cli/main.ts', ['up', '--port', '0', '--http-port', '0', '--shm-dir', shmDir, '--exit-with-parent']);
  try {
    await up.waitFor('"ready"');
    const socket = (JSON.parse(up.stdout.split('\n').find((l) => l.includes('"ready"'))!) as { ready: { agent: { socket: string } } }).ready.agent.socket;
    const app = startFixture(file, [], { RXMESH_AGENT: socket, FORCE_COLOR: '0' });
    const exit = await app.exited;
    assert.equal(exit, { code: 0, signal: null }, app.stderr);
    assert.match(app.stdout, /^scene is demo\.scene\.1\.0\/scene-1/m);
    assert.match(app.stdout, /^1 sent$/m, app.stdout);
    assert.match(app.stdout, /^answer \{ ok: true, op: 'x' \}$/m);
    assert.not.match(app.stdout, /not delivered/);
  } finally {
    up.child.kill('SIGTERM');
    await up.exited;
  }
});

Readme.run();
