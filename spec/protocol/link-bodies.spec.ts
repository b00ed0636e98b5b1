/**
 * The link protocol's body decoders (lib/protocol/link-bodies.ts) against what
 * real agents send. Agent B advertises a LinkTap in front of its link port,
 * so agent A's link to it goes through the tap, which keeps the CHALLENGE,
 * HELLO, WELCOME and SOURCE bodies and the ACK lists: each body decodes to
 * itself, and every malformed variant (body-variants.ts) is refused with
 * ProtocolError. One WELCOME names frames B still holds back (A filled an
 * idle receiver on B, then the tap cut the link). Then the tap spoils one
 * real WELCOME and one real HELLO on their way: the agent that gets it closes
 * the connection with the reason logged, and the link comes back.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type InstanceRef, type Mesh } from '../../lib/index.js';
import { ProtocolError } from '../../lib/protocol/errors.js';
import { linkChallenge, linkHello, linkSource, linkWelcome } from '../../lib/protocol/link-bodies.js';
import { LinkFrame, type AckLists } from '../../lib/protocol/link-frames.js';
import { freePort } from '../helpers/etcd.js';
import { startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { startPeer, stopPeers } from '../helpers/peer.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';
import { assertEachType, decodeAll, decoderIn, sampleTests, samples, type ByKind, type Decoders } from './decoder-checks.js';
import { LinkTap, type LinkTapped } from './link-tap.js';

const L = LinkFrame;
/** The decoder of each CBOR frame by who sends it: the acceptor runs HELLO's and SOURCE's, the dialer CHALLENGE's and WELCOME's. */
const BY_KIND: ByKind = { acceptor: { [L.CHALLENGE]: linkChallenge, [L.WELCOME]: linkWelcome }, dialer: { [L.HELLO]: linkHello, [L.SOURCE]: linkSource } };
const DECODERS: Decoders<LinkTapped> = { of: decoderIn(BY_KIND), refusal: () => ProtocolError, optional: () => new Set(['v', 'vmin', 'caps']) };

let ns: MeshProcess;
let tap: LinkTap;
let a: MeshProcess;
let b: MeshProcess;
const meshes: Mesh[] = [];

const handshakes = (): number => tap.of('acceptor', L.WELCOME).length;
const heldBack = (): boolean => tap.seen.some((t) => t.type === L.ACK && (t.body as AckLists).pending.length > 0);

async function connectTo(agent: MeshProcess): Promise<Mesh> {
  const mesh = await agent.connect();
  meshes.push(mesh);
  return mesh;
}

async function sender(mesh: Mesh, service: string, watch: string): Promise<{ inst: Instance; to: InstanceRef }> {
  const inst = mesh.instance(service, { userData: 's', watch: [watch] });
  await next(inst.startup$);
  return { inst, to: (await next(inst.members$(watch), (l) => l.length > 0))[0]! };
}

/** A round trip from A to an echo on B: the link (through the tap) is up. */
async function roundTrip(src: Instance, echo: InstanceRef, what: string): Promise<void> {
  assert.is((await src.request(echo, what)).value(), `echo ${what}`);
}

/** A's link to B through the tap, until B holds frames back for a full receiver, and a handshake that says so. */
async function exerciseEverything(): Promise<void> {
  const [ma, mb] = [await connectTo(a), await connectTo(b)];
  await startPeer({ socket: b.socket, service: 'g.lb-idle.1.0', userData: 'i', mode: 'idle' }); // never reads
  const { inst: stuck, to: idle } = await sender(ma, 'g.lb-src.1.0', 'g.lb-idle.1.0'); // CHALLENGE, HELLO, WELCOME, SOURCE
  for (const end = performance.now() + 20_000; !heldBack(); ) {
    if (performance.now() > end) throw new Error('B never held a frame back');
    try {
      stuck.sendTo(idle, new Uint8Array(4096));
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(2);
    }
  }
  const before = handshakes();
  tap.cut(); // A dials again: B's WELCOME names the frames it holds back
  await until(() => handshakes() > before, 8000, 'a handshake after the cut');
  const echo = mb.instance('g.lb-echo.1.0', { userData: 'e' });
  echo.messages$.subscribe((m) => m.reply(`echo ${String(m.value())}`));
  await next(echo.startup$);
}

