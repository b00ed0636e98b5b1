/**
 * Bad input against one real `rxmesh up`: wrong game keys, invalid names,
 * garbage on the agent's control socket and on the name server's ports, and
 * cross-game traffic. After each, a separately connected app must still
 * create an instance and exchange a message (DESIGN §6 "a malformed frame
 * closes only that connection", §7 security and bad input).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { createConnection, type Socket } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AuthError, CrossGameError, InvalidNameError, MeshError, connect, type Instance, type InstanceRef, type Mesh } from '../../lib/index.js';
import { gameProof } from '../../lib/protocol/auth.js';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { FAILURE, RESULT } from '../../lib/protocol/connection.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { encodeFrame, FrameDecoder, type Frame } from '../../lib/protocol/frame.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { closedWithin, httpGet, rawSocket } from '../helpers/ns.js';
import { cleanupShm } from '../helpers/shm.js';
import { GUARD_MS, next, until } from '../helpers/wait.js';

// ---------------------------------------------------------------- one `rxmesh up` for every suite

let up: MeshProcess | undefined;
let app: Mesh; // the healthy app: must keep working whatever the others send
let peer: Mesh;
let echo: Instance;
let appLost = false;
let probes = 0;

async function shared(): Promise<MeshProcess> {
  if (up) return up;
  up = await startUp();
  app = await up.connect();
  app.lost$.subscribe(() => (appLost = true));
  peer = await up.connect();
  echo = peer.instance('g.echo.1.0', { userData: 'echo' });
  echo.messages$.subscribe((m) => m.reply(m.value()));
  await next(echo.startup$);
  return up;
}

async function stopShared(): Promise<void> {
  await app?.close();
  await peer?.close();
  await up?.stop();
  cleanupShm();
}

/** The agent still runs, and the healthy app creates an instance and gets an answer from another one. */
async function assertMeshWorks(): Promise<void> {
  assert.is(up!.fixture.child.exitCode, null, 'rxmesh up is still running');
  assert.not.ok(appLost, 'the healthy app kept its agent connection');
  const n = ++probes;
  const probe = app.instance('g.probe.1.0', { userData: `p${n}` });
  await next(probe.startup$);
  const reply = await probe.request(echo.ref!, { n }, { timeoutMs: GUARD_MS });
  assert.equal(reply.value(), { n });
  await probe.close();
}

/** Did the name server drop the agent's own registry connection after stderr offset `mark`? */
function registryLinkCutSince(mark: number): boolean {
  return up!.fixture.stderr.slice(mark).includes(`(agent '${up!.ready.agent!.agentId}'): connection closed`);
}

const registered = async (): Promise<string[]> =>
  ((await httpGet(up!.ready.ns!.httpPort, '/v1/instances')).body as Array<{ service: string; userData: string }>).map((r) => `${r.service}/${r.userData}`);

// ---------------------------------------------------------------- raw sockets

const frame = (type: number, id: number, body: unknown): Buffer => encodeFrame(type, id, encodeValue(body));

/** Random bytes whose length prefix is at least 1 GiB, so every parser must refuse them at once. */
function junk(size: number): Buffer {
  const b = randomBytes(size);
  b[0] = 0x40 | b[0]!;
  return b;
}

interface Raw {
  socket: Socket;
  frames: Frame[];
  closed: () => boolean;
}

/** Watch a raw socket: decode the frames it receives, note when it closes. */
function watchRaw(socket: Socket): Raw {
  const frames: Frame[] = [];
  const decoder = new FrameDecoder();
  let closed = false;
  socket.on('data', (chunk: Buffer) => {
    try {
      frames.push(...decoder.push(chunk));
    } catch { /* the spec asserts on frames it understands */ }
  });
  socket.on('error', () => {}); // resets are expected when the peer drops us
  socket.once('close', () => (closed = true));
  return { socket, frames, closed: () => closed };
}

function rawControl(): Promise<Raw> {
  return new Promise((resolve, reject) => {
    const s = createConnection(up!.socket);
    s.once('error', reject);
    s.once('connect', () => {
      s.off('error', reject);
      resolve(watchRaw(s));
    });
  });
}

/** The answer to request `id`, or undefined if the connection closed without one. */
async function answer(raw: Raw, id: number): Promise<Frame | undefined> {
  await until(() => raw.frames.some((f) => f.id === id) || raw.closed(), GUARD_MS, `an answer to request ${id}`);
  return raw.frames.find((f) => f.id === id);
}

