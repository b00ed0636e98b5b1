/**
 * The shared-memory ring's basic contract (DESIGN.md §5), on real rings in
 * /dev/shm: records round-trip through every write and read path, the ring
 * wraps with a padding record, refuses records when full or too big, and a
 * producer rings the doorbell only for a parked consumer.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import {
  align8, Doorbell, forEachRecord, Layout, RecordBatch, Ring, RingError, ShmqResult, type RingOptions,
} from '../../lib/native/index.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const SMALL: RingOptions = { capacity: 4096, maxRecord: 1024 };

/** A ring file with a producer and a consumer mapped, closed together. */
function ringPair(options: RingOptions = SMALL) {
  const dir = tempShmDir();
  const path = join(dir, 'ring');
  const observer = Ring.create(path, options);
  const producer = Ring.open(path, 'producer');
  const consumer = Ring.open(path, 'consumer');
  return {
    dir, path, observer, producer, consumer,
    close(): void {
      producer.close();
      consumer.close();
      observer.close();
    },
  };
}

/** Deterministic body bytes for record `seq`, so any corruption shows. */
function bodyFor(seq: number, length: number): Uint8Array {
  const body = new Uint8Array(length);
  for (let i = 0; i < length; i++) body[i] = (seq * 31 + i * 7 + 1) & 0xff;
  return body;
}

const bytes = (...values: number[]): Uint8Array => Uint8Array.from(values);

/** Read everything waiting with readBatch, as [type, body copy] pairs. */
function readAll(consumer: Ring, bufferSize = 64 * 1024): [number, Uint8Array][] {
  const out: [number, Uint8Array][] = [];
  const buf = new Uint8Array(bufferSize);
  for (let n = consumer.readBatch(buf); n > 0; n = consumer.readBatch(buf)) {
    forEachRecord(buf, 0, n, (type, body) => out.push([type, body.slice()]));
  }
  return out;
}

function throwsRingError(fn: () => unknown, result: ShmqResult, message: RegExp): void {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RingError);
    assert.is((err as RingError).result, result, `result of ${(err as Error).message}`);
    assert.match((err as Error).message, message);
    return;
  }
  assert.unreachable(`expected a RingError ${RingError.resultName(result)}`);
}

// ---------------------------------------------------------------------------
const RoundTrip = suite('ring round trip');
RoundTrip.after(cleanupShm);

RoundTrip('ring - write then readBatch returns the record', () => {
  const r = ringPair();
  try {
    assert.ok(r.producer.write(5, bytes(1, 2, 3)));
    assert.ok(r.producer.write(6, new Uint8Array(0)), 'an empty body is a valid record');
    assert.equal(readAll(r.consumer), [[5, bytes(1, 2, 3)], [6, new Uint8Array(0)]]);
    const s = r.observer.stats();
    assert.is(s.recordsWritten, 2);
    assert.is(s.recordsRead, 2);
    assert.is(s.depth, 0);
  } finally {
    r.close();
  }
});

RoundTrip('ring - writeBatch writes a whole RecordBatch in one call', () => {
  const r = ringPair();
  try {
    const batch = new RecordBatch(1024);
    for (let i = 0; i < 10; i++) assert.ok(batch.add(100 + i, bodyFor(i, i * 3)));
    assert.is(r.producer.writeBatch(batch), 10);
    assert.is(batch.length, 0, 'the written records are removed from the batch');
    assert.is(batch.count, 0);
    const got = readAll(r.consumer);
    assert.equal(got, Array.from({ length: 10 }, (_, i) => [100 + i, bodyFor(i, i * 3)]));
  } finally {
    r.close();
  }
});

RoundTrip('ring - readBatch output is in ring format for forEachRecord', () => {
  const r = ringPair();
  try {
    r.producer.write(1, bytes(9, 9, 9, 9, 9));
    r.producer.write(2, bodyFor(2, 16));
    const buf = new Uint8Array(1024);
    const n = r.consumer.readBatch(buf);
    assert.is(n, align8(Layout.RECORD_HEADER + 5) + align8(Layout.RECORD_HEADER + 16));
    const seen: [number, Uint8Array][] = [];
    assert.is(forEachRecord(buf, 0, n, (type, body) => seen.push([type, body.slice()])), 2);
    assert.equal(seen, [[1, bytes(9, 9, 9, 9, 9)], [2, bodyFor(2, 16)]]);
  } finally {
    r.close();
  }
});

