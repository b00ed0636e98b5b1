/**
 * Agent links against an on-path attacker who does not know the mesh secret
 * (issue 11, item 2), on loopback with real agents. Agent B advertises the
 * address of a TCP relay in front of it (as behind a proxy or NAT, with
 * --advertise), so A's link to B passes through the relay, which reads every
 * byte and writes bytes of its own: a DATA frame from a forged source with the
 * next sequence number it saw, or an ACK that claims B took everything. Both
 * worked before links were sealed (the forged message was delivered; the ACK
 * made A drop its queue). Now the receiving side of the forgery closes the
 * connection, A redials, and every message is delivered exactly once, in
 * order, with nothing forged among them. A relay at an address B does not
 * advertise cannot even pass the handshake through.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type InstanceRef, type Mesh, type Undeliverable } from '../../lib/index.js';
import { Frag, recordType } from '../../lib/native/index.js';
import { ENVELOPE_BYTES, RecordKind, writeEnvelope } from '../../lib/protocol/envelope.js';
import { encodeFrame, FrameDecoder } from '../../lib/protocol/frame.js';
import { encodeAck, encodeRecordFrame, LINK_MAX_FRAME, LinkFrame } from '../../lib/protocol/link-frames.js';
import { TcpProxy } from '../../bench/chaos/proxy.js';
import { decodeValue, encodeValue } from '../../lib/protocol/cbor.js';
import { FakePeer } from '../fuzz/fake-peer.js';
import { FuzzConn } from '../fuzz/wire.js';
import { factsOf, helloFrame, type Challenge } from '../helpers/link-handshake.js';
import { MESH_SECRET, startAgent, startNs, type MeshProcess } from '../helpers/mesh.js';
import { seqOf, seqPayload } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

const FORGED_SRC = 4242;
const EVIL = new TextEncoder().encode('EVIL');

interface Setup {
  a: MeshProcess;
  b: MeshProcess;
  relay: TcpProxy;
  sender: Instance;
  receiver: Instance;
  to: InstanceRef;
  /** B's own listening address and incarnation */
  bListening: string;
  bEpoch: number;
}

let ns: MeshProcess;
const procs: MeshProcess[] = [];
const relays: TcpProxy[] = [];
const meshes: Mesh[] = [];

async function setup(name: string): Promise<Setup> {
  const relay = await TcpProxy.listen();
  relays.push(relay);
  const a = await startAgent(ns.nsUrl, { id: `${name}-a`, links: true });
  const b = await startAgent(ns.nsUrl, { id: `${name}-b`, links: true, args: ['--advertise', relay.address] });
  procs.push(a, b);
  const ready = { listening: b.ready.agent!.listening!, epoch: b.ready.agent!.epoch };
  relay.setTarget(ready.listening);
  const ma = await a.connect();
  const mb = await b.connect();
  meshes.push(ma, mb);
  const receiver = mb.instance(`g.${name}.1.0`, { userData: 'r' });
  await next(receiver.startup$);
  const sender = ma.instance(`g.${name}-src.1.0`, { userData: 's', watch: [`g.${name}.1.0`] });
  await next(sender.startup$);
  const to = (await next(sender.members$(`g.${name}.1.0`), (l) => l.length > 0))[0]!;
  return { a, b, relay, sender, receiver, to, bListening: ready.listening, bEpoch: ready.epoch };
}

const Attacks = suite('link attacks');
Attacks.before(async () => {
  ns = await startNs();
});
Attacks.after(async () => {
  for (const m of meshes) await m.close().catch(() => {});
  for (const p of procs) await p.kill();
  for (const r of relays) await r.close();
  await ns?.stop();
  cleanupShm();
});


/** The highest DATA sequence number the relay could read going to B (what a relay on a plaintext link knows). */
function seqWatcher(relay: TcpProxy): () => number {
  let decoder = new FrameDecoder(LINK_MAX_FRAME);
  let top = 0;
  relay.tap('forward', (chunk) => {
    try {
      for (const f of decoder.push(chunk)) if (f.type === LinkFrame.DATA && f.id > top && f.id < top + 1_000_000) top = f.id;
    } catch {
      decoder = new FrameDecoder(LINK_MAX_FRAME); // sealed bytes are not frames
    }
  });
  return () => top;
}

/**
 * Stream `count` messages A -> B through the relay, calling `attack` once B has
 * taken `at` of them; every message must arrive once, in order, none forged.
 */
