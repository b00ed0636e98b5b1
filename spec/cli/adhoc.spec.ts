/**
 * `rxmesh request`, `send` and `watch` against a real `rxmesh up`, each a
 * real process connecting as an app of game g with --key-file: request gets
 * the reply of an instance the spec runs (by service and by name), send
 * delivers to it, watch prints an instance coming online and going offline
 * and stops cleanly on SIGINT.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Instance, Mesh, Message } from '../../lib/index.js';
import { runAll, runCli, startCli } from '../helpers/cli.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';

const Adhoc = suite('cli adhoc');
let up: MeshProcess;
let app: Mesh;
let echo: Instance;
let appFlags: string[];
const received: unknown[] = [];

Adhoc.before(async () => {
  up = await startUp();
  const keyFile = join(tempShmDir(), 'g.key');
  writeFileSync(keyFile, `${KEY}\n`, { mode: 0o600 });
  appFlags = ['--game', GAME, '--key-file', keyFile, '--agent', up.socket];
  app = await up.connect();
  echo = app.instance('g.echo.1.0', { userData: 'e1' });
  echo.messages$.subscribe((m: Message) => {
    if (m.isRequest) m.reply({ echo: m.value() });
    else received.push(m.value());
  });
  await next(echo.startup$);
});

Adhoc.after(async () => {
  await up?.stop();
  cleanupShm();
});

Adhoc('adhoc - request a service and a named instance: the reply is printed (a JSON value, or --json with its sender)', async () => {
  const [bySvc, byName] = await runAll([
    ['request', 'g.echo.1.0', '{"n":1}', ...appFlags],
    ['request', 'g.echo.1.0/e1', 'hello', '--json', ...appFlags],
  ], 2);
  assert.is(bySvc!.code, 0, bySvc!.stderr);
  assert.equal(JSON.parse(bySvc!.stdout), { echo: { n: 1 } });
  assert.is(byName!.code, 0, byName!.stderr);
  assert.equal(JSON.parse(byName!.stdout), { from: 'g.echo.1.0/e1', value: { echo: 'hello' } });
});

Adhoc('adhoc - request to no instance, or with a wrong key, fails with exit 1 and says why', async () => {
  const [none, wrong] = await runAll([
    ['request', 'g.nobody.1.0', '1', ...appFlags],
    ['request', 'g.echo.1.0', '1', '--game', GAME, '--agent', up.socket],
  ], 2);
  assert.is(none!.code, 1);
  assert.match(none!.stderr, /no instance of 'g\.nobody\.1\.0' is online/);
  assert.is(wrong!.code, 2, wrong!.stderr); // no key for game g: a usage error
  assert.match(wrong!.stderr, /--key-file/);
});

Adhoc('adhoc - send delivers one message and prints where it went', async () => {
  const r = await runCli(['send', 'g.echo.1.0', '"hi"', ...appFlags]);
  assert.is(r.code, 0, r.stderr);
  assert.is(r.stdout, 'sent to g.echo.1.0/e1\n');
  await until(() => received.includes('hi'), 5000, 'the echo instance to receive it');
});

Adhoc('adhoc - watch prints an instance coming online and going offline, then stops on SIGINT', async () => {
  const w = startCli(['watch', 'g.thing.*.*', '--json', ...appFlags]);
  await w.waitFor('"watching"');
  const thing = app.instance('g.thing.1.0', { userData: 't1' });
  await next(thing.startup$);
  await w.waitFor('"online"');
  await thing.close();
  await w.waitFor('"offline"');
  w.child.kill('SIGINT');
  const exit = await w.exited;
  assert.is(exit.code, 0, w.stderr);
  const events = w.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; instance?: string; reason?: string; agentId?: string });
  assert.equal(events.map((e) => e.event), ['watching', 'online', 'offline']);
  assert.is(events[1]!.instance, 'g.thing.1.0/t1');
  assert.is(events[1]!.agentId, up.agentId);
  assert.is(events[2]!.reason, 'closed');
});

Adhoc.run();
