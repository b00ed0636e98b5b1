/**
 * Versioned protocols (issue 11, item 4): every HELLO carries the range of
 * versions its sender speaks; the other side picks the highest in common or
 * refuses with a VersionError (code VERSION) that names both ranges. A HELLO
 * without a version is from a build before versions (version 1): served on the
 * control socket, refused by the name server and the links, whose versions 1
 * and 2 authenticated too little (issue 11).
 */
import { createConnection, createServer } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, ProtocolError, VersionError } from '../../lib/index.js';
import { FramedConnection } from '../../lib/protocol/connection.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import { NsMessage } from '../../lib/protocol/registry-messages.js';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { LinkFrame } from '../../lib/protocol/link-frames.js';
import { agreeVersion, CONTROL_PROTOCOL, LINK_PROTOCOL, NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { FakePeer } from '../fuzz/fake-peer.js';
import { GAME, MESH_SECRET, startUp, type MeshProcess } from '../helpers/mesh.js';
import { httpGet, rawAgent, rawClient } from '../helpers/ns.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, refusal, waitFor } from '../helpers/wait.js';

const Versions = suite('protocol versions');
let up: MeshProcess;

Versions.before(async () => {
  up = await startUp({ links: true });
});
Versions.after(async () => {
  await up?.stop();
  cleanupShm();
});

Versions('protocol versions - the highest version both sides speak is chosen; no overlap is a VersionError naming both', () => {
  const ours = { min: 2, max: 4, caps: [] };
  assert.is(agreeVersion('x', ours, { v: 9, vmin: 3 }), 4);
  assert.is(agreeVersion('x', ours, { v: 3 }), 3);
  assert.is(agreeVersion('x', { min: 1, max: 1, caps: [] }, {}), 1, 'no version: a build before versions (1)');
  try {
    agreeVersion('control', ours, { v: 9, vmin: 5 });
    assert.unreachable('no version in common');
  } catch (err) {
    assert.instance(err, VersionError);
    assert.is((err as VersionError).code, 'VERSION');
    assert.match((err as Error).message, /versions 2-4.*versions 5-9/);
  }
  assert.throws(() => agreeVersion('x', ours, {}), (e: unknown) => e instanceof VersionError, 'a build before versions against one that dropped 1');
  for (const bad of [{ v: 'two' }, { v: 0 }, { v: 3, vmin: 4 }, { v: 2.5 }]) {
    assert.throws(() => agreeVersion('x', ours, bad), (e: unknown) => e instanceof ProtocolError, JSON.stringify(bad));
  }
});

/** A raw control connection to the agent. */
function control(): Promise<FramedConnection> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(up.socket);
    socket.once('error', reject);
    socket.once('connect', () => resolve(new FramedConnection(socket, { onMessage: () => {} })));
  });
}

Versions('protocol versions - control socket: an app speaking only a newer version is refused with VERSION; an app from before versions is served', async () => {
  const future = await control();
  const err = await refusal(future.request(ControlMessage.HELLO, { gameId: GAME, pid: process.pid, v: CONTROL_PROTOCOL.max + 5, vmin: CONTROL_PROTOCOL.max + 5 }));
  assert.instance(err, VersionError);
  assert.match(err.message, /control protocol: this side speaks version 1, the other side version 6/);
  future.close();

  const old = await control();
  const hello = await old.request(ControlMessage.HELLO, { gameId: GAME, pid: process.pid }) as { v?: number; caps?: string[] };
  assert.is(hello.v, 1, 'the agent names the version it chose');
  assert.equal(hello.caps, [], 'an app that names no capabilities is told of none');
  old.close();

  // capabilities: the answer names those both have; names it does not know are ignored, a malformed list refused
  const newer = await control();
  const withCaps = await newer.request(ControlMessage.HELLO, { gameId: GAME, pid: process.pid, v: 1, vmin: 1, caps: ['teleport', 'load-reports', 'fragments'] }) as { caps?: string[] };
  assert.equal(withCaps.caps, ['fragments', 'load-reports']);
  newer.close();
  const broken = await control();
  assert.instance(await refusal(broken.request(ControlMessage.HELLO, { gameId: GAME, pid: process.pid, caps: 'fragments' })), ProtocolError);
  broken.close();

  // and the agent goes on serving apps of this build
  const mesh = await up.connect();
  const inst = mesh.instance('g.versions.1.0', { userData: 'a' });
  await next(inst.startup$);
  await mesh.close();
});

Versions('protocol versions - name server: an agent speaking only a newer version, or one from before authentication (1), is refused with VERSION and gets no lease', async () => {
  const { conn } = await rawClient(up.ready.ns!.port);
  const err = await refusal(conn.request(NsMessage.CHALLENGE, { v: NS_PROTOCOL.max + 1, vmin: NS_PROTOCOL.max + 1 }));
  assert.instance(err, VersionError);
  assert.match(err.message, /name server protocol: this side speaks version 2, the other side version 3/);
  await waitFor(() => conn.closed, 'the refused connection to close');

  // version 1 authenticated nothing: it is refused outright (README, "Upgrades, host by host")
  const { conn: old } = await rawClient(up.ready.ns!.port);
  const refused = await refusal(old.request(NsMessage.HELLO, { agentId: 'old-agent', address: '' }));
  assert.instance(refused, VersionError);
  assert.match(refused.message, /this side speaks version 2, the other side version 1/);
  await waitFor(() => old.closed, 'the old agent\'s connection to close');
  const { body } = await httpGet(up.ready.ns!.httpPort, '/v1/agents');
  assert.not.ok(JSON.stringify(body).includes('old-agent'), 'no lease for the old agent');

  const { conn: probe } = await rawClient(up.ready.ns!.port);
  const challenge = await probe.request<{ caps?: string[] }>(NsMessage.CHALLENGE, { ...versionFields(NS_PROTOCOL), caps: ['uptime', 'time-travel'] });
  assert.equal(challenge.caps, ['uptime'], 'the CHALLENGE answer names the capabilities both have');
  probe.close();
  const current = await rawAgent(up.ready.ns!.port, 'current-agent', '', {}, MESH_SECRET);
  assert.is(current.hello.v, NS_PROTOCOL.max);
  current.conn.close();
});

