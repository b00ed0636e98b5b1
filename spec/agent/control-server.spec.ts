/**
 * Bounds on the agent's control socket for peers that have not authenticated
 * (issue 10 item 5), against real `rxmesh up` processes with small limits:
 * idle floods, drips, oversize frames before AUTH, and the bytes held in
 * partial frames across authenticated connections. After each, real apps
 * still connect and round-trip.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { RESULT } from '../../lib/protocol/connection.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { until } from '../helpers/wait.js';
import { answer, body, closesWithin, destroyAll, dial, drip, frame, idle, lengthPrefix, meshWorks, rssMib, roundTrip, sleep, stillOpen, type Raw } from '../helpers/raw-control.js';

/** Lines the agent logged about its control socket's bounds since stderr offset `mark`. */
const boundLines = (up: MeshProcess, mark: number): string[] =>
  up.fixture.stderr.slice(mark).split('\n').filter((l) => l.includes('control socket:'));

async function authed(up: MeshProcess): Promise<Raw> {
  const raw = await dial(up.socket);
  raw.socket.write(frame(ControlMessage.HELLO, 1, { gameId: GAME, pid: process.pid }));
  const hello = await answer(raw, 1);
  assert.is(hello?.type, RESULT, 'HELLO answered');
  raw.socket.write(frame(ControlMessage.AUTH, 2, { proof: gameProof(KEY, body<{ nonce: Uint8Array }>(hello).nonce) }));
  assert.is((await answer(raw, 2))?.type, RESULT, 'AUTH answered');
  return raw;
}

// ---------------------------------------------------------------- time and count

const Time = suite('control socket bounds - deadline and count');
let up: MeshProcess;
Time.before(async () => {
  up = await startUp({ args: ['--max-pending', '16', '--auth-ms', '1500'] });
});
Time.after(async () => {
  await up?.stop();
  cleanupShm();
});

Time('control socket - 300 idle unauthenticated connections: at most --max-pending stay open, apps still connect and round-trip', async () => {
  const mark = up.fixture.stderr.length;
  const flood = await idle(up.socket, 300);
  await until(() => stillOpen(flood) <= 16, 5000, `at most 16 of 300 idle connections open (${stillOpen(flood)} are)`);
  const a = await up.connect();
  const b = await up.connect();
  await roundTrip(a, b, 'flood');
  assert.ok(stillOpen(flood) <= 16, `${stillOpen(flood)} idle connections open`);
  await a.close();
  await b.close();
  const lines = boundLines(up, mark);
  assert.ok(lines.length >= 1 && lines.length <= 2, `the closes are logged in one or two lines, not one per connection (${lines.length})`);
  destroyAll(flood);
});

Time('control socket - a connection that drips a byte every 100 ms is closed after --auth-ms', async () => {
  const raw = await dial(up.socket);
  // a HELLO frame's start: the length says 4,000 bytes follow (under the pre-auth frame limit)
  drip(raw, lengthPrefix(4000, new Uint8Array(200)));
  const ms = await closesWithin(raw, 6000, 'the dripping connection');
  assert.ok(ms >= 1000, `closed after ${Math.round(ms)} ms: by the deadline, not at once`);
  await meshWorks(up, 'drip');
});

Time.run();

// ---------------------------------------------------------------- sizes

const Size = suite('control socket bounds - frame size and buffered bytes');
let big: MeshProcess;
Size.before(async () => {
  big = await startUp({ args: ['--max-buffered-bytes', String(1024 * 1024)] }); // default deadline (10 s) and counts
});
Size.after(async () => {
  await big?.stop();
  cleanupShm();
});

Size('control socket - a 1,000,000-byte frame before AUTH is refused at its length prefix, nothing buffered', async () => {
  const pid = big.fixture.pid;
  const before = rssMib(pid);
  const conns = await Promise.all(Array.from({ length: 64 }, () => dial(big.socket)));
  const junk = new Uint8Array(1_000_000 - 10);
  for (const raw of conns) {
    raw.socket.write(lengthPrefix(1_000_000));
    raw.socket.write(junk);
  }
  await Promise.all(conns.map((raw) => closesWithin(raw, 3000, 'a connection that announced 1 MB before AUTH')));
  const grown = rssMib(pid) - before;
  assert.ok(grown < 32, `agent RSS grew by ${grown.toFixed(1)} MiB for 64 MB sent (nothing may be kept)`);
  await meshWorks(big, 'prefix');
});

Size('control socket - partial frames across authenticated connections stay under --max-buffered-bytes', async () => {
  const conns = await Promise.all([authed(big), authed(big), authed(big)]);
  // each announces 700,000 bytes and sends 600,000 of them: only one fits in 1 MiB
  for (const raw of conns) {
    raw.socket.write(lengthPrefix(700_000));
    raw.socket.write(new Uint8Array(600_000));
  }
  await until(() => stillOpen(conns) <= 1, 5000, `all but one connection closed (${stillOpen(conns)} open)`);
  await sleep(200);
  assert.is(stillOpen(conns), 1, 'the connection whose frame fitted is still open');
  await meshWorks(big, 'buffered');
  destroyAll(conns);
});

Size.run();
