import { randomBytes } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { gameProof } from '../../lib/protocol/auth.js';
import { encodeValue } from '../../lib/protocol/cbor.js';
import type { FramedConnection } from '../../lib/protocol/connection.js';
import { ConflictError, InvalidNameError, MeshError, NotFoundError, ProtocolError } from '../../lib/protocol/errors.js';
import { encodeFrame } from '../../lib/protocol/frame.js';
import { NsMessage, type InstanceRecord } from '../../lib/protocol/registry-messages.js';
import { loadGames } from '../../lib/ns/games.js';
import { closedWithin, httpGet, rawAgent, rawClient, rawSocket, startNsInProcess, type NsHandle } from '../helpers/ns.js';
import { waitFor } from '../helpers/wait.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const GAMES = { g: 'secret-key-g', h: 'secret-key-h' };
const TTL = 400;

const rec = (agentId: string, service: string, userData: string, localId = 1): InstanceRecord =>
  ({ gameId: service.split('.')[0]!, service, userData, agentId, address: `${agentId}:1`, localId, epoch: 1, online: false });
const keyOf = (r: InstanceRecord) => ({ gameId: r.gameId, service: r.service, userData: r.userData });

/** A raw agent: HELLO done, events collected. */
async function agent(h: NsHandle, agentId: string, leaseId?: string) {
  return rawAgent(h.ns.port, agentId, `${agentId}:1`, leaseId ? { leaseId } : {});
}

async function rejects(p: Promise<unknown>, Err: new (...a: never[]) => MeshError, what: string): Promise<MeshError> {
  try {
    await p;
  } catch (err) {
    assert.instance(err, Err, `${what}: ${(err as Error).message}`);
    return err as MeshError;
  }
  assert.unreachable(`${what} should fail`);
  throw new Error('unreachable');
}

/** A separate client still gets answers: the server survived. */
async function healthy(h: NsHandle): Promise<void> {
  const c = await rawAgent(h.ns.port, 'health-probe');
  const nonce = randomBytes(32);
  const res = await c.conn.request<{ ok: boolean }>(NsMessage.VERIFY_GAME, { gameId: 'g', nonce, proof: gameProof(GAMES.g, nonce) });
  assert.is(res.ok, true);
  c.conn.close();
  assert.is((await httpGet(h.ns.httpPort, '/healthz')).status, 200);
}

// --- HTTP ----------------------------------------------------------------------

const http = suite('ns http');
let h: NsHandle;
let conns: FramedConnection[] = [];
http.before(async () => {
  h = await startNsInProcess({ games: GAMES, leaseTtlMs: 5000 });
  const a = await agent(h, 'agent-a');
  const b = await agent(h, 'agent-b');
  conns = [a.conn, b.conn];
  for (const [c, r, up] of [
    [a, rec('agent-a', 'g.chat.1.0', 'one', 1), true],
    [a, rec('agent-a', 'g.chat.1.0', 'two', 2), false],
    [b, rec('agent-b', 'g.lobby.1.0', 'x', 1), true],
    [b, rec('agent-b', 'h.chat.1.0', 'y', 2), true],
  ] as const) {
    await c.conn.request(NsMessage.REGISTER, { instance: r, conflict: 'reject' });
    if (up) await c.conn.request(NsMessage.STARTUP, { key: keyOf(r) });
  }
});
http.after(async () => {
  conns.forEach((c) => c.close());
  await h.close();
});

http('ns http - /healthz', async () => {
  const res = await httpGet(h.ns.httpPort, '/healthz');
  assert.is(res.status, 200);
  assert.equal(res.body, { ok: true });
  assert.match(res.type, /application\/json/);
});

http('ns http - /v1/services counts instances per service', async () => {
  const res = await httpGet(h.ns.httpPort, '/v1/services');
  assert.equal(res.body, [
    { gameId: 'g', service: 'g.chat.1.0', instances: 2, online: 1 },
    { gameId: 'g', service: 'g.lobby.1.0', instances: 1, online: 1 },
    { gameId: 'h', service: 'h.chat.1.0', instances: 1, online: 1 },
  ]);
});

http('ns http - /v1/instances, all or of one service', async () => {
  const all = (await httpGet(h.ns.httpPort, '/v1/instances')).body as InstanceRecord[];
  assert.equal(all.map((i) => `${i.service}/${i.userData} ${i.online}`), [
    'g.chat.1.0/one true', 'g.chat.1.0/two false', 'g.lobby.1.0/x true', 'h.chat.1.0/y true',
  ]);
  const one = await httpGet(h.ns.httpPort, '/v1/instances?service=g.chat.1.0');
  assert.equal((one.body as InstanceRecord[]).map((i) => [i.userData, i.agentId, i.localId]), [['one', 'agent-a', 1], ['two', 'agent-a', 2]]);
  assert.equal((await httpGet(h.ns.httpPort, '/v1/instances?service=g.none.1.0')).body, []);
  assert.is((await httpGet(h.ns.httpPort, '/v1/instances?service=not-a-name')).status, 400);
});

