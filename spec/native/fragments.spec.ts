/**
 * Fragmentation (DESIGN.md §5): a message larger than the ring's max record
 * travels as BEGIN, MIDDLE..., END records written by Ring.writeFragments
 * (resumable when the ring fills) and is put back together per source by
 * Reassembler. Every size goes through a real ring and is compared byte for byte.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomFillSync } from 'node:crypto';
import { join } from 'node:path';
import {
  Frag, fragOf, kindOf, Reassembler, ReassemblyError, recordType, Ring, type RingOptions,
} from '../../lib/native/index.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const MAX_RECORD = 16 * 1024;
const OPTIONS: RingOptions = { capacity: 256 * 1024, maxRecord: MAX_RECORD };
const KIND = 0x1234;
const MiB = 1024 * 1024;

function ringPair(options: RingOptions = OPTIONS) {
  const path = join(tempShmDir(), 'ring');
  const observer = Ring.create(path, options);
  const producer = Ring.open(path, 'producer');
  const consumer = Ring.open(path, 'consumer');
  return {
    observer, producer, consumer,
    close(): void {
      producer.close();
      consumer.close();
      observer.close();
    },
  };
}

const randomMessage = (size: number): Uint8Array => randomFillSync(new Uint8Array(size));
const sourceId = (n: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(n)]).buffer);
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
  .equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));

interface Received {
  message: Uint8Array;
  source: string;
  frags: Frag[];
}

/**
 * The consumer side: drains the ring into a Reassembler keyed by the 8-byte
 * prefix (or one key without a prefix), checking every record's kind.
 */
class Receiver {
  readonly reassembler: Reassembler<string>;
  readonly received: Received[] = [];
  private readonly frags = new Map<string, Frag[]>();

  constructor(private readonly consumer: Ring, private readonly prefixLength: number, maxMessage?: number) {
    this.reassembler = new Reassembler<string>(maxMessage);
  }

  drain(): number {
    return this.consumer.drain((type, body) => {
      assert.is(kindOf(type), KIND, 'the record kind survives fragmentation');
      const source = this.prefixLength ? hex(body.subarray(0, this.prefixLength)) : 'single';
      const frags = this.frags.get(source) ?? [];
      frags.push(fragOf(type));
      this.frags.set(source, frags);
      const whole = this.reassembler.push(source, type, body.subarray(this.prefixLength));
      if (whole) {
        // a COMPLETE record comes back as the ring view itself: copy it out
        this.received.push({ message: whole.slice(), source, frags });
        this.frags.delete(source);
      }
    });
  }
}

/** Write `msg` through the ring, draining the consumer whenever the ring is
 * full. Returns how many writeFragments calls it took. */
function send(producer: Ring, receiver: Receiver, msg: Uint8Array, prefix: Uint8Array | null = null): number {
  let calls = 1;
  let offset = producer.writeFragments(KIND, msg, 0, prefix);
  while (offset < msg.length) {
    calls++;
    const drained = receiver.drain();
    const next = producer.writeFragments(KIND, msg, offset, prefix);
    assert.ok(next > offset || drained > 0, `no progress at offset ${offset}`);
    offset = next;
  }
  receiver.drain();
  return calls;
}

/** The fragment kinds a message of `size` bytes must arrive as. */
function expectedFrags(size: number, chunk: number): Frag[] {
  const n = Math.max(1, Math.ceil(size / chunk));
  if (n === 1) return [Frag.COMPLETE];
  return [Frag.BEGIN, ...Array<Frag>(n - 2).fill(Frag.MIDDLE), Frag.END];
}

const SIZES: [string, number][] = [
  ['1 B', 1],
  ['exactly maxRecord', MAX_RECORD],
  ['maxRecord + 1', MAX_RECORD + 1],
  ['1 MiB', MiB],
  ['16 MiB', 16 * MiB],
];

// ---------------------------------------------------------------------------
const RoundTrip = suite('fragments round trip');
RoundTrip.after(cleanupShm);