Versions('protocol versions - links: a peer speaking only a newer link protocol gets no WELCOME and the refusal is logged', async () => {
  const port = Number(up.linkAddress.slice(up.linkAddress.lastIndexOf(':') + 1));
  const newer = { v: LINK_PROTOCOL.max + 1, vmin: LINK_PROTOCOL.max + 1 };
  const mark = up.fixture.stderr.length;
  let refused: unknown;
  try {
    (await FakePeer.connect(port, MESH_SECRET, 'future-agent', '127.0.0.1:1', newer)).close();
  } catch (err) {
    refused = err;
  }
  assert.ok(refused, 'the handshake was refused');
  assert.match(up.fixture.stderr.slice(mark), /link protocol: this side speaks version 3, the other side version 4/);
  let older: unknown;
  try {
    (await FakePeer.connect(port, MESH_SECRET, 'old-agent', '127.0.0.1:1', { v: 2, vmin: 2 })).close();
  } catch (err) {
    older = err;
  }
  assert.ok(older, 'a link-protocol 2 peer (unsealed frames) is refused');
  await waitFor(() => /link protocol: this side speaks version 3, the other side version 2/.test(up.fixture.stderr.slice(mark)), 'the refusal logged');
  const peer = await FakePeer.connect(port, MESH_SECRET, 'same-agent', '127.0.0.1:1', { v: LINK_PROTOCOL.max, vmin: LINK_PROTOCOL.min, caps: ['warp-drive', 'seal-gmac'] });
  const welcome = decodeValue<{ caps?: string[] }>(peer.conn.frames.find((f) => f.type === LinkFrame.WELCOME)!.body);
  assert.equal(welcome.caps, ['seal-gmac'], 'the WELCOME names the capabilities both have');
  peer.close();
});

Versions('protocol versions - an app facing an agent that speaks only a newer control protocol fails connect() with VERSION naming both', async () => {
  const dir = tempShmDir();
  const path = join(dir, 'newer-agent.sock');
  const server = createServer((socket) => {
    new FramedConnection(socket, {
      onMessage: (type) => {
        if (type === ControlMessage.HELLO) return { nonce: new Uint8Array(32), agentId: 'newer-agent', v: CONTROL_PROTOCOL.max + 1 };
        throw new ProtocolError('HELLO first');
      },
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  try {
    const err = await refusal(connect({ gameId: GAME, password: 'x', agent: path }));
    assert.instance(err, VersionError, `${err.name}: ${err.message}`);
    assert.match(err.message, /control protocol: this side speaks version 1, the other side version 2/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

Versions('protocol versions - an agent dialling a peer that speaks only a newer link protocol refuses it (VERSION logged) and sends it nothing', async () => {
  // a "peer agent" that registers an instance at its own address, then answers every dial with a newer CHALLENGE
  const frames: number[] = [];
  const server = createServer((socket) => {
    socket.on('error', () => {});
    socket.on('data', (chunk: Buffer) => frames.push(chunk.length));
    socket.write(encodeFrame(LinkFrame.CHALLENGE, 0, encodeValue({ v: LINK_PROTOCOL.max + 1, vmin: LINK_PROTOCOL.max + 1, agentId: 'newer-peer', epoch: 1, nonce: new Uint8Array(32) })));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
  const peer = await rawAgent(up.ready.ns!.port, 'newer-peer', address, {}, MESH_SECRET);
  const key = { gameId: GAME, service: 'g.newer.1.0', userData: 'n' };
  try {
    await peer.conn.request(NsMessage.REGISTER, { instance: { ...key, agentId: 'newer-peer', address, localId: 1, epoch: 1, online: false }, conflict: 'reject' });
    await peer.conn.request(NsMessage.STARTUP, { key });
    const mark = up.fixture.stderr.length;
    const mesh = await up.connect();
    const inst = mesh.instance('g.versions-dialer.1.0', { userData: 'd', watch: ['g.newer.1.0'] });
    await next(inst.startup$);
    const to = (await next(inst.members$('g.newer.1.0'), (l) => l.length > 0))[0]!;
    inst.sendTo(to, new TextEncoder().encode('hello?'));
    await waitFor(() => /link protocol: this side speaks version 3, the other side version 4/.test(up.fixture.stderr.slice(mark)), 'the refusal logged', 5000);
    assert.equal(frames, [], 'no HELLO (and no message) went to a peer of another version');
    await mesh.close();
  } finally {
    peer.conn.close();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
});

Versions.run();
