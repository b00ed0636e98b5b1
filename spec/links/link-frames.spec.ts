/** The pure parts of agent links: frame codec, handshake proofs, the outbound queue's seq/ack/resend. */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { FrameDecoder } from '../../lib/protocol/frame.js';
import { checkLinkProof, decodeRecordBody, encodeBareFrame, encodeRecordFrame, LINK_MAX_FRAME, LinkFrame, linkProof } from '../../lib/protocol/link-frames.js';
import { OutboundQueue } from '../../lib/agent/links/outbound-queue.js';

const Frames = suite('link frames');

Frames('link frames - a record frame round-trips through the decoder, split anywhere', () => {
  const body = new Uint8Array(40).map((_, i) => i);
  const bytes = Buffer.concat([encodeRecordFrame(LinkFrame.DATA, 7, 0x01000001, body), encodeBareFrame(LinkFrame.ACK, 7)]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const d = new FrameDecoder(LINK_MAX_FRAME);
    const frames = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
    assert.is(frames.length, 2);
    assert.is(frames[0]!.type, LinkFrame.DATA);
    assert.is(frames[0]!.id, 7);
    const r = decodeRecordBody(frames[0]!.body)!;
    assert.is(r.recordType, 0x01000001);
    assert.equal([...r.record], [...body]);
    assert.is(frames[1]!.type, LinkFrame.ACK);
  }
});

Frames('link frames - a record body shorter than type + envelope is refused', () => {
  assert.is(decodeRecordBody(new Uint8Array(19)), null);
});

Frames('link frames - an oversize length is refused before allocation; random bytes never crash', () => {
  const d = new FrameDecoder(LINK_MAX_FRAME);
  assert.throws(() => d.push(Buffer.from([0x7f, 0xff, 0xff, 0xff, 0, 10])), /exceeds/);
  for (let i = 0; i < 2000; i++) {
    const junk = new Uint8Array(1 + Math.floor(Math.random() * 64)).map(() => Math.floor(Math.random() * 256));
    try {
      for (const f of new FrameDecoder(LINK_MAX_FRAME).push(junk)) decodeRecordBody(f.body);
    } catch (err) {
      assert.ok(/exceeds|shorter/.test((err as Error).message), (err as Error).message);
    }
  }
});

Frames('link frames - proofs bind the secret, the nonce, the role and both agent ids', () => {
  const nonce = new Uint8Array(32).fill(3);
  const p = linkProof('s', 'd', nonce, 'a', 'b');
  assert.ok(checkLinkProof('s', 'd', nonce, 'a', 'b', p));
  assert.not.ok(checkLinkProof('t', 'd', nonce, 'a', 'b', p), 'other secret');
  assert.not.ok(checkLinkProof('s', 'a', nonce, 'a', 'b', p), 'other role');
  assert.not.ok(checkLinkProof('s', 'd', nonce, 'b', 'a', p), 'ids swapped');
  assert.not.ok(checkLinkProof('s', 'd', new Uint8Array(32), 'a', 'b', p), 'other nonce');
  assert.not.ok(checkLinkProof('s', 'd', nonce, 'a', 'b', 'nope'), 'not bytes');
});

const Queue = suite('link outbound queue');

Queue('outbound queue - acks drop, a rewind resends what is unacknowledged, in order', () => {
  const q = new OutboundQueue(1 << 20);
  const body = new Uint8Array(16);
  for (let i = 0; i < 5; i++) q.push(1, body);
  assert.is(q.takeUnsent().length, 5);
  assert.is(q.takeUnsent().length, 0, 'nothing twice on one connection');
  assert.is(q.ack(2), 2);
  q.rewind();
  const again = q.takeUnsent().map((f) => f.readUInt32BE(6));
  assert.equal(again, [3, 4, 5]);
  q.push(1, body);
  assert.equal(q.takeUnsent().map((f) => f.readUInt32BE(6)), [6]);
  assert.equal(q.takeAll().map((o) => o.seq), [3, 4, 5, 6]);
  assert.is(q.bytes, 0);
  assert.is(q.push(1, body).seq, 7, 'sequence numbers go on after a give-up');
});

Queue('outbound queue - full at its byte bound', () => {
  const q = new OutboundQueue(1000);
  while (!q.full) q.push(1, new Uint8Array(100));
  assert.ok(q.bytes >= 1000);
  q.ack(q.takeAll().at(-1)!.seq);
  assert.not.ok(q.full);
});

Frames.run();
Queue.run();