for (const [label, size] of SIZES) {
  RoundTrip(`fragments - ${label} arrives intact`, () => {
    const r = ringPair();
    try {
      const receiver = new Receiver(r.consumer, 0);
      const msg = randomMessage(size);
      const calls = send(r.producer, receiver, msg);
      assert.is(receiver.received.length, 1);
      const got = receiver.received[0]!;
      assert.is(got.message.length, size);
      assert.ok(sameBytes(got.message, msg), 'byte for byte');
      assert.equal(got.frags, expectedFrags(size, MAX_RECORD));
      assert.is(receiver.reassembler.pending, 0);
      const s = r.observer.stats();
      assert.is(s.recordsRead, s.recordsWritten);
      if (size > OPTIONS.capacity!) assert.ok(calls > 1, 'the message filled the ring and was resumed');
    } finally {
      r.close();
    }
  });
}

RoundTrip('fragments - an empty message is one COMPLETE record', () => {
  const r = ringPair();
  try {
    const receiver = new Receiver(r.consumer, 0);
    assert.is(r.producer.writeFragments(KIND, new Uint8Array(0)), 0);
    receiver.drain();
    assert.is(receiver.received.length, 1);
    assert.is(receiver.received[0]!.message.length, 0);
    assert.equal(receiver.received[0]!.frags, [Frag.COMPLETE]);
  } finally {
    r.close();
  }
});

RoundTrip('fragments - writeFragments resumes where a full ring stopped it', () => {
  const r = ringPair({ capacity: 64 * 1024, maxRecord: MAX_RECORD });
  try {
    const receiver = new Receiver(r.consumer, 0);
    const msg = randomMessage(MiB);
    const first = r.producer.writeFragments(KIND, msg);
    assert.ok(first > 0 && first < msg.length, `the first call stops at ${first}`);
    assert.is(first % MAX_RECORD, 0, 'it stops at a fragment boundary');
    assert.is(r.producer.writeFragments(KIND, msg, first), first, 'unchanged while the ring is full');
    receiver.drain();
    assert.is(receiver.received.length, 0, 'not done yet');
    assert.is(receiver.reassembler.pending, 1);
    let offset = first;
    while (offset < msg.length) {
      offset = r.producer.writeFragments(KIND, msg, offset);
      receiver.drain();
    }
    const complete = receiver.received.filter((m) => m.message.length === msg.length);
    assert.is(complete.length, 1);
    assert.ok(sameBytes(complete[0]!.message, msg));
  } finally {
    r.close();
  }
});

RoundTrip.run();

// ---------------------------------------------------------------------------
const Prefixed = suite('fragments with a source prefix');
Prefixed.after(cleanupShm);

for (const [label, size] of SIZES) {
  Prefixed(`fragments - ${label} with an 8-byte source id on every fragment`, () => {
    const r = ringPair();
    try {
      const receiver = new Receiver(r.consumer, 8);
      const msg = randomMessage(size);
      const source = sourceId(0x0a0b0c0d0e0f);
      send(r.producer, receiver, msg, source);
      assert.is(receiver.received.length, 1);
      const got = receiver.received[0]!;
      assert.is(got.source, hex(source), 'every fragment carried the prefix');
      assert.ok(sameBytes(got.message, msg), 'byte for byte');
      assert.equal(got.frags, expectedFrags(size, MAX_RECORD - 8));
    } finally {
      r.close();
    }
  });
}

Prefixed('fragments - two sources interleaved on one ring reassemble separately', () => {
  // a small ring, so each call writes a few fragments and the sources interleave
  const r = ringPair({ capacity: 64 * 1024, maxRecord: 4096 });
  try {
    const receiver = new Receiver(r.consumer, 8);
    const a = { prefix: sourceId(1), msg: randomMessage(300 * 1024 + 5), offset: 0 };
    const b = { prefix: sourceId(2), msg: randomMessage(200 * 1024 + 3), offset: 0 };
    while (a.offset < a.msg.length || b.offset < b.msg.length) {
      for (const s of [a, b]) {
        if (s.offset < s.msg.length) s.offset = r.producer.writeFragments(KIND, s.msg, s.offset, s.prefix);
      }
      receiver.drain();
    }
    receiver.drain();
    assert.is(receiver.received.length, 2);
    const bySource = new Map(receiver.received.map((m) => [m.source, m.message]));
    assert.ok(sameBytes(bySource.get(hex(a.prefix))!, a.msg), 'source 1 intact');
    assert.ok(sameBytes(bySource.get(hex(b.prefix))!, b.msg), 'source 2 intact');
  } finally {
    r.close();
  }
});