async function streamThrough(s: Setup, count: number, at: number, attack: () => void): Promise<void> {
  let expected = 0;
  let bad = 0;
  let forged = 0;
  s.receiver.messages$.subscribe((m) => {
    if (m.from.localId === FORGED_SRC || (m.data.length === EVIL.length && new TextDecoder().decode(m.data) === 'EVIL')) {
      forged++;
      return;
    }
    if (seqOf(m.data) !== expected) bad++;
    expected = seqOf(m.data) + 1;
  });
  const bounced: Undeliverable[] = [];
  s.sender.undeliverable$.subscribe((u) => bounced.push(u));
  let attacked = false;
  for (let i = 0; i < count;) {
    if (!attacked && expected >= at) {
      attacked = true;
      attack();
    }
    if (i % 200 === 0) await sleep(1); // a paced stream, so the attack lands mid-stream
    try {
      s.sender.sendTo(s.to, seqPayload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
  assert.ok(attacked, 'the attack was made');
  await until(() => expected === count || bad > 0, 30_000, `${count} messages through the relay`);
  await sleep(200); // anything forged would have arrived by now
  assert.is(forged, 0, 'nothing forged was delivered');
  assert.is(bad, 0, 'no gap, duplicate or reordering');
  assert.equal(bounced.map((u) => u.reason), [], 'nothing bounced or in doubt');
}

Attacks('link attack - a relay injecting a DATA frame from a forged source, with the next sequence number: B closes that connection, nothing forged is delivered, nothing real is lost', async () => {
  const s = await setup('inject');
  const lastSeq = seqWatcher(s.relay);
  await streamThrough(s, 20_000, 5_000, () => {
    const body = Buffer.alloc(ENVELOPE_BYTES + EVIL.length);
    writeEnvelope(body, FORGED_SRC, s.to.localId, 0, 0, s.bEpoch, 0);
    body.set(EVIL, ENVELOPE_BYTES);
    const frames = Buffer.concat([
      encodeFrame(LinkFrame.SOURCE, 0, encodeValue({ local: FORGED_SRC, game: 'g' })),
      encodeRecordFrame(lastSeq() + 1, recordType(RecordKind.DATA, Frag.COMPLETE), body),
    ]);
    assert.ok(s.relay.inject('forward', frames) >= 1, 'injected into a live link');
  });
  await until(() => /link from .*closed: .*failed authentication/.test(s.b.fixture.stderr), 5000, 'B to log the forgery');
  assert.ok(s.relay.counts.accepted >= 2, 'A dialled again');
});

Attacks('link attack - a relay injecting an ACK that claims B took everything: A closes that connection and keeps its queue; every message is delivered once', async () => {
  const s = await setup('ack');
  const lastSeq = seqWatcher(s.relay);
  await streamThrough(s, 20_000, 5_000, () => {
    const forged = encodeAck(lastSeq() + 100_000, { pending: [], done: [], doubt: [] });
    assert.ok(s.relay.inject('back', forged) >= 1, 'injected into a live link');
  });
  await until(() => /link to .*failed authentication/.test(s.a.fixture.stderr), 5000, 'A to log the forgery');
});

Attacks('link attack - a relay at an address B does not advertise cannot pass a handshake through: refused and logged; at the advertised address the same peer is welcome', async () => {
  const s = await setup('addr');
  const stray = await TcpProxy.listen();
  relays.push(stray);
  stray.setTarget(s.bListening);
  const port = (address: string): number => Number(address.slice(address.lastIndexOf(':') + 1));
  let refused: unknown;
  try {
    (await FakePeer.connect(port(stray.address), MESH_SECRET, 'honest-peer')).close();
  } catch (err) {
    refused = err;
  }
  assert.ok(refused, 'no WELCOME through the stray relay');
  await until(() => new RegExp(`not dialled at ${s.relay.address.replace(/\./g, '\\.')}`).test(s.b.fixture.stderr), 5000, 'B to log the refusal');
  const welcomed = await FakePeer.connect(port(s.relay.address), MESH_SECRET, 'honest-peer');
  welcomed.close();
});

Attacks('link attack - guessing the mesh secret on the link port: after 10 failed handshakes from one address its connections are closed before a CHALLENGE, and that is logged once', async () => {
  const s = await setup('guess');
  const port = Number(s.bListening.slice(s.bListening.lastIndexOf(':') + 1));
  const outcomes: string[] = [];
  for (let i = 0; i < 12; i++) {
    const conn = await FuzzConn.open({ host: '127.0.0.1', port }, { localAddress: '127.0.0.77' });
    const got = await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.CHALLENGE), 3000);
    if (got !== 'done') {
      outcomes.push(got);
      conn.destroy();
      continue;
    }
    const ch = decodeValue<Challenge>(conn.frames.find((f) => f.type === LinkFrame.CHALLENGE)!.body);
    conn.write(helloFrame(`guess-${i}`, factsOf(ch, { agentId: 'guesser', epoch: 1, address: '', next: 1 }, s.relay.address), 1).frame);
    outcomes.push(`challenged, then ${await conn.until(() => conn.frames.some((f) => f.type === LinkFrame.WELCOME), 3000)}`);
    conn.destroy();
  }
  assert.equal(outcomes, [...Array(10).fill('challenged, then closed'), 'closed', 'closed']);
  await until(() => /too many failed handshakes from 127\.0\.0\.77/.test(s.b.fixture.stderr), 3000, 'the limit logged');
  const refusals = s.b.fixture.stderr.split('\n').filter((l) => l.includes('refused: wrong mesh secret'));
  assert.ok(refusals.length <= 2, `${refusals.length} lines for 10 refused handshakes (throttled)`);
  // other addresses are not affected: A still reaches B through the relay
  const got = next(s.receiver.messages$);
  s.sender.sendTo(s.to, seqPayload(7));
  assert.is(seqOf((await got).data), 7);
});

Attacks.run();