/** A raw control connection that did HELLO and AUTH with the right key. */
async function authedControl(): Promise<Raw> {
  const raw = await rawControl();
  raw.socket.write(frame(ControlMessage.HELLO, 1, { gameId: GAME, pid: process.pid }));
  const hello = await answer(raw, 1);
  assert.is(hello?.type, RESULT, 'HELLO answered');
  const { nonce } = decodeValue<{ nonce: Uint8Array }>(hello!.body);
  raw.socket.write(frame(ControlMessage.AUTH, 2, { proof: gameProof(KEY, nonce) }));
  assert.is((await answer(raw, 2))?.type, RESULT, 'AUTH answered');
  return raw;
}

const failureCode = (f: Frame | undefined): string | undefined =>
  f?.type === FAILURE ? decodeValue<{ code: string }>(f.body).code : undefined;

// ---------------------------------------------------------------- auth

const Auth = suite('bad input - game auth');
Auth.before(async () => void (await shared()));

Auth('bad input - wrong game key is refused with AuthError saying so', async () => {
  const err = await connect({ gameId: GAME, password: 'not-the-key', agent: up!.socket }).then(() => null, (e: Error) => e);
  assert.instance(err, AuthError);
  assert.is((err as AuthError).code, 'AUTH');
  assert.match((err as Error).message, `wrong key for game '${GAME}'`);
  assert.not.ok((err as AuthError).retryable);
  await assertMeshWorks();
});

Auth('bad input - unknown game id is refused with AuthError saying the game is unknown, not that the key is wrong', async () => {
  const err = await connect({ gameId: 'nosuchgame', password: 'any', agent: up!.socket }).then(() => null, (e: Error) => e);
  assert.instance(err, AuthError);
  assert.is((err as AuthError).code, 'AUTH');
  assert.match((err as Error).message, "unknown game 'nosuchgame': no game of that id is registered");
  assert.not.match((err as Error).message, 'wrong key');
});

Auth('bad input - the key of another game is refused with AuthError', async () => {
  const err = await connect({ gameId: GAME, password: 'other-key', agent: up!.socket }).then(() => null, (e: Error) => e);
  assert.instance(err, AuthError);
});

Auth('bad input - 20 wrong keys at once, then a correct client is served', async () => {
  const errs = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    connect({ gameId: GAME, password: `wrong-${i}`, agent: up!.socket }).then(() => null, (e: Error) => e)));
  assert.ok(errs.every((e) => e instanceof AuthError), 'every one refused with AuthError');
  const good = await up!.connect();
  const inst = good.instance('g.after-auth.1.0', { userData: 'ok' });
  assert.is((await next(inst.startup$)).id, 'g.after-auth.1.0/ok');
  await good.close();
  await assertMeshWorks();
});

Auth('bad input - a malformed AUTH proof is refused with AUTH and does not cut the agent\'s registry link', async () => {
  const mark = up!.fixture.stderr.length;
  for (const proof of [new Uint8Array(0), new Uint8Array(100), 'a string', undefined]) {
    const raw = await rawControl();
    raw.socket.write(frame(ControlMessage.HELLO, 1, { gameId: GAME, pid: process.pid }));
    assert.is((await answer(raw, 1))?.type, RESULT);
    raw.socket.write(frame(ControlMessage.AUTH, 2, proof === undefined ? {} : { proof }));
    const code = failureCode(await answer(raw, 2));
    raw.socket.destroy();
    await assertMeshWorks();
    assert.not.ok(registryLinkCutSince(mark), `an app's AUTH with proof ${proof instanceof Uint8Array ? `of ${proof.length} bytes` : String(proof)} made the name server drop the agent's registry connection`);
    assert.is(code, 'AUTH', `proof ${proof instanceof Uint8Array ? `of ${proof.length} bytes` : String(proof)}`);
  }
});

Auth.run();

// ---------------------------------------------------------------- names

const Names = suite('bad input - invalid names');
Names.before(async () => void (await shared()));

const BAD_SERVICES = ['g.bad name.1.0', 'g.svc.1', 'g.svc.1.0.x', 'g..1.0', '', 'g.sv*.1.0', 'g.*.1.0', `g.${'x'.repeat(65)}.1.0`, 'g.caf\u00e9.1.0', 'g/svc.1.0.x'];
const BAD_USER_DATA = ['', 'has space', 'a/b', 'x'.repeat(129), 'tab\t', 'caf\u00e9'];
const BAD_PATTERNS = ['*.svc.1.0', 'g.sv*.1.0', 'g.svc.1', 'g.**.1.0', '', 'g.svc.1.0.*'];

