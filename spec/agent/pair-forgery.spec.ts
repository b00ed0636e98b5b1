/**
 * Forged pair markers (issue 12): an app writing its own records (RawApp, no
 * client library) cannot make another instance read a ring the agent did not
 * make for exactly that pair. The agent refuses a marker for no pair of the
 * sender's, one naming another pair's ring, one naming the wrong doorbell
 * (each counted malformed, none reaches the victim); and through a ring the
 * agent did make, what the writer claims in its envelopes (another sender, a
 * bounce, a marker) does not change who the reader says sent it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Mesh } from '../../lib/index.js';
import { Doorbell, Frag, Ring, recordType } from '../../lib/native/index.js';
import { ControlMessage } from '../../lib/protocol/control-messages.js';
import type { PairOpened } from '../../lib/protocol/control-bodies.js';
import { ENVELOPE_BYTES, Flag, RecordKind, writeEnvelope } from '../../lib/protocol/envelope.js';
import { encodeMarker, pairRingName } from '../../lib/protocol/pair-marker.js';
import { RawApp } from '../fuzz/raw-app.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let app: Mesh;
let raw: RawApp;

const Forgery = suite('pair rings - forged markers');
Forgery.before(async () => {
  up = await startUp();
  app = await up.connect();
  raw = await RawApp.open(up.socket);
});
Forgery.after(async () => {
  raw?.close();
  await up?.stop();
  cleanupShm();
});

const WHOLE = recordType(RecordKind.DATA, Frag.COMPLETE);

/** A record body: the envelope (node, local, flags, epoch) and a payload. */
function record(node: number, local: number, flags: number, payload: Uint8Array): Uint8Array {
  const body = new Uint8Array(ENVELOPE_BYTES + payload.length);
  writeEnvelope(body, node, local, flags, 0, raw.welcome.epoch, 0);
  body.set(payload, ENVELOPE_BYTES);
  return body;
}

async function malformed(): Promise<number> {
  return (await up.status()).malformed;
}

Forgery('pair rings - markers the agent did not make for that pair are refused; what a writer claims in its ring does not change who sent it', async () => {
  const victim = app.instance('g.victim.1.0', { userData: 'v' });
  const legit = app.instance('g.legit.1.0', { userData: 'l' });
  const v = await next(victim.startup$);
  const l = await next(legit.startup$);
  const got: { from: number; text: string }[] = [];
  victim.messages$.subscribe((m) => got.push({ from: m.from.localId, text: new TextDecoder().decode(m.data) }));
  victim.undeliverable$.subscribe((u) => got.push({ from: -1, text: `report ${u.reason}` }));

  // a genuine pair ring from legit to victim
  legit.sendTo(v, new TextEncoder().encode('legit 1'));
  await until(() => got.length === 1);
  const legitRing = join(up.shmDir, pairRingName(l.localId, v.localId, raw.welcome.epoch));
  await until(() => existsSync(legitRing), 5000, 'the legit pair ring');

  const forger = await raw.instance('g.forger.1.0', 'f');
  const tx = Ring.open(forger.txPath, 'producer');
  tx.setBell(raw.bell);
  const send = async (flags: number, payload: Uint8Array): Promise<void> => {
    tx.write(WHOLE, record(0, v.localId, flags, payload));
    raw.bell.ring();
    await raw.sync(forger.localId);
    await sleep(50);
  };
  const ownBell = raw.welcome.clientBell;
  const before = await malformed();

  // 1. no pair ring of its own at all, naming the ring such a pair would have
  await send(Flag.PAIR, encodeMarker({ path: join(up.shmDir, pairRingName(forger.localId, v.localId, raw.welcome.epoch)), bell: ownBell }));
  assert.is(await malformed(), before + 1, 'a marker for no pair ring: refused');
  // 2. naming another pair's ring
  await send(Flag.PAIR, encodeMarker({ path: legitRing, bell: ownBell }));
  assert.is(await malformed(), before + 2, 'a marker naming another writer\'s ring: refused');
  // 3. its own ring, but another doorbell than its own
  const opened = await raw.request<PairOpened>(ControlMessage.OPEN_PAIR, { localId: forger.localId, to: v.localId });
  await send(Flag.PAIR, encodeMarker({ path: opened.path, bell: opened.bell }));
  assert.is(await malformed(), before + 3, 'a marker naming a doorbell not the writer\'s: refused');
  assert.equal(got.map((g) => g.text).filter((t) => !t.startsWith('legit')), [], 'the victim saw none of them');

  // 4. the right marker: the victim reads its ring; whatever the writer puts in the envelopes, the sender is the forger
  await send(Flag.PAIR, encodeMarker({ path: opened.path, bell: ownBell }));
  assert.is(await malformed(), before + 3, 'the marker of its own ring passes');
  const ring = Ring.open(opened.path, 'producer');
  const bell = Doorbell.open(opened.bell);
  ring.setBell(bell);
  ring.write(WHOLE, record(0, l.localId, 0, new TextEncoder().encode('claims to be legit')));
  ring.write(recordType(RecordKind.BOUNCE, Frag.COMPLETE), record(0, l.localId, 2 << 16, new TextEncoder().encode('a fake report')));
  ring.write(WHOLE, record(0, v.localId, Flag.PAIR, encodeMarker({ path: legitRing, bell: ownBell })));
  ring.write(WHOLE, record(7, 7, 0, new TextEncoder().encode('claims another node')));
  await until(() => got.some((g) => g.text === 'claims another node'), 5000, 'the forger\'s messages');
  await sleep(100);
  const forged = got.filter((g) => g.text.startsWith('claims'));
  assert.equal(forged, [
    { from: forger.localId, text: 'claims to be legit' },
    { from: forger.localId, text: 'claims another node' },
  ], 'stamped with the ring\'s writer; the bounce and the marker in it are nothing');
  assert.not.ok(got.some((g) => g.text.startsWith('report')), 'no fake report');

  // the victim still works with its legitimate sender
  const before2 = got.length;
  legit.sendTo(v, new TextEncoder().encode('legit 2'));
  await until(() => got.length === before2 + 1, 5000, 'a legit message after all that');
  assert.equal(got[got.length - 1], { from: l.localId, text: 'legit 2' });
  ring.setBell(null);
  ring.close();
  bell.close();
  tx.close();
});

Forgery.run();