RoundTrip('ring - drain visits every waiting record in order', () => {
  const r = ringPair();
  try {
    for (let i = 0; i < 20; i++) assert.ok(r.producer.write(i, bodyFor(i, 50)));
    const seen: [number, Uint8Array][] = [];
    assert.is(r.consumer.drain((type, body) => seen.push([type, body.slice()])), 20);
    assert.equal(seen, Array.from({ length: 20 }, (_, i) => [i, bodyFor(i, 50)]));
    assert.is(r.consumer.drain(() => assert.unreachable('nothing is left')), 0);
    assert.is(r.observer.stats().recordsRead, 20);
  } finally {
    r.close();
  }
});

RoundTrip('ring - peek shows the next record and commit consumes it', () => {
  const r = ringPair();
  try {
    r.producer.write(11, bytes(1));
    r.producer.write(12, bytes(2, 2));
    const first = r.consumer.peek();
    assert.ok(first);
    assert.is(first.type, 11);
    assert.equal(first.body.slice(), bytes(1));
    const again = r.consumer.peek();
    assert.is(again?.type, 11, 'peek does not consume');
    r.consumer.commit();
    const second = r.consumer.peek();
    assert.is(second?.type, 12);
    assert.equal(second?.body.slice(), bytes(2, 2));
    r.consumer.commit();
    assert.is(r.consumer.peek(), null);
    assert.is(r.observer.stats().recordsRead, 2);
  } finally {
    r.close();
  }
});

RoundTrip('ring - commit without peek throws INVALID', () => {
  const r = ringPair();
  try {
    throwsRingError(() => r.consumer.commit(), ShmqResult.INVALID, /commit without peek/);
  } finally {
    r.close();
  }
});

RoundTrip('ring - claim is invisible until commitClaim', () => {
  const r = ringPair();
  try {
    const slot = r.producer.claim(21, 40);
    assert.ok(slot);
    assert.is(slot.length, 40);
    slot.set(bodyFor(21, 40));
    assert.is(r.consumer.readBatch(new Uint8Array(1024)), 0, 'a claim is not readable');
    assert.is(r.consumer.peek(), null);
    r.producer.commitClaim();
    assert.equal(readAll(r.consumer), [[21, bodyFor(21, 40)]]);
    assert.ok(r.producer.write(22, bytes(7)), 'the producer goes on after a claim');
    assert.equal(readAll(r.consumer), [[22, bytes(7)]]);
  } finally {
    r.close();
  }
});

RoundTrip('ring - writes are refused while a claim is open', () => {
  const r = ringPair();
  try {
    assert.ok(r.producer.claim(1, 8));
    throwsRingError(() => r.producer.write(2, bytes(1)), ShmqResult.INVALID, /claim is open/);
    r.producer.commitClaim();
    throwsRingError(() => r.producer.commitClaim(), ShmqResult.INVALID, /no open claim/);
  } finally {
    r.close();
  }
});

RoundTrip.run();

// ---------------------------------------------------------------------------
const Wrap = suite('ring wrap');
Wrap.after(cleanupShm);

Wrap('ring - writes a padding record at the wrap', () => {
  const r = ringPair(); // 4096 bytes: four 1008-byte records leave 64 bytes before the end
  try {
    for (let i = 0; i < 4; i++) assert.ok(r.producer.write(i, bodyFor(i, 1000)));
    assert.is(r.observer.stats().tail, 4032);
    assert.equal(readAll(r.consumer).length, 4);
    assert.ok(r.producer.write(4, bodyFor(4, 1000)));
    const pad = new DataView(r.observer.data.buffer, r.observer.data.byteOffset + 4032, 8);
    assert.is(pad.getInt32(0, true), 64, 'padding runs to the end of the data area');
    assert.is(pad.getInt32(4, true), Layout.TYPE_PAD);
    assert.is(r.observer.stats().tail, 4096 + 1008, 'the record starts again at offset 0');
    assert.equal(readAll(r.consumer), [[4, bodyFor(4, 1000)]], 'the padding is never handed out');
  } finally {
    r.close();
  }
});