Names('bad input - invalid service name, user data or watch pattern throws InvalidNameError at once, sending nothing', async () => {
  const filesBefore = readdirSync(up!.shmDir);
  const instancesBefore = await registered();
  const isInvalidName = (e: unknown): boolean => e instanceof InvalidNameError && e.code === 'INVALID_NAME';
  for (const svc of BAD_SERVICES) assert.throws(() => app.instance(svc, { userData: 'u' }), isInvalidName, `service '${svc}'`);
  for (const ud of BAD_USER_DATA) assert.throws(() => app.instance('g.names.1.0', { userData: ud }), isInvalidName, `userData '${ud}'`);
  assert.throws(() => app.instance('g.names.1.0', { userData: 42 as unknown as string }), isInvalidName, 'userData not a string');
  for (const p of BAD_PATTERNS) assert.throws(() => app.instance('g.names.1.0', { userData: 'u', watch: [p] }), isInvalidName, `pattern '${p}'`);
  assert.throws(() => app.instance('g.names.1.0', { userData: 'u', watch: ['g.ok.*.*', 'g.b*d.*.*'] }), isInvalidName, 'one bad pattern among good ones');
  // The agent got no CREATE: no rings or bells appeared, the name server registered nothing.
  await assertMeshWorks(); // a full control round trip after the attempts
  assert.equal(readdirSync(up!.shmDir).filter((f) => !filesBefore.includes(f)), [], 'no new files in the agent\'s shm dir');
  assert.equal((await registered()).filter((id) => !instancesBefore.includes(id)), [], 'nothing new on the name server');
});

Names('bad input - invalid names in send, broadcast and service$ are refused with InvalidNameError', async () => {
  const inst = app.instance('g.names-sender.1.0', { userData: 's' });
  await next(inst.startup$);
  for (const svc of BAD_SERVICES) {
    assert.throws(() => inst.send(svc, 'x'), (e: unknown) => e instanceof InvalidNameError, `send to '${svc}'`);
    assert.throws(() => inst.broadcast(svc, 'x'), (e: unknown) => e instanceof InvalidNameError, `broadcast to '${svc}'`);
    const err = await inst.service$(svc).then(() => null, (e: Error) => e);
    assert.instance(err, InvalidNameError, `service$('${svc}')`);
  }
  await inst.close();
});

Names.run();

// ---------------------------------------------------------------- control socket

const Control = suite('bad input - agent control socket');
Control.before(async () => void (await shared()));

const HELLO = frame(ControlMessage.HELLO, 1, { gameId: GAME, pid: 1 });
const SNEAK = { service: 'g.sneak.1.0', userData: 'u', conflict: 'reject' };

// [what, bytes, half-close from our side after writing, reason the agent logs]
const CONTROL_GARBAGE: Array<[string, Buffer, boolean, RegExp | undefined]> = [
  ['random bytes', junk(4096), false, /exceeds the .*limit/],
  ['a truncated frame, then close', HELLO.subarray(0, 9), true, undefined],
  ['a frame with a 2 GiB length prefix', Buffer.from([0x80, 0, 0, 0, 0, ControlMessage.HELLO, 0, 0, 0, 1]), false, /exceeds the .*limit/],
  ['a length shorter than the frame header', Buffer.from([0, 0, 0, 2, 0, 0]), false, /shorter than/],
  ['a valid frame with garbage CBOR', encodeFrame(ControlMessage.HELLO, 1, Buffer.from([0xff, 0xfe, 0x1c, 0x5c, 0xff])), false, /malformed CBOR/],
  ['an unknown event type before auth', frame(0x7777, 0, { x: 1 }), false, undefined],
];

for (const [what, bytes, end, reason] of CONTROL_GARBAGE) {
  Control(`bad input - control socket: ${what} closes only that connection`, async () => {
    const mark = up!.fixture.stderr.length;
    const raw = await rawControl();
    raw.socket.write(bytes);
    if (end) raw.socket.end();
    await closedWithin(raw.socket);
    if (reason) await until(() => reason.test(up!.fixture.stderr.slice(mark)), GUARD_MS, `the agent to log a reason matching ${reason}`);
    await assertMeshWorks();
  });
}

