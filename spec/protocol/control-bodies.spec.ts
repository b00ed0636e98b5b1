/**
 * The control protocol's body decoders (lib/protocol/control-bodies.ts)
 * against what the real client and agent send. A real app, `rxmesh status`'s
 * own request and the hostile scribbler fixture (for a FAULT) talk to a real
 * `rxmesh up` through a FrameTap that keeps every body: each decodes to
 * itself, every request, answer and event type shows up, and every malformed
 * variant of each (body-variants.ts) is refused with ProtocolError, or with
 * the typed error the app gets for a name (InvalidNameError) or a proof
 * (AuthError).
 */
import { dirname, join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, QueueFullError, type Mesh } from '../../lib/index.js';
import { fetchStatus } from '../../lib/cli/status.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import {
  ANSWERS, authRequest, createRequest, empty, faultEvent, helloRequest, instanceInfo, instanceRequest, kickedEvent, loadReport,
  offlineEvent, onlineEvent, openPairRequest, pairClosedEvent, pairDoneRequest, resolveRequest, unwatchRequest, watchAnswer, watchRequest,
  type InstanceInfo,
} from '../../lib/protocol/control-bodies.js';
import { AuthError, InvalidNameError, ProtocolError } from '../../lib/protocol/errors.js';
import { GAME, KEY, startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';
import type { Variant } from './body-variants.js';
import {
  assertEachType, decodeAll, decoderIn, sampleTests, type ByKind, type Decoder, type Decoders, type ErrorClass,
} from './decoder-checks.js';
import { FrameTap, type Tapped } from './frame-tap.js';

const M = ControlMessage;

/** The decoder of each request body (the ones client-session.ts runs). */
const REQUESTS: Record<number, Decoder> = {
  [M.HELLO]: helloRequest, [M.AUTH]: authRequest, [M.CREATE]: createRequest, [M.STARTUP]: instanceRequest, [M.WATCH]: watchRequest,
  [M.UNWATCH]: unwatchRequest, [M.CLOSE]: instanceRequest, [M.RESOLVE]: resolveRequest, [M.STATUS]: empty, [M.RELEASE]: instanceRequest,
  [M.OPEN_PAIR]: openPairRequest, [M.PAIR_DONE]: pairDoneRequest, [M.DRAIN]: instanceRequest,
};
/** The decoder of each event body (the ones lib/client/mesh.ts runs). */
const EVENTS: Record<number, Decoder> = {
  [M.ONLINE]: onlineEvent, [M.OFFLINE]: offlineEvent, [M.KICKED]: kickedEvent, [M.FAULT]: faultEvent, [M.LOAD]: loadReport,
  [M.PAIR_CLOSED]: pairClosedEvent,
};
/** The decoder of each kind of tapped body; none for STATUS answers (the agent's counters) and FAILURE bodies. */
const BY_KIND: ByKind = { request: REQUESTS, answer: ANSWERS as unknown as Record<number, Decoder>, event: EVENTS };

const REQUEST_NAMES = new Set(['service', 'userData', 'pattern']);

/** What a variant must be refused with: the app's own errors for names and proofs in requests, ProtocolError for the rest. */
function refusal(t: Tapped, v: Variant): ErrorClass {
  if (t.kind !== 'request' || v.path.length === 0) return ProtocolError;
  const field = v.path[0]!;
  if (REQUEST_NAMES.has(field)) return InvalidNameError;
  if (field === 'gameId') return typeof v.value === 'string' ? InvalidNameError : ProtocolError;
  if (field === 'proof') return AuthError;
  return ProtocolError;
}

const DECODERS: Decoders<Tapped> = { of: decoderIn(BY_KIND), refusal, optional: () => new Set(['v', 'vmin', 'caps']) };

let up: MeshProcess;
let tap: FrameTap;
let direct: Mesh | undefined;
let tapped: Mesh | undefined;
const fixtures: Fixture[] = [];

/** Send to `to` until `done` (a full queue is waited out, not an error). */
async function sendUntil(from: { sendTo(to: InstanceInfo, v: unknown): void }, to: InstanceInfo, done: () => boolean, what: string): Promise<void> {
  const stop = performance.now() + 8000;
  while (!done()) {
    if (performance.now() > stop) throw new Error(`timed out sending until ${what}`);
    try {
      from.sendTo(to, new Uint8Array(256));
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
    }
    await sleep(2);
  }
}

const seenEvent = (type: number) => (): boolean => tap.of('event', type).length > 0;

/** Everything an app does on the control socket, through the tap: each request, answer and event at least once. */
async function exerciseEverything(): Promise<void> {
  tapped = await connect({ gameId: GAME, password: KEY, agent: tap.path }); // HELLO, AUTH
  direct = await up.connect();
  const watcher = tapped.instance('g.tap-a.1.0', { userData: 'a', watch: ['g.tap-b.*.*'] }); // CREATE, WATCH, STARTUP
  await next(watcher.startup$);
  const idle = direct.instance('g.tap-b.1.0', { userData: 'b' }); // never reads: its queue grows
  await next(idle.startup$);
  const idleRef = (await next(watcher.members$('g.tap-b.1.0'), (l) => l.length > 0))[0]!; // ONLINE
  await watcher.resolve(idleRef); // RESOLVE
  const late = tapped.instance('g.tap-c.1.0', { userData: 'c', watch: ['g.tap-b.1.0'] }); // a WATCH answer with an instance in it
  await next(late.startup$);
  await sendUntil(watcher, idleRef, seenEvent(M.LOAD), 'a LOAD event');

  const kicked = tapped.instance('g.tap-k.1.0', { userData: 'k' });
  await next(kicked.startup$);
  const taker = direct.instance('g.tap-k.1.0', { userData: 'k', conflict: 'replace' });
  await next(taker.startup$);
  await until(seenEvent(M.KICKED), 8000, 'a KICKED event');

  // a hostile app (through the tap too) corrupts its rx ring: traffic to it gets it dropped (FAULT, OFFLINE crashed)
  const f = startFixture('spec/isolation/fixtures/scribbler.ts', [JSON.stringify({ socket: tap.path, service: 'g.tap-b.2.0', what: 'rx-head' })]);
  fixtures.push(f);
  await f.waitFor('scribbled');
  const hostile = (await next(watcher.members$('g.tap-b.2.0'), (l) => l.length > 0))[0]!;
  await sendUntil(watcher, hostile, seenEvent(M.FAULT), 'a FAULT event');

  await idle.close(); // OFFLINE closed; PAIR_CLOSED for the pair ring the watcher writes to it, then PAIR_DONE
  await until(() => tap.of('event', M.OFFLINE).some((t) => (t.body as { reason: string }).reason === 'closed'), 8000, 'OFFLINE closed');
  await until(() => tap.of('request', M.PAIR_DONE).length > 0, 8000, 'PAIR_CLOSED and PAIR_DONE');
  const drained = tapped.instance('g.tap-b.3.0', { userData: 'd' });
  await next(drained.startup$);
  await drained.drain({ quietMs: 10 }); // DRAIN, OFFLINE draining
  await until(() => tap.of('event', M.OFFLINE).some((t) => (t.body as { reason: string }).reason === 'draining'), 8000, 'OFFLINE draining');
  await status();
  await late.close(); // UNWATCH, CLOSE, RELEASE
  await watcher.close();
}

/** STATUS from `rxmesh status` itself (fetchStatus dials `<dir>/agent.sock`: a tap of its own there). */
async function status(): Promise<void> {
  const cli = await FrameTap.open(join(tempShmDir(), 'agent.sock'), up.socket);
  try {
    await fetchStatus(dirname(cli.path));
  } finally {
    await cli.close();
  }
  tap.seen.push(...cli.seen);
}

const Bodies = suite('control bodies');
Bodies.before(async () => {
  up = await startUp();
  tap = await FrameTap.open(join(up.shmDir, 'tap.sock'), up.socket); // beside the rings: the scribbler looks for them there
  await exerciseEverything();
});
Bodies.after(async () => {
  await Promise.all(fixtures.map((f) => f.kill()));
  await tapped?.close();
  await direct?.close();
  await tap?.close();
  await up?.stop();
  cleanupShm();
});

Bodies('control bodies - every request, answer and event type went by, and each body decodes to itself', () => {
  assertEachType(tap.seen, BY_KIND);
  const decoded = decodeAll(tap.seen, DECODERS);
  assert.ok(decoded >= 30, `${decoded} bodies decoded`);
});

sampleTests(Bodies, 'control bodies', () => tap.seen, DECODERS, { minVariants: 300, refused: 'ProtocolError or the app\'s own error' });

Bodies('control bodies - an instance from the agent must be named right: a bad name or a wrong id is a ProtocolError, not the app\'s InvalidNameError', () => {
  const info = (tap.of('answer', M.STARTUP)[0]!.body) as InstanceInfo;
  const bad: Array<[string, unknown]> = [
    ['an invalid service name', { ...info, service: 'not a service' }],
    ['invalid user data', { ...info, userData: 'has space' }],
    ['an id of another instance', { ...info, id: `${info.service}/someone-else` }],
  ];
  for (const [what, body] of bad) {
    assert.throws(() => instanceInfo(body), (e: unknown) => e instanceof ProtocolError, what);
    assert.throws(() => watchAnswer({ watchId: 1, instances: [body] }), (e: unknown) => e instanceof ProtocolError, `${what}, in a WATCH answer`);
  }
});

Bodies('control bodies - a request naming a bad service, pattern or game keeps its InvalidNameError; a conflict the agent does not know is a ProtocolError', () => {
  assert.throws(() => createRequest({ service: 'g.bad name.1.0', userData: 'u', conflict: 'reject' }), (e: unknown) => e instanceof InvalidNameError);
  assert.throws(() => watchRequest({ pattern: '*.*.*.*' }), (e: unknown) => e instanceof InvalidNameError);
  assert.throws(() => helloRequest({ gameId: 'a.b', pid: 1 }), (e: unknown) => e instanceof InvalidNameError);
  // the agent used to take any conflict but 'replace' as 'reject'
  assert.throws(() => createRequest({ service: 'g.ok.1.0', userData: 'u', conflict: 'sometimes' }), (e: unknown) => e instanceof ProtocolError);
  assert.throws(() => createRequest({ service: 'g.ok.1.0', userData: 'u' }), (e: unknown) => e instanceof ProtocolError);
});

Bodies.run();