/** Fill and empty a small ring with sizes that never divide it, many laps. */
function wrapMany(read: (consumer: Ring) => [number, Uint8Array][]): void {
  const r = ringPair();
  const sizes = [100, 333, 1000, 7, 0, 1024, 517, 64];
  try {
    let written = 0;
    let seen = 0;
    let recordBytes = 0;
    while (r.observer.stats().tail < 10 * 4096) {
      for (;;) {
        const size = sizes[written % sizes.length]!;
        if (!r.producer.write(written & 0xffff, bodyFor(written, size))) break;
        recordBytes += align8(Layout.RECORD_HEADER + size);
        written++;
      }
      for (const [type, body] of read(r.consumer)) {
        assert.is(type, seen & 0xffff, `type of record ${seen}`);
        assert.equal(body, bodyFor(seen, sizes[seen % sizes.length]!), `body of record ${seen}`);
        seen++;
      }
      assert.is(seen, written, 'every record written was read');
    }
    const s = r.observer.stats();
    assert.ok(s.tail > 5 * r.observer.capacity, `tail ${s.tail} passed the capacity several times`);
    assert.is(s.head, s.tail);
    assert.is(s.recordsRead, written);
    assert.ok(s.tail > recordBytes, 'padding records were written at the wraps');
  } finally {
    r.close();
  }
}

Wrap('ring - wraps many times, data intact (readBatch)', () => wrapMany((c) => readAll(c)));

Wrap('ring - wraps many times, data intact (drain)', () =>
  wrapMany((c) => {
    const out: [number, Uint8Array][] = [];
    c.drain((type, body) => out.push([type, body.slice()]));
    return out;
  }),
);

Wrap('ring - wraps many times, data intact (peek/commit)', () =>
  wrapMany((c) => {
    const out: [number, Uint8Array][] = [];
    for (let p = c.peek(); p; p = c.peek()) {
      out.push([p.type, p.body.slice()]);
      c.commit();
    }
    return out;
  }),
);

Wrap('ring - wraps many times, data intact (writeBatch)', () => {
  const r = ringPair();
  try {
    const size = (seq: number): number => (seq * 37) % 700;
    const batch = new RecordBatch(8192);
    let added = 0;
    let got = 0;
    while (r.observer.stats().tail < 10 * 4096) {
      while (batch.add(added & 0xffff, bodyFor(added, size(added)))) added++;
      assert.ok(r.producer.writeBatch(batch) > 0);
      for (const [type, body] of readAll(r.consumer)) {
        assert.is(type, got & 0xffff);
        assert.equal(body, bodyFor(got, size(got)), `body of record ${got}`);
        got++;
      }
    }
    assert.is(got, added - batch.count);
    assert.ok(r.observer.stats().tail > 5 * r.observer.capacity);
  } finally {
    r.close();
  }
});

Wrap('ring - wraps many times, data intact (claim/commitClaim)', () => {
  const r = ringPair();
  try {
    let seq = 0;
    let got = 0;
    while (r.observer.stats().tail < 10 * 4096) {
      for (let slot = r.producer.claim(3, 1 + (seq % 900)); slot; slot = r.producer.claim(3, 1 + (seq % 900))) {
        slot.set(bodyFor(seq, slot.length));
        r.producer.commitClaim();
        seq++;
      }
      for (const [, body] of readAll(r.consumer)) {
        assert.equal(body, bodyFor(got, 1 + (got % 900)), `body of record ${got}`);
        got++;
      }
    }
    assert.is(got, seq);
    assert.ok(r.observer.stats().tail > 5 * r.observer.capacity);
  } finally {
    r.close();
  }
});

Wrap.run();

// ---------------------------------------------------------------------------
const Full = suite('ring full');
Full.after(cleanupShm);

Full('ring - write returns false when full and counts it', () => {
  const r = ringPair();
  try {
    let n = 0;
    while (r.producer.write(1, bodyFor(n, 100))) n++;
    assert.ok(n > 0 && n < 4096 / 108, `${n} records fit`);
    assert.is(r.observer.stats().fullCount, 1);
    assert.not.ok(r.producer.write(1, bodyFor(n, 100)));
    assert.is(r.observer.stats().fullCount, 2);
    assert.equal(readAll(r.consumer), Array.from({ length: n }, (_, i) => [1, bodyFor(i, 100)]));
    assert.ok(r.producer.write(1, bodyFor(n, 100)), 'room again once the consumer has read');
    assert.equal(readAll(r.consumer), [[1, bodyFor(n, 100)]]);
  } finally {
    r.close();
  }
});

