/**
 * The name-server protocol's body decoders (lib/protocol/ns-bodies.ts,
 * ns-records.ts) against what the real agent and name server send. Two real
 * `rxmesh agent`s and an NsRegistry in this process (it asks for a lease TTL,
 * which the CLI's agent does not) talk to a real `rxmesh ns` through a
 * FrameTap that keeps every body: each decodes to itself, every request,
 * answer and event type shows up, and every malformed variant of each
 * (body-variants.ts) is refused with ProtocolError, or with the error the app
 * gets for a name it chose (InvalidNameError) or the one a wrong proof gets
 * (AuthError). Then the tap spoils one real answer and one real event on
 * their way to an agent: the request fails alone; the event drops the agent's
 * name-server connection, which comes back with what the event said. Last, a
 * raw connection's HELLO proof of the wrong shape is refused like a wrong one.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh, MeshError } from '../../lib/index.js';
import {
  challengeRequest, deregisterRequest, heartbeatRequest, NS_ANSWERS, nsHelloAnswer, nsHelloRequest, nsKickedEvent, nsOfflineEvent,
  nsOnlineEvent, nsUnwatchRequest, nsWatchAnswer, nsWatchRequest, registerRequest, startupRequest, verifyGameRequest,
} from '../../lib/protocol/ns-bodies.js';
import { instanceRecord } from '../../lib/protocol/ns-records.js';
import { AuthError, CrossGameError, InvalidNameError, ProtocolError } from '../../lib/protocol/errors.js';
import { NsMessage, type InstanceRecord } from '../../lib/protocol/registry-messages.js';
import { NsRegistry } from '../../lib/registry/ns-registry.js';
import { NS_PROTOCOL, versionFields } from '../../lib/protocol/versions.js';
import { MESH_SECRET, startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { helloBody, rawClient } from '../helpers/ns.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, until } from '../helpers/wait.js';
import type { Variant } from './body-variants.js';
import {
  assertEachType, decodeAll, decoderIn, sampleTests, samples, type ByKind, type Decoder, type Decoders, type ErrorClass,
} from './decoder-checks.js';
import { FrameTap, type Tapped } from './frame-tap.js';

const M = NsMessage;

/** The decoder of each request body (the ones lib/ns/session.ts runs). */
const REQUESTS: Record<number, Decoder> = {
  [M.CHALLENGE]: challengeRequest, [M.HELLO]: nsHelloRequest, [M.HEARTBEAT]: heartbeatRequest, [M.REGISTER]: registerRequest,
  [M.STARTUP]: startupRequest, [M.DEREGISTER]: deregisterRequest, [M.WATCH]: nsWatchRequest, [M.UNWATCH]: nsUnwatchRequest,
  [M.VERIFY_GAME]: verifyGameRequest,
};
/** The decoder of each event body (the ones lib/registry/ns-registry.ts runs). */
const EVENTS: Record<number, Decoder> = { [M.ONLINE]: nsOnlineEvent, [M.OFFLINE]: nsOfflineEvent, [M.KICKED]: nsKickedEvent };
/** The decoder of each kind of tapped body (an 'event' UNWATCH, agent -> name server, is the registry's id-0 request: not one). */
const BY_KIND: ByKind = { request: REQUESTS, answer: NS_ANSWERS as unknown as Record<number, Decoder>, event: EVENTS };

const NAMES = new Set(['gameId', 'service', 'userData', 'pattern']);

/** Names in requests are the app's (InvalidNameError, whatever their type); a HELLO proof either way is a proof (AuthError). */
function refusal(t: Tapped, v: Variant): ErrorClass {
  if (v.path.length === 0) return ProtocolError;
  if (t.type === M.HELLO && v.path[0] === 'proof') return AuthError;
  if (t.kind === 'request' && NAMES.has(v.path[v.path.length - 1]!)) return InvalidNameError;
  return ProtocolError;
}

/** Versions, a record's epoch and meta (records from before them), in HELLO the lease to resume and the TTL
 * asked for, and VERIFY_GAME's `known` (name servers before it did not say). */
function optional(t: Tapped): ReadonlySet<string> {
  const always = ['v', 'vmin', 'caps', 'epoch', 'meta'];
  if (t.kind === 'request' && t.type === M.HELLO) return new Set([...always, 'leaseId', 'ttlMs']);
  if (t.kind === 'answer' && t.type === M.VERIFY_GAME) return new Set([...always, 'known']);
  return new Set(always);
}

const DECODERS: Decoders<Tapped> = { of: decoderIn(BY_KIND), refusal, optional };

let ns: MeshProcess;
let tap: FrameTap;
const agents: MeshProcess[] = [];
const meshes: Mesh[] = [];
let inProcess: NsRegistry | undefined;

const seen = (kind: Tapped['kind'], type: number) => (): boolean => tap.of(kind, type).length > 0;
const challenges = (): number => tap.of('request', M.CHALLENGE).length;
const serviceIn = (t: Tapped, field: string): string | undefined => ((t.body as Record<string, { service?: string }>)?.[field])?.service;

