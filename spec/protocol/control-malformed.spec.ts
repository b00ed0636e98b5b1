/**
 * Malformed control bodies end to end, against a real `rxmesh up`. The agent:
 * a raw app (spec/fuzz/raw-app.ts) sends CREATE, WATCH and STARTUP bodies no
 * correct client sends and gets FAILURE PROTOCOL for each, its connection
 * staying up; before AUTH, such a body also closes the connection. Meanwhile
 * the agent runs on and an app connected all along keeps its round trip. The
 * client: a FrameTap spoils one answer or event of the real agent on its way,
 * and the client refuses it (the request fails with ProtocolError; a bad event
 * drops the connection, and the client comes back).
 */
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLostError, connect, MeshError, ProtocolError, type Mesh } from '../../lib/index.js';
import { FramedConnection } from '../../lib/protocol/connection.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { roundTrip } from '../helpers/raw-control.js';
import { RawApp } from '../fuzz/raw-app.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';
import { FrameTap, type Tapped } from './frame-tap.js';

const M = ControlMessage;
let up: MeshProcess;
let good: Mesh;
let peer: Mesh;
let goodLost = false;
let tap: FrameTap;
const opened: Mesh[] = [];

const agentRuns = (): void => assert.ok(up.fixture.child.exitCode === null && up.fixture.child.signalCode === null, 'the agent is still running');

async function refusal(p: Promise<unknown>): Promise<MeshError | undefined> {
  return p.then(() => undefined, (e: MeshError) => e);
}

const Malformed = suite('malformed control bodies');
Malformed.before(async () => {
  up = await startUp();
  good = await up.connect();
  good.lost$.subscribe(() => (goodLost = true));
  peer = await up.connect();
  tap = await FrameTap.open(join(up.shmDir, 'tap.sock'), up.socket);
});
Malformed.after(async () => {
  await Promise.all(opened.map((m) => m.close()));
  await tap?.close();
  await up?.stop();
  cleanupShm();
});

Malformed('malformed control bodies - after AUTH, malformed CREATE, WATCH and STARTUP bodies get FAILURE PROTOCOL; the connection, the agent and the other apps go on', async () => {
  const raw = await RawApp.open(up.socket);
  const own = await raw.instance('g.raw.1.0', 'r');
  const BAD: Array<[string, number, unknown]> = [
    ['CREATE with a conflict the agent does not know', M.CREATE, { service: 'g.malformed.1.0', userData: 'm', conflict: 'sometimes' }],
    ['CREATE without a conflict', M.CREATE, { service: 'g.malformed.1.0', userData: 'm' }],
    ['CREATE in an array', M.CREATE, [{ service: 'g.malformed.1.0', userData: 'm', conflict: 'reject' }]],
    ['WATCH in an array', M.WATCH, [{ pattern: 'g.*.*.*' }]],
    ['WATCH without a body', M.WATCH, undefined],
    ['STARTUP of a localId in a string', M.STARTUP, { localId: String(own.localId) }],
    ['STARTUP of a localId nested in a map', M.STARTUP, { localId: { localId: own.localId } }],
    ['STARTUP of localId 2^32', M.STARTUP, { localId: 2 ** 32 }],
  ];
  for (const [what, type, body] of BAD) {
    const err = await refusal(raw.request(type, body));
    assert.instance(err, ProtocolError, what);
    assert.is(err!.code, 'PROTOCOL', what);
    assert.not.ok(raw.lost, `${what}: the connection stays up`);
  }
  // the same connection still creates, watches and starts up
  const again = await raw.instance('g.raw.1.0', 'r2');
  assert.ok(again.localId > 0);
  assert.equal(Object.keys(await raw.request(M.WATCH, { pattern: 'g.raw.*.*' }) as object).sort(), ['instances', 'watchId']);
  assert.not.ok((await up.status()).instances.some((i) => i.id.startsWith('g.malformed.')), 'no malformed CREATE made an instance');
  raw.close();
  agentRuns();
  assert.not.ok(goodLost, 'the app connected all along kept its agent connection');
  await roundTrip(peer, good, 'after-malformed');
});