Full('ring - writeBatch returns 0 when full and counts it', () => {
  const r = ringPair();
  try {
    while (r.producer.write(1, bodyFor(0, 100)));
    const before = r.observer.stats().fullCount;
    const batch = new RecordBatch(1024);
    batch.add(2, bodyFor(1, 100));
    assert.is(r.producer.writeBatch(batch), 0);
    assert.is(batch.count, 1, 'the batch keeps what was not written');
    assert.is(r.observer.stats().fullCount, before + 1);
  } finally {
    r.close();
  }
});

Full('ring - writeBatch writes what fits and keeps the rest in order', () => {
  const r = ringPair();
  try {
    const batch = new RecordBatch(8192);
    for (let i = 0; i < 60; i++) assert.ok(batch.add(i, bodyFor(i, 100)));
    const first = r.producer.writeBatch(batch);
    assert.ok(first > 0 && first < 60, `${first} of 60 fit`);
    assert.is(batch.count, 60 - first);
    const got = readAll(r.consumer);
    let total = first;
    while (batch.count > 0) {
      const n = r.producer.writeBatch(batch);
      assert.ok(n > 0, 'an empty ring takes more');
      total += n;
      got.push(...readAll(r.consumer));
    }
    assert.is(total, 60);
    assert.equal(got, Array.from({ length: 60 }, (_, i) => [i, bodyFor(i, 100)]));
  } finally {
    r.close();
  }
});

Full.run();

// ---------------------------------------------------------------------------
const Limits = suite('ring record limits');
Limits.after(cleanupShm);

Limits('ring - accepts a record of exactly maxRecord bytes', () => {
  const r = ringPair();
  try {
    assert.is(r.producer.maxRecord, 1024);
    assert.ok(r.producer.write(1, bodyFor(1, 1024)));
    const batch = new RecordBatch(2048);
    batch.add(2, bodyFor(2, 1024));
    assert.is(r.producer.writeBatch(batch), 1);
    assert.equal(readAll(r.consumer), [[1, bodyFor(1, 1024)], [2, bodyFor(2, 1024)]]);
  } finally {
    r.close();
  }
});

Limits('ring - a record length changed to near 2 GiB while the span is walked is CORRUPT, not a crash', () => {
  // The producer may rewrite a record after the C side checked the span; a length whose 8-byte
  // alignment overflows 32 bits once passed the walk's bound check and made it step backwards.
  for (const huge of [0x7ffffffc, 0x7fffffff]) {
    const r = ringPair();
    try {
      assert.ok(r.producer.write(1, bodyFor(1, 16)));
      assert.ok(r.producer.write(2, bodyFor(2, 16)));
      const second = 24; // the first record: 8-byte header + 16-byte body
      throwsRingError(() => r.consumer.walk(() => {
        new DataView(r.consumer.data.buffer, r.consumer.data.byteOffset).setInt32(second, huge, true);
        return true;
      }), ShmqResult.CORRUPT, /changed while read/);
    } finally {
      r.close();
    }
  }
});

Limits('ring - stats: a read cursor scribbled by the other side gives a depth within [0, capacity], never beyond 2^53', () => {
  // An app owns its rx ring's read cursor; the agent reports the ring's depth to every app of the game (LOAD),
  // whose decoder refuses a depth no ring can have (the rings fuzz lost its canary's connection that way).
  for (const head of [-(2n ** 63n), 0n, 2n ** 62n]) {
    const r = ringPair();
    try {
      for (let i = 0; i < 100; i++) {
        assert.ok(r.producer.write(1, bodyFor(i, 64)));
        readAll(r.consumer);
      }
      const fd = openSync(r.path, 'r+');
      const raw = Buffer.alloc(8);
      raw.writeBigInt64LE(head);
      writeSync(fd, raw, 0, 8, Layout.OFF_HEAD);
      closeSync(fd);
      const depth = r.observer.stats().depth;
      assert.ok(depth >= 0 && depth <= r.observer.capacity, `head ${head}: depth ${depth} (capacity ${r.observer.capacity})`);
    } finally {
      r.close();
    }
  }
});

Limits('ring - rejects maxRecord + 1 with RingError TOO_BIG', () => {
  const r = ringPair();
  try {
    throwsRingError(() => r.producer.write(1, new Uint8Array(1025)), ShmqResult.TOO_BIG, /1025.*max_record 1024/);
    throwsRingError(() => r.producer.claim(1, 1025), ShmqResult.TOO_BIG, /max_record/);
    const batch = new RecordBatch(2048);
    batch.add(1, new Uint8Array(1025));
    throwsRingError(() => r.producer.writeBatch(batch), ShmqResult.TOO_BIG, /bad record/);
    const s = r.observer.stats();
    assert.is(s.tail, 0, 'nothing was written');
    assert.is(s.fullCount, 0, 'too big is not full');
  } finally {
    r.close();
  }
});

