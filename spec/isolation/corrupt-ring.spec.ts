/**
 * An app that corrupts its own rings (issue 10, item 1): whatever it writes
 * into the positions and records of its own rings, the agent drops that one
 * instance (offline `crashed`, its app told FAULT) and goes on serving
 * everyone else: the agent process stays up, a canary pair on the same agent
 * keeps its request/reply round trip, and messages sent to the broken
 * instance afterwards are bounced to their senders, not lost.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Mesh, type Undeliverable } from '../../lib/index.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let mesh: Mesh;
const fixtures: Fixture[] = [];

const Corrupt = suite('corrupt rings');
Corrupt.before(async () => {
  up = await startUp();
  mesh = await up.connect();
  const echo = mesh.instance('g.canary-echo.1.0', { userData: 'e' });
  await next(echo.startup$);
  echo.messages$.subscribe((m) => m.reply(m.data));
});
Corrupt.after(async () => {
  await Promise.all(fixtures.map((f) => f.kill()));
  await mesh?.close();
  await up?.stop();
  cleanupShm();
});

/** One request/reply through the agent, from a fresh instance each time. */
async function canaryRoundTrip(tag: string): Promise<void> {
  const asker = mesh.instance(`g.canary-ask.1.0`, { userData: tag, watch: ['g.canary-echo.1.0'] });
  await next(asker.startup$);
  const reply = await asker.request('g.canary-echo.1.0', new TextEncoder().encode(tag), { timeoutMs: 5000 });
  assert.is(new TextDecoder().decode(reply.data), tag);
  await asker.close();
}

for (const what of ['rx-head', 'tx-record'] as const) {
  Corrupt(`corrupt rings - ${what}: only that instance is dropped; the agent and the other apps go on`, async () => {
    const svc = `g.hostile-${what}.1.0`;
    const watcher = mesh.instance(`g.watch-${what}.1.0`, { userData: 'w', watch: [svc] });
    await next(watcher.startup$);
    const f = startFixture('spec/isolation/fixtures/scribbler.ts', [JSON.stringify({ socket: up.socket, service: svc, what })]);
    fixtures.push(f);
    await f.waitFor('started ');
    const target = (await next(watcher.members$(svc), (l) => l.length > 0))[0]!;
    const offline = next(watcher.offline$, () => true, 8000);
    offline.catch(() => {}); // awaited below; a failure before then must not crash the run
    const bounced: Undeliverable[] = [];
    watcher.undeliverable$.subscribe((u) => bounced.push(u));
    await f.waitFor('scribbled');
    // traffic both ways makes the agent touch both rings
    let sent = 0;
    const stop = performance.now() + 3000;
    let gone = false;
    void offline.then(() => (gone = true));
    while (!gone && performance.now() < stop) {
      try {
        watcher.sendTo(target, new Uint8Array(64));
        sent++;
      } catch (err) {
        if (!(err instanceof QueueFullError)) throw err;
      }
      await sleep(2);
    }
    const ev = await offline;
    assert.is(ev.instance.localId, target.localId);
    assert.is(ev.reason, 'crashed');
    assert.ok(up.fixture.child.exitCode === null && up.fixture.child.signalCode === null, 'the agent is still running');
    // after the fault, a message to the dropped instance comes back
    watcher.sendTo(target, new Uint8Array(8));
    await until(() => bounced.some((u) => u.data.length === 8 && u.reason === 'offline'), 5000, 'a bounce for the dropped instance');
    await canaryRoundTrip(what);
    assert.ok(sent > 0);
    await watcher.close();
  });
}

