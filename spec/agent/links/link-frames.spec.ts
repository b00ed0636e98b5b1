/** The pure parts of agent links: frame codec, ACK lists, handshake proofs, the sealed stream, the outbound queue. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder } from '../../../lib/protocol/frame.js';
import {
  checkLinkProof, decodeAck, decodeRecordBody, encodeAck, encodeBareFrame, encodeRecordFrame, helloState, LINK_MAX_FRAME, LinkFrame, linkProof,
  welcomeState,
} from '../../../lib/protocol/link-frames.js';
import { linkKeys, Opener, Sealer, type HandshakeFacts, type SealEngine } from '../../../lib/protocol/link-seal.js';
import { GmacKey } from '../../../lib/native/index.js';
import { ProtocolError } from '../../../lib/protocol/errors.js';
import { ItemState, OutboundQueue } from '../../../lib/agent/links/outbound-queue.js';
import { NO_TICKET } from '../../../lib/agent/record-sink.js';

const Frames = suite('link frames');

Frames('link frames - a record frame round-trips through the decoder, split anywhere', () => {
  const body = new Uint8Array(40).map((_, i) => i);
  const bytes = Buffer.concat([encodeRecordFrame(7, 0x01000001, body), encodeBareFrame(LinkFrame.PING, 7)]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder(LINK_MAX_FRAME);
    const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    assert.is(frames.length, 2);
    assert.is(frames[0]!.type, LinkFrame.DATA);
    assert.is(frames[0]!.id, 7);
    const r = decodeRecordBody(frames[0]!.body, 24)!;
    assert.is(r.recordType, 0x01000001);
    assert.equal([...r.record], [...body]);
    assert.is(frames[1]!.type, LinkFrame.PING);
  }
});

Frames('link frames - a record body shorter than type + envelope is refused', () => {
  assert.is(decodeRecordBody(new Uint8Array(27), 24), null);
});

Frames('link frames - ACK lists round-trip; malformed ones are refused', () => {
  const lists = { pending: [5, 9], done: [3], doubt: [] };
  const frame = encodeAck(12, lists);
  const [f] = new FrameDecoder(LINK_MAX_FRAME).push(frame);
  assert.is(f!.type, LinkFrame.ACK);
  assert.is(f!.id, 12);
  assert.equal(decodeAck(f!.body), lists);
  assert.is(decodeAck(f!.body.subarray(0, f!.body.length - 1)), null);
  assert.is(decodeAck(new Uint8Array([255, 255, 255, 255])), null);
});

Frames('link frames - an oversize length is refused before allocation; random bytes never crash', () => {
  const d = new FrameDecoder(LINK_MAX_FRAME);
  assert.throws(() => d.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 10])), /exceeds/);
  for (let i = 0; i < 2000; i++) {
    const junk = new Uint8Array(1 + Math.floor(Math.random() * 64)).map(() => Math.floor(Math.random() * 256));
    try {
      for (const f of new FrameDecoder(LINK_MAX_FRAME).push(junk)) {
        decodeRecordBody(f.body, 24);
        decodeAck(f.body);
      }
    } catch (err) {
      assert.ok(/exceeds|shorter/.test((err as Error).message), (err as Error).message);
    }
  }
});

Frames('link frames - the decoder is linear: a 4 MiB frame in 1460-byte reads copies each byte once', () => {
  const big = encodeRecordFrame(1, 1, new Uint8Array(4 * 1024 * 1024 - 64));
  const d = new FrameDecoder(LINK_MAX_FRAME);
  let got = 0;
  for (let i = 0; i < big.length; i += 1460) got += d.push(big.subarray(i, i + 1460)).length;
  assert.is(got, 1);
  assert.ok(d.copied <= big.length, `${d.copied} bytes copied for ${big.length} received`);
});

const FACTS: HandshakeFacts = {
  dialer: 'a', acceptor: 'b', dialerEpoch: 1, acceptorEpoch: 2, dialerAddress: '10.0.0.1:7000', acceptorAddress: '10.0.0.2:7000',
  acceptorNonce: new Uint8Array(32).fill(3), dialerNonce: new Uint8Array(32).fill(4),
};

Frames('link frames - proofs bind the secret, both nonces, the role, both agent ids, incarnations and addresses, and the sequence state', () => {
  const st = helloState(7);
  const p = linkProof('s', 'd', FACTS, st);
  assert.ok(checkLinkProof('s', 'd', FACTS, st, p));
  assert.not.ok(checkLinkProof('t', 'd', FACTS, st, p), 'other secret');
  assert.not.ok(checkLinkProof('s', 'a', FACTS, st, p), 'other role');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, dialer: 'b', acceptor: 'a' }, st, p), 'ids swapped');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, acceptorEpoch: 3 }, st, p), 'other incarnation');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, acceptorNonce: new Uint8Array(32) }, st, p), 'other challenge nonce');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, dialerNonce: new Uint8Array(32) }, st, p), 'other hello nonce');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, acceptorAddress: '10.0.0.66:7000' }, st, p), 'dialled elsewhere (a relay)');
  assert.not.ok(checkLinkProof('s', 'd', { ...FACTS, dialerAddress: '10.0.0.66:7000' }, st, p), 'other dial-back address');
  assert.not.ok(checkLinkProof('s', 'd', FACTS, helloState(8), p), 'another next (a relay making the acceptor skip frames)');
  const w = linkProof('s', 'a', FACTS, welcomeState(5, [3]));
  assert.ok(checkLinkProof('s', 'a', FACTS, welcomeState(5, [3]), w));
  assert.not.ok(checkLinkProof('s', 'a', FACTS, welcomeState(9, [3]), w), 'another top (a relay making the dialer drop frames)');
  assert.not.ok(checkLinkProof('s', 'a', FACTS, welcomeState(5, []), w), 'another pending list');
  assert.not.ok(checkLinkProof('s', 'd', FACTS, st, 'nope'), 'not bytes');
});

Frames('link seal - chunks open in order, however the bytes are split; the two directions have different keys', () => {
  const keys = linkKeys('s', FACTS);
  assert.not.ok(keys.forward.equals(keys.backward));
  const sealer = new Sealer(keys.forward);
  const frames = [encodeRecordFrame(1, 1, new Uint8Array(100).fill(1)), encodeRecordFrame(2, 1, new Uint8Array(70_000).fill(2))];
  const wire = Buffer.concat([...sealer.seal([frames[0]!]), ...sealer.seal(frames)]);
  for (const step of [1, 7, 1460, 65536, wire.length]) {
    const opener = new Opener(keys.forward);
    const got: Uint8Array[] = [];
    for (let i = 0; i < wire.length; i += step) got.push(...opener.push(wire.subarray(i, i + step)));
    assert.equal(got.map((p) => Buffer.from(p).toString('hex')), [frames[0]!.toString('hex'), Buffer.concat(frames).toString('hex')], `split every ${step}`);
  }
});

Frames('link seal - Node\'s own OpenSSL (bound natively) and node:crypto make the same chunks, and each opens the other\'s', () => {
  const keys = linkKeys('s', FACTS);
  assert.ok(GmacKey.for(keys.forward), 'Node\'s OpenSSL symbols are bound here (else links fall back to node:crypto)');
  const native = new Sealer(keys.forward, 'native');
  const crypto = new Sealer(keys.forward, 'crypto');
  const chunks: Uint8Array[][] = [];
  for (let n = 0; n < 64; n++) {
    const parts = Array.from({ length: 1 + (n % 5) }, (_, k) => new Uint8Array(k * 301 + n + 1).map((_, i) => i * 31 + n));
    if (n % 9 === 0) parts.push(new Uint8Array(0)); // an empty part adds nothing to the tag
    chunks.push(parts);
    const a = Buffer.concat(native.seal(parts));
    const b = Buffer.concat(crypto.seal(parts));
    assert.equal(a.toString('hex'), b.toString('hex'), `chunk ${n}: same bytes`);
  }
  for (const [seal, open] of [['native', 'crypto'], ['crypto', 'native']] as [SealEngine, SealEngine][]) {
    const sealer = new Sealer(keys.forward, seal);
    const opener = new Opener(keys.forward, undefined, open);
    for (const parts of chunks) assert.equal(Buffer.from(opener.push(Buffer.concat(sealer.seal(parts)))[0]!).toString('hex'), Buffer.concat(parts).toString('hex'));
  }
});

for (const engine of ['native', 'crypto'] as SealEngine[]) Frames(`link seal (${engine}) - a flipped bit, a reordered, replayed or dropped chunk, or the other key is refused`, () => {
  const keys = linkKeys('s', FACTS);
  const sealer = new Sealer(keys.forward, engine);
  const one = Buffer.concat(sealer.seal([Buffer.from('first frame bytes')]));
  const two = Buffer.concat(sealer.seal([Buffer.from('second frame bytes')]));
  const refused = (bytes: Buffer, key = keys.forward): boolean => {
    try {
      new Opener(key, undefined, engine).push(bytes);
      return false;
    } catch (err) {
      return err instanceof ProtocolError;
    }
  };
  assert.not.ok(refused(Buffer.concat([one, two])), 'in order');
  const flipped = Buffer.from(one);
  flipped[flipped.length - 1]! ^= 1;
  assert.ok(refused(flipped), 'payload bit');
  const tag = Buffer.from(one);
  tag[5]! ^= 1;
  assert.ok(refused(tag), 'tag bit');
  assert.ok(refused(Buffer.concat([two, one])), 'reordered');
  assert.ok(refused(Buffer.concat([one, one])), 'replayed');
  assert.ok(refused(two), 'first dropped');
  assert.ok(refused(one, keys.backward), 'other direction\'s key');
  assert.ok(refused(Buffer.from([0, 0, 0, 0, ...new Uint8Array(16)])), 'empty chunk');
  assert.ok(refused(Buffer.from([0xff, 0, 0, 0, ...new Uint8Array(16)])), 'oversize length');
});

const Queue = suite('link outbound queue');

const push = (q: OutboundQueue, dest = 1): number => q.push(1, new Uint8Array(32), dest, 1, 'g', NO_TICKET).seq;

Queue('outbound queue - settled items leave in any order; a rewind resends only what was not taken', () => {
  const q = new OutboundQueue(1 << 20, 1 << 18);
  for (let i = 0; i < 5; i++) push(q);
  assert.equal(q.takeUnsent().map((o) => o.seq), [1, 2, 3, 4, 5]);
  assert.is(q.takeUnsent().length, 0, 'nothing twice on one connection');
  q.remove(2);
  q.remove(1);
  q.get(4)!.state = ItemState.PENDING;
  q.rewind();
  assert.equal(q.takeUnsent().map((o) => o.seq), [3, 5], 'pending items are not resent');
  assert.equal(q.range(2, 4).map((o) => o.seq), [3, 4]);
  push(q);
  assert.equal(q.takeUnsent().map((o) => o.seq), [6]);
  assert.is(q.firstSeq, 3);
  assert.equal(q.takeAll().map((o) => o.seq), [3, 4, 5, 6]);
  assert.is(q.bytes, 0);
  assert.is(push(q), 7, 'sequence numbers go on after a give-up');
});

Queue('outbound queue - bounded overall and per destination', () => {
  const q = new OutboundQueue(2000, 500);
  while (q.hasRoom(1)) push(q, 1);
  assert.ok(q.hasRoom(2), 'one full destination leaves room for the others');
  while (q.hasRoom(2)) push(q, 2);
  for (const o of q.range(0, Infinity).filter((o) => o.dest === 1)) q.remove(o.seq);
  assert.ok(q.hasRoom(1));
});

Frames.run();
Queue.run();