// Requests no correct client sends before it authenticated: a FAILURE answer, then the agent closes the connection.
const BEFORE_AUTH: Array<[string, Buffer, number]> = [
  ['an unknown message type before auth', frame(0x7777, 1, { x: 1 }), 1],
  ['CREATE before HELLO', frame(ControlMessage.CREATE, 1, SNEAK), 1],
  ['CREATE after HELLO, before AUTH', Buffer.concat([HELLO, frame(ControlMessage.CREATE, 2, SNEAK)]), 2],
];

for (const [what, bytes, id] of BEFORE_AUTH) {
  Control(`bad input - control socket: ${what} is answered with FAILURE and the connection closed`, async () => {
    const raw = await rawControl();
    raw.socket.write(bytes);
    const f = await answer(raw, id);
    assert.is(f?.type, FAILURE, 'answered with a FAILURE frame');
    assert.ok(['AUTH', 'PROTOCOL'].includes(failureCode(f)!), `failure code ${failureCode(f)}`);
    assert.not.ok((await registered()).includes('g.sneak.1.0/u'), 'nothing registered');
    await assertMeshWorks();
    await closedWithin(raw.socket).catch(() => {
      raw.socket.destroy();
      assert.unreachable(`after ${what} the agent left the unauthenticated connection open`);
    });
  });
}

// After AUTH: bodies no correct client sends. Each gets a FAILURE (or its connection closed), never a RESULT.
const otherInstance = (): number => echo.ref!.localId;
const AUTHED_BAD: Array<[string, number, () => unknown]> = [
  ['CREATE without fields', ControlMessage.CREATE, () => ({})],
  ['CREATE with a number body', ControlMessage.CREATE, () => 5],
  ['CREATE with an array body', ControlMessage.CREATE, () => [1, 2]],
  ['CREATE with a null body', ControlMessage.CREATE, () => null],
  ['CREATE with a numeric service', ControlMessage.CREATE, () => ({ service: 5, userData: 'u' })],
  ['CREATE with map user data', ControlMessage.CREATE, () => ({ service: 'g.f.1.0', userData: { a: 1 } })],
  ['CREATE with an invalid service', ControlMessage.CREATE, () => ({ service: 'g.bad name.1.0', userData: 'u' })],
  ['CREATE in another game', ControlMessage.CREATE, () => ({ service: 'other.f.1.0', userData: 'u' })],
  ['STARTUP of localId -1', ControlMessage.STARTUP, () => ({ localId: -1 })],
  ['STARTUP of localId 1.5', ControlMessage.STARTUP, () => ({ localId: 1.5 })],
  ['STARTUP of localId "x"', ControlMessage.STARTUP, () => ({ localId: 'x' })],
  ['STARTUP of localId 2^40', ControlMessage.STARTUP, () => ({ localId: 2 ** 40 })],
  ['STARTUP of another app\'s instance', ControlMessage.STARTUP, () => ({ localId: otherInstance() })],
  ['CLOSE of another app\'s instance', ControlMessage.CLOSE, () => ({ localId: otherInstance() })],
  ['CLOSE of an unknown instance', ControlMessage.CLOSE, () => ({ localId: 424242 })],
  ['WATCH of a null pattern', ControlMessage.WATCH, () => ({ pattern: null })],
  ['WATCH of every game', ControlMessage.WATCH, () => ({ pattern: '*.*.*.*' })],
  ['WATCH of another game', ControlMessage.WATCH, () => ({ pattern: 'other.*.*.*' })],
  ['UNWATCH of watchId "a"', ControlMessage.UNWATCH, () => ({ watchId: 'a' })],
  ['RESOLVE of node -1', ControlMessage.RESOLVE, () => ({ node: -1, localId: 0 })],
  ['RESOLVE of an unknown instance', ControlMessage.RESOLVE, () => ({ node: 99, localId: 99 })],
  ['a second HELLO', ControlMessage.HELLO, () => ({ gameId: GAME, pid: 1 })],
  ['a second AUTH', ControlMessage.AUTH, () => ({ proof: new Uint8Array(32) })],
  ['an unknown message type', 0x7777, () => ({})],
];