Limits('ring - readBatch into a buffer too small for the next record throws TOO_BIG', () => {
  const r = ringPair();
  try {
    r.producer.write(1, bodyFor(1, 100));
    throwsRingError(() => r.consumer.readBatch(new Uint8Array(64)), ShmqResult.TOO_BIG, /does not fit/);
    assert.is(readAll(r.consumer).length, 1, 'the record is still there');
  } finally {
    r.close();
  }
});

Limits.run();

// ---------------------------------------------------------------------------
const Empty = suite('ring empty');
Empty.after(cleanupShm);

Empty('ring - an empty ring reads nothing', () => {
  const r = ringPair();
  try {
    assert.is(r.consumer.readBatch(new Uint8Array(1024)), 0);
    assert.is(r.consumer.peek(), null);
    assert.is(r.consumer.available(), false);
    assert.is(r.consumer.drain(() => assert.unreachable('nothing to visit')), 0);
    assert.is(r.consumer.unblock(), 'empty');
    assert.is(r.consumer.spin(1000), false);
  } finally {
    r.close();
  }
});

Empty('ring - available once a record is written', () => {
  const r = ringPair();
  try {
    r.producer.write(1, bytes(1));
    assert.is(r.consumer.available(), true);
    assert.is(r.consumer.spin(1000), true);
    readAll(r.consumer);
    assert.is(r.consumer.available(), false);
  } finally {
    r.close();
  }
});

Empty.run();

// ---------------------------------------------------------------------------
const Park = suite('ring park and doorbell');
Park.after(cleanupShm);

Park('ring - park returns true and sets the parked word when empty', () => {
  const r = ringPair();
  try {
    assert.is(r.consumer.park(), true);
    assert.is(r.observer.stats().parked, true);
    r.consumer.unpark();
    assert.is(r.observer.stats().parked, false);
  } finally {
    r.close();
  }
});

Park('ring - park returns false when data is waiting', () => {
  const r = ringPair();
  try {
    r.producer.write(1, bytes(1));
    assert.is(r.consumer.park(), false);
    assert.is(r.observer.stats().parked, false, 'the parked word is cleared again');
  } finally {
    r.close();
  }
});

Park('ring - a write rings the doorbell of a parked consumer', async () => {
  const r = ringPair();
  const bellPath = join(r.dir, 'bell');
  const consumerBell = Doorbell.create(bellPath);
  const producerBell = Doorbell.open(bellPath);
  try {
    let rings = 0;
    const rung = new Promise<void>((resolve) => consumerBell.listen(() => (rings++, resolve())));
    r.producer.setBell(producerBell);
    assert.is(r.consumer.park(), true);
    assert.ok(r.producer.write(1, bytes(1)));
    const s = r.observer.stats();
    assert.is(s.wakeups, 1, 'the producer rang');
    assert.is(s.parked, false, 'the producer cleared the parked word');
    await rung;
    assert.is(rings, 1);
    assert.equal(readAll(r.consumer), [[1, bytes(1)]]);
  } finally {
    producerBell.close();
    consumerBell.close();
    r.close();
  }
});

Park('ring - a write does not ring when the consumer is not parked', () => {
  const r = ringPair();
  const bellPath = join(r.dir, 'bell');
  const consumerBell = Doorbell.create(bellPath);
  const producerBell = Doorbell.open(bellPath);
  try {
    r.producer.setBell(producerBell);
    assert.ok(r.producer.write(1, bytes(1)));
    assert.ok(r.producer.write(2, bytes(2)));
    assert.is(r.observer.stats().wakeups, 0);
    assert.is(consumerBell.drain(), 0, 'nothing was written to the doorbell');
    // parked once, rung once: the second write finds the word already cleared
    readAll(r.consumer);
    assert.is(r.consumer.park(), true);
    r.producer.write(3, bytes(3));
    r.producer.write(4, bytes(4));
    assert.is(r.observer.stats().wakeups, 1);
    assert.is(consumerBell.drain(), 1);
  } finally {
    producerBell.close();
    consumerBell.close();
    r.close();
  }
});

Park.run();