async function connectTo(agent: MeshProcess): Promise<Mesh> {
  const mesh = await agent.connect(); // VERIFY_GAME
  meshes.push(mesh);
  return mesh;
}

/** Everything agents do with the name server, through the tap: each request, answer and event at least once. */
async function exerciseEverything(): Promise<void> {
  const url = `ns://${tap.path}`;
  for (const id of ['nsb-1', 'nsb-2']) agents.push(await startAgent(url, { id, links: true })); // CHALLENGE, HELLO
  inProcess = new NsRegistry(url, { secret: MESH_SECRET, leaseTtlMs: 2000 }); // a HELLO with ttlMs
  await inProcess.open({ agentId: 'nsb-3', address: 'nsb-3.spec.invalid:7000' }, { kicked: () => {} });
  const [m1, m2] = [await connectTo(agents[0]!), await connectTo(agents[1]!)];
  const watcher = m1.instance('g.nsb-w.1.0', { userData: 'w', watch: ['g.nsb-b.*.*'] }); // REGISTER, WATCH, STARTUP
  await next(watcher.startup$);
  const b = m2.instance('g.nsb-b.1.0', { userData: 'b' });
  await next(b.startup$);
  await next(watcher.members$('g.nsb-b.1.0'), (l) => l.length > 0); // ONLINE
  const late = m1.instance('g.nsb-l.1.0', { userData: 'l', watch: ['g.nsb-b.1.0'] }); // a WATCH answer with an instance in it
  await next(late.startup$);
  const held = m1.instance('g.nsb-k.1.0', { userData: 'k' });
  await next(held.startup$);
  const taker = m2.instance('g.nsb-k.1.0', { userData: 'k', conflict: 'replace' });
  await next(taker.startup$);
  await until(seen('event', M.KICKED), 8000, 'a KICKED event');
  await b.close(); // OFFLINE to agent 1, DEREGISTER from agent 2
  await until(seen('event', M.OFFLINE), 8000, 'an OFFLINE event');
  await late.close(); // UNWATCH
  await until(() => seen('answer', M.UNWATCH)() && seen('answer', M.DEREGISTER)() && seen('answer', M.HEARTBEAT)(), 8000, 'UNWATCH, DEREGISTER and HEARTBEAT answers');
  const hellos = tap.of('request', M.HELLO).length;
  const watches = tap.of('answer', M.WATCH).length;
  tap.cut(); // every agent HELLOs again, naming its lease, and agent 1 opens its watch again
  await until(() => tap.of('request', M.HELLO).length >= hellos + 3 && tap.of('answer', M.WATCH).length > watches, 8000, 'three HELLOs that resume a lease, a WATCH');
}

const Bodies = suite('name-server bodies');
Bodies.before(async () => {
  ns = await startNs({ leaseTtlMs: 1500 });
  tap = await FrameTap.open({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port: ns.ready.ns!.port });
  await exerciseEverything();
});
Bodies.after(async () => {
  await inProcess?.close();
  for (const m of meshes) await m.close().catch(() => {});
  for (const a of agents) await a.stop();
  await ns?.stop();
  await tap?.close();
  cleanupShm();
});

Bodies('ns bodies - every request, answer and event type went by, and each body decodes to itself', () => {
  assertEachType(tap.seen, BY_KIND);
  const hello = samples(tap.seen, DECODERS).find((t) => t.kind === 'request' && t.type === M.HELLO)!.body as Record<string, unknown>;
  assert.ok(hello.leaseId !== undefined && hello.ttlMs !== undefined, 'a HELLO that names a lease and a TTL');
  const decoded = decodeAll(tap.seen, DECODERS);
  assert.ok(decoded >= 40, `${decoded} bodies decoded`);
});

sampleTests(Bodies, 'ns bodies', () => tap.seen, DECODERS, { minVariants: 500, refused: 'ProtocolError or the app\'s own error' });

Bodies('ns bodies - a name of another game in a request is the app\'s CrossGameError; in what the name server hands out, a ProtocolError', () => {
  const record = (tap.of('request', M.REGISTER)[0]!.body as { instance: InstanceRecord }).instance;
  const key = { gameId: 'g', service: 'other.x.1.0', userData: 'u' };
  assert.throws(() => registerRequest({ instance: { ...record, service: 'other.x.1.0' }, conflict: 'reject' }), (e: unknown) => e instanceof CrossGameError);
  assert.throws(() => startupRequest({ key }), (e: unknown) => e instanceof CrossGameError);
  assert.throws(() => deregisterRequest({ key, reason: 'closed' }), (e: unknown) => e instanceof CrossGameError);
  assert.throws(() => nsWatchRequest({ gameId: 'g', pattern: 'other.*.*.*' }), (e: unknown) => e instanceof CrossGameError);
  const served = { ...record, online: true };
  const bad: Array<[string, unknown]> = [
    ['a service of another game', { ...served, service: 'other.x.1.0' }],
    ['an invalid game id', { ...served, gameId: 'not a game' }],
    ['invalid user data', { ...served, userData: 'has space' }],
  ];
  for (const [what, r] of bad) {
    assert.throws(() => instanceRecord(r), (e: unknown) => e instanceof ProtocolError, what);
    assert.throws(() => nsWatchAnswer({ watchId: 1, instances: [r] }), (e: unknown) => e instanceof ProtocolError, `${what}, in a WATCH answer`);
    assert.throws(() => nsKickedEvent({ instance: served, by: r }), (e: unknown) => e instanceof ProtocolError, `${what}, in a KICKED event`);
  }
});