http('ns http - /v1/agents shows leases but no lease ids', async () => {
  const res = await httpGet(h.ns.httpPort, '/v1/agents');
  const agents = res.body as Array<Record<string, unknown>>;
  assert.equal(agents.map((a) => [a.agentId, a.connected, a.instances, a.ttlMs]), [['agent-a', true, 2, 5000], ['agent-b', true, 2, 5000]]);
  assert.ok(agents.every((a) => typeof a.expiresInMs === 'number' && !('leaseId' in a)));
});

http('ns http - 404 and 405 as JSON; game keys never appear', async () => {
  const nf = await httpGet(h.ns.httpPort, '/v1/games');
  assert.is(nf.status, 404);
  assert.match(nf.type, /application\/json/);
  assert.is((await httpGet(h.ns.httpPort, '/healthz', 'POST')).status, 405);
  for (const path of ['/healthz', '/v1/services', '/v1/instances', '/v1/agents', '/v1/games', '/']) {
    const text = JSON.stringify((await httpGet(h.ns.httpPort, path)).body);
    assert.not.ok(text.includes('secret-key'), `${path} leaks a key`);
  }
});

http.run();

// --- protocol -------------------------------------------------------------------

const proto = suite('ns protocol');
let p: NsHandle;
let open: FramedConnection[] = [];
proto.before.each(async () => {
  // Long enough that a raw agent which never heartbeats keeps its lease for
  // the whole test (the expiry test starts its own short-TTL server).
  p = await startNsInProcess({ games: GAMES, leaseTtlMs: 10_000 });
});
proto.after.each(async () => {
  open.forEach((c) => c.close());
  open = [];
  await p.close();
});

async function track(agentId: string, leaseId?: string) {
  const a = await agent(p, agentId, leaseId);
  open.push(a.conn);
  return a;
}

proto('ns - HELLO resumes a live lease; HEARTBEAT of a lease the connection does not hold is a protocol error', async () => {
  const a = await track('a');
  assert.is(a.hello.ttlMs, 10_000);
  a.conn.close();
  const again = await track('a', a.hello.leaseId);
  assert.is(again.hello.leaseId, a.hello.leaseId);
  assert.is(again.hello.resumed, true);
  await again.conn.request(NsMessage.HEARTBEAT, { leaseId: a.hello.leaseId });
  const other = await track('b', a.hello.leaseId); // another agent cannot take it
  assert.is.not(other.hello.leaseId, a.hello.leaseId);
  await rejects(other.conn.request(NsMessage.HEARTBEAT, { leaseId: a.hello.leaseId }), ProtocolError, 'someone else\'s lease');
  await waitFor(() => other.conn.closed, 'the connection to close');
  await again.conn.request(NsMessage.HEARTBEAT, { leaseId: a.hello.leaseId }); // the holder is unaffected
});

proto('ns - reject conflict names the holder', async () => {
  const a = await track('agent-a');
  const b = await track('agent-b');
  await a.conn.request(NsMessage.REGISTER, { instance: rec('agent-a', 'g.s.1.0', 'u', 4), conflict: 'reject' });
  const err = await rejects(b.conn.request(NsMessage.REGISTER, { instance: rec('agent-b', 'g.s.1.0', 'u', 1), conflict: 'reject' }), ConflictError, 'conflict');
  assert.match(err.message, /agent 'agent-a' \(localId 4\)/);
});

proto('ns - an expired lease takes its instances offline (agent_lost) and closes its connection', async () => {
  await p.close();
  p = await startNsInProcess({ games: GAMES, leaseTtlMs: TTL });
  const w = await track('watcher');
  const { watchId } = await w.conn.request<{ watchId: number }>(NsMessage.WATCH, { gameId: 'g', pattern: 'g.*.*.*' });
  const a = await track('silent'); // never heartbeats
  const r = rec('silent', 'g.s.1.0', 'u');
  await a.conn.request(NsMessage.REGISTER, { instance: r, conflict: 'reject' });
  await a.conn.request(NsMessage.STARTUP, { key: keyOf(r) });
  const beat = setInterval(() => void w.conn.request(NsMessage.HEARTBEAT, { leaseId: w.hello.leaseId }).catch(() => {}), TTL / 4);
  try {
    const off = await waitFor(() => w.events.find((e) => e.type === NsMessage.OFFLINE), 'offline', TTL + 1000);
    assert.equal(off.body, { watchId, instance: { ...r, online: false }, reason: 'agent_lost' });
    await waitFor(() => a.conn.closed, 'the silent agent cut off', 1000);
    assert.not.ok(w.conn.closed, 'the heartbeating watcher keeps its connection');
  } finally {
    clearInterval(beat);
  }
});