/** A raw control connection that notes when it is closed. */
async function rawControl(): Promise<{ conn: FramedConnection; closed: () => boolean }> {
  const socket = createConnection(up.socket);
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let closed = false;
  const conn = new FramedConnection(socket, { onMessage: () => undefined, onClose: () => void (closed = true) });
  return { conn, closed: () => closed };
}

Malformed('malformed control bodies - before AUTH, a malformed HELLO or AUTH body gets FAILURE PROTOCOL and the connection is closed', async () => {
  const cases: Array<[string, Array<[number, unknown]>]> = [
    ['HELLO in an array', [[M.HELLO, [{ gameId: GAME, pid: 1 }]]]],
    ['HELLO with a numeric game id', [[M.HELLO, { gameId: 7, pid: 1 }]]],
    ['HELLO without a pid', [[M.HELLO, { gameId: GAME }]]],
    ['AUTH with a number for a body', [[M.HELLO, { gameId: GAME, pid: 1 }], [M.AUTH, 32]]],
  ];
  for (const [what, requests] of cases) {
    const raw = await rawControl();
    let err: MeshError | undefined;
    for (const [type, body] of requests) err = await refusal(raw.conn.request(type, body));
    assert.instance(err, ProtocolError, what);
    await until(raw.closed, 5000, `${what}: the agent to close the connection`);
  }
  agentRuns();
  assert.not.ok(goodLost);
  await roundTrip(peer, good, 'after-hello');
});

const serviceOf = (t: Tapped, field: string): string | undefined => ((t.body as Record<string, { service?: string }>)?.[field])?.service;

Malformed('malformed control bodies - the client refuses a malformed answer: the request fails with ProtocolError, the connection stays', async () => {
  const app = await connect({ gameId: GAME, password: KEY, agent: tap.path });
  opened.push(app);
  let lost = false;
  app.lost$.subscribe(() => (lost = true));
  const spoiled = tap.spoilOnce((t) => t.kind === 'answer' && t.type === M.STARTUP && (t.body as { service?: string }).service === 'g.spoilt.1.0', (b) => ({ ...b, node: -1 }));
  const inst = app.instance('g.spoilt.1.0', { userData: 's' });
  const err = await next(inst.startup$).then(() => undefined, (e: MeshError) => e);
  assert.ok(spoiled.done(), 'the STARTUP answer was spoilt');
  assert.instance(err, ProtocolError);
  assert.match(err!.message, /'node'/);
  // the connection still serves
  const after = app.instance('g.spoilt.1.0', { userData: 's2' });
  assert.is((await next(after.startup$)).id, 'g.spoilt.1.0/s2');
  assert.not.ok(lost, 'a malformed answer is not a lost agent');
  await after.close();
});

Malformed('malformed control bodies - the client refuses a malformed event: the connection is dropped as for a malformed frame, and the client comes back', async () => {
  const app = await connect({ gameId: GAME, password: KEY, agent: tap.path });
  opened.push(app);
  const lost: AgentLostError[] = [];
  app.lost$.subscribe((e) => lost.push(e));
  const watcher = app.instance('g.spoil-watch.1.0', { userData: 'w', watch: ['g.spoil-ev.*.*'] });
  await next(watcher.startup$);
  const spoiled = tap.spoilOnce((t) => t.kind === 'event' && t.type === M.ONLINE && serviceOf(t, 'instance') === 'g.spoil-ev.1.0', (b) => ({ ...b, instance: { ...(b.instance as object), node: -1 } }));
  const target = peer.instance('g.spoil-ev.1.0', { userData: 't' });
  await next(target.startup$);
  await until(() => lost.length > 0, 8000, 'the client to drop the connection');
  assert.ok(spoiled.done());
  assert.match(lost[0]!.message, /lost the agent connection: 'node' must be an integer/);
  await next(app.reconnected$);
  // back on a new connection, the watch's snapshot has the instance the spoilt event was about
  const members = await next(watcher.members$('g.spoil-ev.1.0'), (l) => l.length > 0);
  assert.is(members[0]!.id, 'g.spoil-ev.1.0/t');
  assert.is(members[0]!.node, 0);
  agentRuns();
  assert.not.ok(goodLost, 'apps on their own connections were not touched');
  await watcher.close();
  await target.close();
});

Malformed.run();