Bodies('ns bodies - a record\'s meta is kept when it is strings, refused when it is not or has too many entries', () => {
  const record = { ...(tap.of('request', M.REGISTER)[0]!.body as { instance: InstanceRecord }).instance, online: true };
  assert.equal(instanceRecord({ ...record, meta: { zone: 'eu', shard: '7' } }).meta, { zone: 'eu', shard: '7' });
  assert.throws(() => instanceRecord({ ...record, meta: { zone: 7 } }), (e: unknown) => e instanceof ProtocolError);
  const many = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v']));
  assert.throws(() => instanceRecord({ ...record, meta: many }), (e: unknown) => e instanceof ProtocolError);
});

Bodies('ns bodies - a HELLO proof of the wrong shape is a wrong proof (AuthError), after every other field is checked', () => {
  const hello = tap.of('request', M.HELLO)[0]!.body as Record<string, unknown>;
  assert.throws(() => nsHelloRequest({ ...hello, proof: new Uint8Array(31) }), (e: unknown) => e instanceof AuthError);
  assert.throws(() => nsHelloRequest({ ...hello, proof: 'proof', agentId: 5 }), (e: unknown) => e instanceof ProtocolError, 'a malformed field before the proof');
  const answer = tap.of('answer', M.HELLO)[0]!.body as Record<string, unknown>;
  assert.throws(() => nsHelloAnswer({ ...answer, proof: new Uint8Array(33) }), (e: unknown) => e instanceof AuthError);
});

Bodies('ns bodies - the agent refuses a malformed answer: that request fails with ProtocolError, the connection stays', async () => {
  const m1 = meshes[0]!;
  const before = challenges();
  const spoiled = tap.spoilOnce((t) => t.kind === 'answer' && t.type === M.WATCH, (b) => ({ ...b, watchId: -1 }));
  const inst = m1.instance('g.nsb-bad-answer.1.0', { userData: 'x', watch: ['g.nsb-b.*.*'] });
  const err = await next(inst.startup$).then(() => undefined, (e: Error) => e);
  assert.ok(spoiled.done(), 'a WATCH answer was spoilt');
  assert.instance(err, ProtocolError);
  assert.match(err!.message, /'watchId'/);
  // the same connection serves the next one
  const after = m1.instance('g.nsb-bad-answer.1.0', { userData: 'y', watch: ['g.nsb-b.*.*'] });
  await next(after.startup$);
  assert.is(challenges(), before, 'no agent reconnected to the name server');
  await after.close();
});

Bodies('ns bodies - the agent refuses a malformed event: its name-server connection is dropped and rebuilt, and the watch catches up', async () => {
  const [m1, m2] = [meshes[0]!, meshes[1]!];
  const watcher = m1.instance('g.nsb-ev-w.1.0', { userData: 'w', watch: ['g.nsb-ev.*.*'] });
  await next(watcher.startup$);
  const before = challenges();
  const spoiled = tap.spoilOnce((t) => t.kind === 'event' && t.type === M.ONLINE && serviceIn(t, 'instance') === 'g.nsb-ev.1.0',
    (b) => ({ ...b, instance: { ...(b.instance as object), localId: -1 } }));
  const target = m2.instance('g.nsb-ev.1.0', { userData: 't' });
  await next(target.startup$);
  await until(() => challenges() > before, 8000, 'agent 1 to dial the name server again');
  assert.ok(spoiled.done());
  assert.match(agents[0]!.fixture.stderr, /lost the name server at [^\n]*'localId' must be an integer/);
  // back on a new connection, the watch's snapshot has the instance the spoilt event was about
  const members = await next(watcher.members$('g.nsb-ev.1.0'), (l) => l.length > 0);
  assert.is(members[0]!.id, 'g.nsb-ev.1.0/t');
  await watcher.close();
  await target.close();
});

Bodies('ns bodies - the name server takes a HELLO proof of the wrong shape for a wrong one: AUTH, counted and logged, the connection closed', async () => {
  const { conn } = await rawClient(ns.ready.ns!.port);
  const { nonce } = await conn.request<{ nonce: Uint8Array }>(M.CHALLENGE, versionFields(NS_PROTOCOL));
  const hello = { ...helloBody(nonce, 'nsb-shape', '', {}, MESH_SECRET), proof: new Uint8Array(31) };
  const err = await conn.request(M.HELLO, hello).then(() => undefined, (e: MeshError) => e);
  assert.is(err?.code, 'AUTH', err?.message);
  await until(() => conn.closed, 5000, 'the name server to close the connection');
  await until(() => /agent authentication failed \(claims to be 'nsb-shape'\)/.test(ns.fixture.stderr), 5000, 'the failure logged');
});

Bodies.run();
