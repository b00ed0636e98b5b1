/**
 * Safety of opening and creating rings (DESIGN.md §5): a file with a wrong
 * magic, version or size, or no file at all, gives a RingError that says what
 * is wrong, in every role, and the process goes on; bad geometry and creating
 * over an existing file are refused without touching anything.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { closeSync, existsSync, openSync, readFileSync, truncateSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Layout, Ring, RingError, ShmqResult, type RingRole } from '../../lib/native/index.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';

const CAPACITY = 4096;
const ROLES: RingRole[] = ['producer', 'consumer', 'observer'];

/** A valid ring file, unmapped, ready to be damaged. */
function ringFile(): string {
  const path = join(tempShmDir(), 'ring');
  Ring.create(path, { capacity: CAPACITY, maxRecord: 1024 }).close();
  return path;
}

/** Overwrite one little-endian u32 of the header. */
function patchU32(path: string, offset: number, value: number): void {
  const buf = Buffer.alloc(4);
  buf.writeUInt32LE(value >>> 0);
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, buf, 0, 4, offset);
  } finally {
    closeSync(fd);
  }
}

function throwsRingError(fn: () => unknown, result: ShmqResult, message: RegExp): RingError {
  try {
    fn();
  } catch (err) {
    assert.instance(err, RingError);
    const e = err as RingError;
    assert.is(RingError.resultName(e.result), RingError.resultName(result), e.message);
    assert.match(e.message, message);
    return e;
  }
  return assert.unreachable(`expected a RingError ${RingError.resultName(result)}`) as never;
}

/** Ring.open fails the same way in every role. */
function openFails(path: string, result: ShmqResult, message: RegExp): void {
  for (const role of ROLES) {
    const e = throwsRingError(() => Ring.open(path, role), result, message);
    assert.ok(e.message.includes(path), `the message names the file: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------
const Open = suite('ring open errors');
Open.after(cleanupShm);

Open('open - a wrong magic throws BAD_MAGIC', () => {
  const path = ringFile();
  patchU32(path, 0, 0xdeadbeef);
  openFails(path, ShmqResult.BAD_MAGIC, /bad magic 0xdeadbeef.*not an rxmesh ring/);
});

Open('open - a file of zeros throws BAD_MAGIC', () => {
  const path = join(tempShmDir(), 'zeros');
  writeFileSync(path, Buffer.alloc(Layout.DATA_OFFSET + CAPACITY));
  openFails(path, ShmqResult.BAD_MAGIC, /bad magic 0x00000000/);
});

Open('open - a wrong version throws BAD_VERSION', () => {
  const path = ringFile();
  patchU32(path, 4, Layout.VERSION + 1);
  openFails(path, ShmqResult.BAD_VERSION, new RegExp(`ring version ${Layout.VERSION + 1}, this library speaks ${Layout.VERSION}`));
});

Open('open - a file smaller than the header throws BAD_SIZE', () => {
  const path = ringFile();
  truncateSync(path, 100);
  openFails(path, ShmqResult.BAD_SIZE, /file is 100 bytes, smaller than the 640-byte header/);
});

Open('open - an empty file throws BAD_SIZE', () => {
  const path = join(tempShmDir(), 'empty');
  writeFileSync(path, '');
  openFails(path, ShmqResult.BAD_SIZE, /file is 0 bytes/);
});

Open('open - a truncated data area throws BAD_SIZE', () => {
  const path = ringFile();
  truncateSync(path, Layout.DATA_OFFSET + CAPACITY / 2);
  openFails(path, ShmqResult.BAD_SIZE, new RegExp(`file is ${Layout.DATA_OFFSET + CAPACITY / 2} bytes, header says ${Layout.DATA_OFFSET + CAPACITY}`));
});

Open('open - a file longer than the header says throws BAD_SIZE', () => {
  const path = ringFile();
  truncateSync(path, Layout.DATA_OFFSET + CAPACITY * 2);
  openFails(path, ShmqResult.BAD_SIZE, /header says/);
});

Open('open - a corrupt capacity in the header throws BAD_SIZE', () => {
  const path = ringFile();
  patchU32(path, 8, 3000);
  openFails(path, ShmqResult.BAD_SIZE, /corrupt geometry \(capacity 3000/);
});

Open('open - a missing file throws ERROR', () => {
  const path = join(tempShmDir(), 'no-such-ring');
  openFails(path, ShmqResult.ERROR, /No such file or directory/);
});

Open('open - the process goes on: a good ring opens and works afterwards', () => {
  const path = ringFile();
  const producer = Ring.open(path, 'producer');
  const consumer = Ring.open(path, 'consumer');
  try {
    assert.ok(producer.write(1, Uint8Array.of(42)));
    const seen: number[] = [];
    consumer.drain((type, body) => seen.push(type, body[0]!));
    assert.equal(seen, [1, 42]);
  } finally {
    producer.close();
    consumer.close();
  }
});

Open.run();

// ---------------------------------------------------------------------------
const Create = suite('ring create errors');
Create.after(cleanupShm);

Create('create - over an existing file fails cleanly and leaves it alone', () => {
  const path = join(tempShmDir(), 'taken');
  writeFileSync(path, 'not yours');
  throwsRingError(() => Ring.create(path, { capacity: CAPACITY, maxRecord: 1024 }), ShmqResult.ERROR, /File exists/);
  assert.is(readFileSync(path, 'utf8'), 'not yours');
});

Create('create - over an existing ring fails and the ring keeps its records', () => {
  const path = ringFile();
  const producer = Ring.open(path, 'producer');
  try {
    producer.write(3, Uint8Array.of(1, 2, 3));
    throwsRingError(() => Ring.create(path), ShmqResult.ERROR, /File exists/);
    const consumer = Ring.open(path, 'consumer');
    try {
      const seen: number[] = [];
      consumer.drain((type, body) => seen.push(type, ...body));
      assert.equal(seen, [3, 1, 2, 3]);
    } finally {
      consumer.close();
    }
  } finally {
    producer.close();
  }
});

const INVALID_GEOMETRY: [string, number, number, RegExp][] = [
  ['capacity not a power of two', 3000, 512, /capacity 3000 is not a power of two/],
  ['capacity below the minimum', Layout.MIN_CAPACITY / 2, 64, /not a power of two in \[1024/],
  ['capacity above the maximum', Layout.MAX_CAPACITY * 2, 1024, /not a power of two in/],
  ['maxRecord > capacity/4', 4096, 1025, /max_record 1025 must be in \[1, capacity\/4 = 1024\]/],
  ['maxRecord 0', 4096, 0, /max_record 0 must be in/],
];

for (const [label, capacity, maxRecord, message] of INVALID_GEOMETRY) {
  Create(`create - ${label} throws INVALID and creates no file`, () => {
    const path = join(tempShmDir(), 'ring');
    throwsRingError(() => Ring.create(path, { capacity, maxRecord }), ShmqResult.INVALID, message);
    assert.not.ok(existsSync(path));
  });
}

Create('create - maxRecord of exactly capacity/4 is accepted', () => {
  const path = join(tempShmDir(), 'ring');
  const ring = Ring.create(path, { capacity: 4096, maxRecord: 1024 });
  try {
    assert.is(ring.maxRecord, 1024);
    assert.is(ring.capacity, 4096);
  } finally {
    ring.close();
  }
});

Create.run();