proto('ns - a KICKED for an agent between connections is delivered when it resumes', async () => {
  const a = await track('agent-a');
  const old = rec('agent-a', 'g.s.1.0', 'u');
  await a.conn.request(NsMessage.REGISTER, { instance: old, conflict: 'reject' });
  a.conn.close();
  const b = await track('agent-b');
  const by = rec('agent-b', 'g.s.1.0', 'u', 9);
  await b.conn.request(NsMessage.REGISTER, { instance: by, conflict: 'replace' });
  const back = await track('agent-a', a.hello.leaseId);
  const kick = await waitFor(() => back.events.find((e) => e.type === NsMessage.KICKED), 'KICKED on resume');
  assert.equal(kick.body, { instance: old, by });
});

proto('ns - the same holder: again on its lease is a no-op, on a new lease (agent restart) a real change', async () => {
  const w = await track('watcher');
  await w.conn.request(NsMessage.WATCH, { gameId: 'g', pattern: 'g.s.*.*' });
  const a = await track('agent-a');
  const r = rec('agent-a', 'g.s.1.0', 'u');
  await a.conn.request(NsMessage.REGISTER, { instance: r, conflict: 'reject' });
  await a.conn.request(NsMessage.STARTUP, { key: keyOf(r) });
  await a.conn.request(NsMessage.REGISTER, { instance: r, conflict: 'reject' }); // retried: still online
  const restarted = await track('agent-a'); // same agent id, new lease
  await restarted.conn.request(NsMessage.REGISTER, { instance: r, conflict: 'reject' });
  await restarted.conn.request(NsMessage.STARTUP, { key: keyOf(r) });
  await waitFor(() => w.events.length >= 3, 'three events');
  assert.equal(w.events.map((e) => [e.type, (e.body as { reason?: string }).reason]), [
    [NsMessage.ONLINE, undefined], [NsMessage.OFFLINE, 'agent_lost'], [NsMessage.ONLINE, undefined],
  ]);
});

proto('ns - start fails cleanly on a port in use', async () => {
  try {
    await startNsInProcess({ port: p.ns.port });
    assert.unreachable('the port is taken');
  } catch (err) {
    assert.is((err as NodeJS.ErrnoException).code, 'EADDRINUSE');
  }
});

proto('ns - app errors answer FAILURE and keep the connection', async () => {
  const a = await track('a');
  await rejects(a.conn.request(NsMessage.REGISTER, { instance: rec('a', 'g.bad name.1.0', 'u'), conflict: 'reject' }), InvalidNameError, 'bad name');
  await rejects(a.conn.request(NsMessage.STARTUP, { key: { gameId: 'g', service: 'g.s.1.0', userData: 'nobody' } }), NotFoundError, 'startup unknown');
  await a.conn.request(NsMessage.DEREGISTER, { key: { gameId: 'g', service: 'g.s.1.0', userData: 'nobody' }, reason: 'closed' });
  assert.equal(await a.conn.request(NsMessage.VERIFY_GAME, { gameId: 'nope', nonce: randomBytes(32), proof: randomBytes(32) }), { ok: false, known: false });
  assert.not.ok(a.conn.closed);
});

// Wrong body shapes: FAILURE ProtocolError, then the connection is closed.
const BAD_BODIES: Array<[string, number, unknown, boolean]> = [
  ['HELLO before CHALLENGE', NsMessage.HELLO, { agentId: 'a', address: '', v: 2, vmin: 2 }, false],
  ['a second CHALLENGE after HELLO', NsMessage.CHALLENGE, { v: 2, vmin: 2 }, true],
  ['REGISTER before HELLO', NsMessage.REGISTER, { instance: rec('a', 'g.s.1.0', 'u'), conflict: 'reject' }, false],
  ['REGISTER with instance: 5', NsMessage.REGISTER, { instance: 5, conflict: 'reject' }, true],
  ['REGISTER with a bad conflict', NsMessage.REGISTER, { instance: rec('a', 'g.s.1.0', 'u'), conflict: 'maybe' }, true],
  ['REGISTER for another agent id', NsMessage.REGISTER, { instance: rec('someone-else', 'g.s.1.0', 'u'), conflict: 'reject' }, true],
  ['DEREGISTER with a bad reason', NsMessage.DEREGISTER, { key: { gameId: 'g', service: 'g.s.1.0', userData: 'u' }, reason: 'bored' }, true],
  ['WATCH with a body that is a string', NsMessage.WATCH, 'g.*.*.*', false],
  ['UNWATCH with no body', NsMessage.UNWATCH, undefined, false],
  ['VERIFY_GAME with a string nonce', NsMessage.VERIFY_GAME, { gameId: 'g', nonce: 'abc', proof: 'x' }, false],
  ['an unknown message type', 999, {}, false],
  ['an event type sent as a request', NsMessage.ONLINE, { watchId: 1 }, false],
];