let src: Instance;
let echoRef: InstanceRef;

const Bodies = suite('link bodies');
Bodies.before(async () => {
  ns = await startNs();
  const port = await freePort();
  tap = await LinkTap.open({ host: '127.0.0.1', port: 0 }, { host: '127.0.0.1', port });
  b = await startAgent(ns.nsUrl, { id: 'lb-b', listen: `127.0.0.1:${port}`, fullMs: 60_000, args: ['--advertise', tap.path] });
  a = await startAgent(ns.nsUrl, { id: 'lb-a', links: true });
  await exerciseEverything();
  ({ inst: src, to: echoRef } = await sender(meshes[0]!, 'g.lb-ask.1.0', 'g.lb-echo.1.0'));
});
Bodies.after(async () => {
  await stopPeers();
  for (const m of meshes) await m.close().catch(() => {});
  await a?.kill();
  await b?.kill();
  await ns?.stop();
  await tap?.close();
  cleanupShm();
});

Bodies('link bodies - each CBOR body of the link went by and decodes to itself; a WELCOME named frames held back', () => {
  assertEachType(tap.seen, BY_KIND);
  const held = tap.of('acceptor', L.WELCOME).filter((t) => (t.body as { pending: number[] }).pending.length > 0);
  assert.ok(held.length > 0, 'a WELCOME with frames held back');
  assert.is(samples(tap.seen, DECODERS).length, 4, 'a sample of each');
  const decoded = decodeAll(tap.seen, DECODERS);
  assert.ok(decoded >= 8, `${decoded} bodies decoded`);
});

sampleTests(Bodies, 'link bodies', () => tap.seen, DECODERS, { minVariants: 150, refused: 'ProtocolError' });

Bodies('link bodies - a SOURCE names a u32 local id and a game id; a WELCOME\'s pending are sequence numbers', () => {
  const source = tap.of('dialer', L.SOURCE)[0]!.body as Record<string, unknown>;
  for (const bad of [{ ...source, game: 'not a game' }, { ...source, game: 'g.x.1.0' }, { ...source, local: 2 ** 32 }]) {
    assert.throws(() => linkSource(bad), (e: unknown) => e instanceof ProtocolError, JSON.stringify(bad));
  }
  const welcome = tap.of('acceptor', L.WELCOME)[0]!.body as Record<string, unknown>;
  assert.throws(() => linkWelcome({ ...welcome, pending: [0] }), (e: unknown) => e instanceof ProtocolError, 'sequence numbers start at 1');
  assert.throws(() => linkWelcome({ ...welcome, pending: [Number.NaN] }), (e: unknown) => e instanceof ProtocolError);
});

Bodies('link bodies - a spoilt WELCOME: the dialer closes the connection with the reason logged, and dials again', async () => {
  await roundTrip(src, echoRef, 'before');
  const before = handshakes();
  const spoiled = tap.spoilOnce((t) => t.type === L.WELCOME, (w) => ({ ...w, top: 'all of them' }));
  tap.cut();
  await until(() => spoiled.done() && handshakes() > before + 1, 8000, 'the spoilt handshake, then another');
  await until(() => /link to lb-b \([^)]*\): 'top' must be an integer/.test(a.fixture.stderr), 8000, 'A to log why it closed the link');
  await roundTrip(src, echoRef, 'after a spoilt WELCOME');
});

Bodies('link bodies - a spoilt HELLO: the acceptor closes the connection with the reason logged, and the link comes back', async () => {
  const before = handshakes();
  const spoiled = tap.spoilOnce((t) => t.type === L.HELLO, (h) => ({ ...h, next: 1.5 }));
  tap.cut();
  await until(() => spoiled.done() && handshakes() > before, 8000, 'the spoilt HELLO, then a handshake');
  await until(() => /link from [^\n]*: closed: 'next' must be an integer/.test(b.fixture.stderr), 8000, 'B to log why it closed the link');
  await roundTrip(src, echoRef, 'after a spoilt HELLO');
});

Bodies.run();