Control('bad input - control socket: malformed requests after AUTH are refused, never applied', async () => {
  for (const [what, type, body] of AUTHED_BAD) {
    const raw = await authedControl();
    raw.socket.write(frame(type, 3, body()));
    const f = await answer(raw, 3);
    raw.socket.destroy();
    assert.ok(f === undefined || f.type === FAILURE, `${what}: answered with ${f ? `frame type ${f.type}` : 'nothing'}`);
  }
  assert.not.ok((await registered()).some((id) => id.startsWith('g.f.') || id.startsWith('other.f.')), 'nothing registered');
  await assertMeshWorks(); // includes a request to echo, whose CLOSE was refused above
});

Control('bad input - control socket: fuzz, 150 connections of random bytes never take the agent down', async () => {
  for (let i = 0; i < 150; i++) {
    const raw = await rawControl();
    const bytes = randomBytes(8 + Math.floor(Math.random() * 512));
    // now and then a valid-looking prefix and a known type, so bodies get decoded and dispatched too
    if (i % 3 === 0) bytes.writeUInt32BE(Math.min(bytes.length - 4, 6 + (bytes[4]! % 64)), 0);
    if (i % 6 === 0) bytes.writeUInt16BE(ControlMessage.HELLO + (bytes[5]! % 8), 4);
    raw.socket.write(bytes);
    raw.socket.end();
    await closedWithin(raw.socket);
  }
  await assertMeshWorks();
});

Control.run();

// ---------------------------------------------------------------- name server ports

const NsPorts = suite('bad input - name server ports');
NsPorts.before(async () => void (await shared()));

const NS_GARBAGE: Array<[string, Buffer, boolean]> = [
  ['random bytes', junk(4096), false],
  ['a truncated frame, then close', frame(NsMessage.HELLO, 1, { agentId: 'x', address: '' }).subarray(0, 9), true],
  ['a frame with a 2 GiB length prefix', Buffer.from([0x80, 0, 0, 0, 0, NsMessage.HELLO, 0, 0, 0, 1]), false],
  ['a valid frame with garbage CBOR', encodeFrame(NsMessage.HELLO, 1, Buffer.from([0xff, 0xfe, 0x1c, 0x5c, 0xff])), false],
  ['an unknown message type', frame(0x7777, 1, { x: 1 }), false],
  ['REGISTER before HELLO', frame(NsMessage.REGISTER, 1, { instance: { gameId: 'g', service: 'g.sneak.1.0', userData: 'u', agentId: 'x', address: '', localId: 1, online: false }, conflict: 'reject' }), false],
];

for (const [what, bytes, end] of NS_GARBAGE) {
  NsPorts(`bad input - name server TCP port: ${what} closes only that connection`, async () => {
    const mark = up!.fixture.stderr.length;
    const s = await rawSocket(up!.ready.ns!.port);
    s.write(bytes);
    if (end) s.end();
    await closedWithin(s);
    await assertMeshWorks();
    assert.not.ok(registryLinkCutSince(mark), 'the agent\'s own registry connection was left alone');
    assert.not.ok((await registered()).includes('g.sneak.1.0/u'), 'nothing registered');
  });
}

NsPorts('bad input - name server TCP port: fuzz, 100 connections of random bytes', async () => {
  const mark = up!.fixture.stderr.length;
  for (let i = 0; i < 100; i++) {
    const s = await rawSocket(up!.ready.ns!.port);
    const bytes = randomBytes(8 + Math.floor(Math.random() * 512));
    if (i % 3 === 0) bytes.writeUInt32BE(Math.min(bytes.length - 4, 6 + (bytes[4]! % 64)), 0);
    s.write(bytes);
    s.end();
    await closedWithin(s);
  }
  await assertMeshWorks();
  assert.not.ok(registryLinkCutSince(mark), 'the agent\'s own registry connection was left alone');
});

NsPorts('bad input - name server HTTP port: garbage gets a 400 and the view keeps serving', async () => {
  const s = await rawSocket(up!.ready.ns!.httpPort);
  s.write(Buffer.concat([Buffer.from('\x00\x01GARBAGE / HTTP/9.9\r\n'), randomBytes(256), Buffer.from('\r\n\r\n')]));
  await closedWithin(s);
  assert.is((await httpGet(up!.ready.ns!.httpPort, '/healthz')).status, 200);
  await assertMeshWorks();
});

NsPorts.run();

// ---------------------------------------------------------------- cross-game

const CrossGame = suite('bad input - cross-game');
let otherApp: Mesh | undefined;
CrossGame.before(async () => {
  await shared();
  otherApp = await up!.connect('other');
});
CrossGame.after(async () => {
  await otherApp?.close();
  await stopShared(); // the last suite of this file
});

