/**
 * `rxmesh/server` (issue 14): a host program starts the name server and an
 * agent from the library alone, no CLI; an app connects through the main
 * entry and gets request/reply; the host stops cleanly on SIGTERM and leaves
 * no ring file behind.
 */
import { readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, reply } from '../../lib/index.js';
import { startFixture } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next } from '../helpers/wait.js';

const Embedded = suite('embedded server');
Embedded.after(cleanupShm);

Embedded('embedded server - a host program runs ns + agent through rxmesh/server; an app talks through it', async () => {
  const dir = tempShmDir();
  const host = startFixture('spec/ops/fixtures/embedded-host.ts', [dir]);
  try {
    await host.waitFor('"socket"');
    const { socket } = JSON.parse(host.stdout.trim().split('\n')[0]!) as { socket: string };
    const mesh = await connect({ gameId: 'g', password: 'g-key', agent: socket });
    const echo = mesh.instance('g.echo.1.0', { userData: 'e' });
    echo.messages$.pipe(reply((m) => m.value())).subscribe();
    const asker = mesh.instance('g.ask.1.0', { userData: 'a', watch: ['g.echo.1.0'] });
    await next(echo.startup$);
    await next(asker.startup$);
    await next(asker.members$('g.echo.1.0'), (l) => l.length === 1);
    const answer = await asker.request('g.echo.1.0', { n: 41 }, { timeoutMs: 5000 });
    assert.equal(answer.value(), { n: 41 });
    await mesh.close();
    host.child.kill('SIGTERM');
    const exit = await host.exited;
    assert.equal(exit, { code: 0, signal: null }, host.stderr);
    const left = readdirSync(dir, { recursive: true }).filter((f) => /\.(rx|tx)$/.test(String(f)));
    assert.equal(left, [], 'no ring file left behind');
  } finally {
    await host.kill();
  }
});

Embedded.run();