Prefixed('fragments - a prefix that leaves no room throws TOO_BIG', () => {
  const r = ringPair();
  try {
    assert.throws(() => r.producer.writeFragments(KIND, randomMessage(10), 0, new Uint8Array(MAX_RECORD)), /TOO_BIG/);
  } finally {
    r.close();
  }
});

Prefixed.run();

// ---------------------------------------------------------------------------
const Errors = suite('reassembler errors');

const chunk = (n: number): Uint8Array => new Uint8Array(n).fill(n & 0xff);

function throwsReassembly(fn: () => unknown, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ReassemblyError);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable('expected a ReassemblyError');
}

Errors('reassembler - END without BEGIN throws', () => {
  const re = new Reassembler<string>();
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.END), chunk(4)), /END fragment without a BEGIN/);
  assert.is(re.pending, 0);
});

Errors('reassembler - MIDDLE without BEGIN throws', () => {
  const re = new Reassembler<string>();
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.MIDDLE), chunk(4)), /MIDDLE fragment without a BEGIN/);
  assert.is(re.pending, 0);
});

Errors('reassembler - a message beyond maxMessage throws and is freed', () => {
  const re = new Reassembler<string>(1000);
  assert.is(re.push('a', recordType(KIND, Frag.BEGIN), chunk(600)), null);
  assert.is(re.pending, 1);
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.MIDDLE), chunk(401)), /exceeds 1000 bytes/);
  assert.is(re.pending, 0, 'the partial message was dropped');
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.END), chunk(1)), /without a BEGIN/);
});

Errors('reassembler - exactly maxMessage is accepted', () => {
  const re = new Reassembler<string>(1000);
  re.push('a', recordType(KIND, Frag.BEGIN), chunk(600));
  const whole = re.push('a', recordType(KIND, Frag.END), chunk(400));
  assert.is(whole?.length, 1000);
});

Errors('reassembler - an oversize message from a real ring throws', () => {
  const r = ringPair();
  try {
    const receiver = new Receiver(r.consumer, 0, MiB);
    assert.throws(() => send(r.producer, receiver, randomMessage(MiB + 1)), (err: unknown) => err instanceof ReassemblyError);
    assert.is(receiver.reassembler.pending, 0);
  } finally {
    r.close();
  }
});

Errors('reassembler - BEGIN twice and COMPLETE inside a message throw', () => {
  const re = new Reassembler<string>();
  re.push('a', recordType(KIND, Frag.BEGIN), chunk(4));
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.BEGIN), chunk(4)), /BEGIN arrived before/);
  re.push('a', recordType(KIND, Frag.BEGIN), chunk(4));
  throwsReassembly(() => re.push('a', recordType(KIND, Frag.COMPLETE), chunk(4)), /whole message arrived inside/);
  assert.is(re.pending, 0);
});

Errors('reassembler - drop frees a partial message', () => {
  const re = new Reassembler<string>();
  re.push('a', recordType(KIND, Frag.BEGIN), chunk(100));
  re.push('b', recordType(KIND, Frag.BEGIN), chunk(100));
  assert.is(re.pending, 2);
  assert.is(re.drop('a'), true);
  assert.is(re.pending, 1);
  assert.is(re.drop('a'), false, 'nothing left to drop');
  const b = re.push('b', recordType(KIND, Frag.END), chunk(5));
  assert.is(b?.length, 105, 'the other source is untouched');
  assert.is(re.pending, 0);
});

Errors.run();