CrossGame('bad input - an app of game g cannot resolve an instance of game other (NOT_FOUND)', async () => {
  const theirs = otherApp!.instance('other.hidden.1.0', { userData: 'h' });
  const ref = await next(theirs.startup$);
  const raw = await authedControl();
  raw.socket.write(frame(ControlMessage.RESOLVE, 3, { node: 0, localId: ref.localId }));
  assert.is(failureCode(await answer(raw, 3)), 'NOT_FOUND', 'another game\'s instance is not named to it');
  raw.socket.destroy();
  await theirs.close();
});

CrossGame('bad input - an app of game g cannot create an instance of other.svc.1.0 (CrossGameError)', async () => {
  const inst = app.instance('other.svc.1.0', { userData: 'intruder' });
  const err = await next(inst.startup$).then(() => null, (e: Error) => e);
  assert.instance(err, CrossGameError);
  assert.is((err as MeshError).code, 'CROSS_GAME');
  assert.not.ok((await registered()).includes('other.svc.1.0/intruder'), 'nothing registered');
  await assertMeshWorks();
});

CrossGame('bad input - an app of game g cannot watch other.*.*.* (CrossGameError)', async () => {
  const watcher = app.instance('g.cross-watch.1.0', { userData: 'w', watch: ['other.*.*.*'] });
  const err = await next(watcher.startup$).then(() => null, (e: Error) => e);
  assert.instance(err, CrossGameError);
  const online = app.instance('g.cross-watch.1.0', { userData: 'w2' });
  await next(online.startup$);
  const err2 = await online.service$('other.svc.1.0').then(() => null, (e: Error) => e);
  assert.instance(err2, CrossGameError, 'service$ of another game');
  await online.close();
  await assertMeshWorks();
});

CrossGame('bad input - send, request and broadcast to a service of another game throw CrossGameError, not NotWatchedError', async () => {
  const sender = app.instance('g.cross-send.1.0', { userData: 's' });
  await next(sender.startup$);
  const bounced: unknown[] = [];
  sender.undeliverable$.subscribe((u) => bounced.push(u));
  for (const [what, call] of [
    ['send', () => sender.send('other.svc.1.0', 1)],
    ['broadcast', () => sender.broadcast('other.svc.1.0', 1)],
  ] as const) {
    const err = (() => { try { call(); return null; } catch (e) { return e; } })();
    assert.instance(err, CrossGameError, what);
    assert.match((err as Error).message, "service 'other.svc.1.0' belongs to game 'other', not 'g'");
  }
  const err = await sender.request('other.svc.1.0', 1, { timeoutMs: 1000 }).then(() => null, (e: unknown) => e);
  assert.instance(err, CrossGameError, 'request');
  assert.is(sender.stats().pendingRequests, 0);
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(bounced, [], 'nothing was sent, so nothing comes back');
  await sender.close();
  await assertMeshWorks();
});

CrossGame('bad input - a message to an instance of another game is not delivered; the sender gets undeliverable cross_game', async () => {
  const target = otherApp!.instance('other.svc.1.0', { userData: 't' });
  const targetRef = await next(target.startup$);
  const received: unknown[] = [];
  target.messages$.subscribe((m) => received.push(m.value()));
  const sender = app.instance('g.cross-sender.1.0', { userData: 's' });
  await next(sender.startup$);

  const forged: InstanceRef = { service: 'other.svc.1.0', userData: 't', id: 'other.svc.1.0/t', agentId: '', node: 0, localId: targetRef.localId, epoch: sender.ref!.epoch };
  const bounced = next(sender.undeliverable$);
  sender.sendTo(forged, 'sneaky');
  const u = await bounced;
  assert.is(u.reason, 'cross_game');
  assert.is(u.value(), 'sneaky');
  assert.is(u.to.localId, targetRef.localId);

  // A message from its own game still arrives, and it is the only one.
  const friend = otherApp!.instance('other.friend.1.0', { userData: 'f' });
  await next(friend.startup$);
  const arrived = next(target.messages$);
  friend.sendTo(targetRef, 'hello');
  assert.is((await arrived).value(), 'hello');
  assert.equal(received, ['hello'], 'the cross-game message was not delivered');
  await sender.close();
  await friend.close();
  await target.close();
  await assertMeshWorks();
});

CrossGame.run();