Corrupt('corrupt rings - tx-tail: a producer position only the app uses hurts no one else', async () => {
  const svc = 'g.hostile-tx-tail.1.0';
  const watcher = mesh.instance('g.watch-tx-tail.1.0', { userData: 'w', watch: [svc] });
  await next(watcher.startup$);
  const f = startFixture('spec/isolation/fixtures/scribbler.ts', [JSON.stringify({ socket: up.socket, service: svc, what: 'tx-tail' })]);
  fixtures.push(f);
  await f.waitFor('scribbled');
  const target = (await next(watcher.members$(svc), (l) => l.length > 0))[0]!;
  await canaryRoundTrip('tx-tail');
  assert.ok(up.fixture.child.exitCode === null && up.fixture.child.signalCode === null, 'the agent is still running');
  assert.ok((await up.status()).instances.some((i) => i.localId === target.localId && i.state === 'online'));
  await watcher.close();
});

Corrupt('corrupt rings - a sender rewriting records after the agent read them cannot break its receiver', async () => {
  // The agent copies runs of whole messages from a tx ring into the receiver's ring after it has
  // checked them; the sender may scribble on them in between. What reaches the receiver must be
  // what the agent checked (lengths, types, source), every message accepted must be delivered.
  const victim = mesh.instance('g.rewrite-victim.1.0', { userData: 'v' });
  const ref = await next(victim.startup$);
  let got = 0;
  let bad = 0;
  victim.messages$.subscribe((m) => {
    got++;
    if (m.data.length !== 64 || m.data.some((b) => b !== 0x5a)) bad++;
  });
  const f = startFixture('spec/isolation/fixtures/rewriter.ts', [JSON.stringify({ socket: up.socket, service: 'g.rewriter.1.0', victim: 'g.rewrite-victim.1.0', ms: 2000 })]);
  fixtures.push(f);
  await f.waitFor('done ');
  const [sent, rewritten] = /done (\d+) (\d+)/.exec(f.stdout)!.slice(1).map(Number) as [number, number];
  assert.ok(rewritten > 0, 'the sender rewrote records the agent had read');
  await until(() => got >= sent, 10_000, `all ${sent} messages delivered (got ${got})`);
  assert.is(got, sent);
  assert.is(bad, 0, 'every message arrived as sent');
  assert.ok(up.fixture.child.exitCode === null && up.fixture.child.signalCode === null, 'the agent is still running');
  assert.ok((await up.status()).instances.some((i) => i.localId === ref.localId && i.state === 'online'), 'the receiver is still online');
  await canaryRoundTrip('rewrite');
  await victim.close();
});

Corrupt('corrupt rings - rx-record: a ring its app cannot read reaches it as RingFailureError (RING_FAILURE); the app and its other instance go on', async () => {
  // The app's side of the same promise: a record in its rx ring scribbled on (here by the app itself)
  // makes its reader fail; that instance closes, its messages$ errors with a MeshError, code
  // RING_FAILURE (never the native RingError), and the process and its other instances keep working.
  const svc = 'g.hostile-rx-record.1.0';
  const watcher = mesh.instance('g.watch-rx-record.1.0', { userData: 'w', watch: [svc, `${svc}-bystander`] });
  await next(watcher.startup$);
  const f = startFixture('spec/isolation/fixtures/scribbler.ts', [JSON.stringify({ socket: up.socket, service: svc, what: 'rx-record' })]);
  fixtures.push(f);
  await f.waitFor('started ');
  const target = (await next(watcher.members$(svc), (l) => l.length > 0))[0]!;
  watcher.sendTo(target, new Uint8Array(16));
  await f.waitFor('scribbled');
  await f.waitFor('messages-');
  assert.match(f.stdout, /messages-error RING_FAILURE RingFailureError/, f.stdout + f.stderr);
  assert.ok(f.child.exitCode === null && f.child.signalCode === null, 'the app is still running');
  const echoed = await watcher.request(`${svc}-bystander`, new TextEncoder().encode('still here'), { timeoutMs: 5000 });
  assert.is(new TextDecoder().decode(echoed.data), 'still here');
  assert.ok(up.fixture.child.exitCode === null && up.fixture.child.signalCode === null, 'the agent is still running');
  await canaryRoundTrip('rx-record');
  await watcher.close();
});

Corrupt.run();