for (const [what, type, body, hello] of BAD_BODIES) {
  proto(`ns - ${what} is a protocol error and closes that connection`, async () => {
    const c = hello ? await track('a') : await (async () => {
      const r = await rawClient(p.ns.port);
      open.push(r.conn);
      return r;
    })();
    await rejects(c.conn.request(type, body), ProtocolError, what);
    await waitFor(() => c.conn.closed, 'the connection to close');
    await waitFor(() => p.logs.some((l) => l.includes('protocol violation')), 'a logged reason');
    await healthy(p);
  });
}

// Bad bytes: each such connection is closed; others keep working.
const frame = (type: number, id: number, body: unknown) => encodeFrame(type, id, encodeValue(body));

const BAD_BYTES: Array<[string, Buffer, boolean, RegExp | undefined]> = [
  // [what, bytes, then half-close from our side, logged reason]
  ['a 2 GiB length prefix', Buffer.from([0x80, 0, 0, 0, 0, 1, 0, 0, 0, 1]), false, /exceeds the .*limit/],
  ['a length shorter than the header', Buffer.from([0, 0, 0, 2, 0, 0]), false, /shorter than/],
  ['a frame with garbage CBOR', encodeFrame(NsMessage.HELLO, 1, Buffer.from([0xff, 0xfe, 0x1c, 0x5c, 0xff])), false, /malformed CBOR/],
  ['a frame of type 0xffff as an event', frame(0xffff, 0, { x: 1 }), false, /unexpected message type/],
  ['a truncated frame, then close', frame(NsMessage.HELLO, 1, { agentId: 'a', address: '' }).subarray(0, 9), true, /closed by the peer/],
];

for (const [what, bytes, end, reason] of BAD_BYTES) {
  proto(`ns - ${what} closes only that connection`, async () => {
    const s = await rawSocket(p.ns.port);
    const bystander = await track('bystander');
    s.write(bytes);
    if (end) s.end();
    await closedWithin(s);
    if (reason) await waitFor(() => p.logs.some((l) => reason.test(l)), `a log line matching ${reason}`);
    await healthy(p);
    assert.not.ok(bystander.conn.closed, 'the bystander keeps its connection');
    await bystander.conn.request(NsMessage.HEARTBEAT, { leaseId: bystander.hello.leaseId });
  });
}

proto('ns - nothing after a protocol violation is applied, even in the same packet', async () => {
  const s = await rawSocket(p.ns.port);
  s.write(Buffer.concat([
    frame(NsMessage.HELLO, 1, { agentId: 'sneaky', address: '' }),
    frame(NsMessage.REGISTER, 2, { instance: 5, conflict: 'reject' }),
    frame(NsMessage.REGISTER, 3, { instance: rec('sneaky', 'g.sneak.1.0', 'u'), conflict: 'reject' }),
  ]));
  await closedWithin(s);
  assert.equal((await httpGet(p.ns.httpPort, '/v1/instances')).body, []);
});

proto('ns - fuzz: 200 connections of random bytes never take the server down', async () => {
  const bystander = await track('bystander');
  for (let i = 0; i < 200; i++) {
    const s = await rawSocket(p.ns.port);
    const junk = randomBytes(8 + Math.floor(Math.random() * 512));
    // a random valid-looking prefix now and then, so bodies get parsed too
    if (i % 3 === 0) junk.writeUInt32BE(Math.min(junk.length - 4, 6 + (junk[4]! % 64)) >>> 0, 0);
    s.write(junk);
    s.end();
    await closedWithin(s);
  }
  await healthy(p);
  assert.not.ok(bystander.conn.closed);
});

proto('ns - loadGames reads and checks a games file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rxmesh-ns-'));
  try {
    const good = join(dir, 'games.json');
    writeFileSync(good, JSON.stringify({ g: 'k1', 'game_2': 'k2' }));
    assert.equal(await loadGames(good), { g: 'k1', game_2: 'k2' });
    for (const [name, text] of [['bad-json', '{'], ['bad-id', '{"a.b": "k"}'], ['bad-key', '{"g": 3}'], ['array', '[]']]) {
      const f = join(dir, `${name}.json`);
      writeFileSync(f, text!);
      try {
        await loadGames(f);
        assert.unreachable(`${name} should be refused`);
      } catch (err) {
        assert.instance(err, TypeError, name);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

proto.run();
