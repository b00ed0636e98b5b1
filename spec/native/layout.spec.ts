/**
 * The ring layout is written down twice, in C (shmq.so.c, shmq_layout()) and
 * in TypeScript (Layout); these must agree, and the offsets must be where the
 * bytes really are in a ring file. A missing library fails with a typed error
 * that says how to build it.
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Layout, NativeLoadError, nativeLayout, Ring } from '../../lib/native/index.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { startFixture, type Fixture } from '../helpers/process.js';

// ---------------------------------------------------------------------------
const Constants = suite('layout constants');
Constants.after(cleanupShm);

Constants('layout - nativeLayout() equals Layout key by key', () => {
  const c = nativeLayout();
  assert.equal(Object.keys(c).sort(), Object.keys(Layout).sort(), 'the same keys');
  for (const key of Object.keys(Layout) as (keyof typeof Layout)[]) {
    assert.is(c[key], Layout[key], `${key}: C says ${c[key]}, TypeScript says ${Layout[key]}`);
  }
});

Constants('layout - a ring file has its header fields at the documented offsets', () => {
  const path = join(tempShmDir(), 'ring');
  const observer = Ring.create(path, { capacity: 4096, maxRecord: 512 });
  const producer = Ring.open(path, 'producer');
  const consumer = Ring.open(path, 'consumer');
  try {
    producer.write(77, Uint8Array.of(1, 2, 3));
    assert.is(consumer.park(), false);
    const file = readFileSync(path);
    assert.is(statSync(path).size, Layout.DATA_OFFSET + 4096);
    assert.is(file.readUInt32LE(0), Layout.MAGIC, 'magic');
    assert.is(file.readUInt32LE(4), Layout.VERSION, 'version');
    assert.is(file.readUInt32LE(8), 4096, 'capacity');
    assert.is(file.readUInt32LE(12), 512, 'max_record');
    assert.is(file.readInt32LE(16), process.pid, 'creator pid');
    assert.is(file.readUInt32LE(28), Layout.DATA_OFFSET, 'data offset');
    assert.is(Number(file.readBigUInt64LE(Layout.OFF_TAIL)), observer.stats().tail, 'tail');
    assert.is(Number(file.readBigUInt64LE(Layout.OFF_TAIL)), 16);
    // the first record: {length = header + body, type}, then the body
    assert.is(file.readInt32LE(Layout.DATA_OFFSET), Layout.RECORD_HEADER + 3);
    assert.is(file.readInt32LE(Layout.DATA_OFFSET + 4), 77);
    assert.equal([...file.subarray(Layout.DATA_OFFSET + 8, Layout.DATA_OFFSET + 11)], [1, 2, 3]);

    consumer.drain(() => {});
    assert.is(consumer.park(), true);
    const after = readFileSync(path);
    assert.is(Number(after.readBigUInt64LE(Layout.OFF_HEAD)), 16, 'head');
    assert.is(after.readUInt32LE(Layout.OFF_PARKED), 1, 'parked');
    assert.ok(Layout.OFF_HEAD_CACHE > Layout.OFF_TAIL && Layout.OFF_HEAD_CACHE < Layout.OFF_HEAD);
    for (const off of [Layout.OFF_TAIL, Layout.OFF_HEAD_CACHE, Layout.OFF_HEAD, Layout.OFF_PARKED]) {
      assert.is(off % Layout.LINE, 0, `hot field at ${off} starts its own line`);
    }
    consumer.unpark();
  } finally {
    producer.close();
    consumer.close();
    observer.close();
  }
});

Constants.run();

// ---------------------------------------------------------------------------
const Load = suite('native library loading');
let child: Fixture | undefined;
Load.after(async () => {
  await child?.kill();
});

Load('layout - a missing library throws NativeLoadError naming the path and `make`', async () => {
  const missing = '/nonexistent/shmq.so';
  child = startFixture('spec/native/fixtures/load-native.ts', [], { RXMESH_SHMQ_LIB: missing });
  const exit = await child.exited;
  assert.is(exit.code, 0, `the child reports the error instead of crashing: ${child.stderr}`);
  const report = JSON.parse(child.stdout.trim()) as {
    loaded: boolean; name?: string; isNativeLoadError?: boolean; path?: string; message?: string;
  };
  assert.is(report.loaded, false);
  assert.is(report.name, 'NativeLoadError');
  assert.is(report.isNativeLoadError, true);
  assert.is(report.path, missing);
  assert.ok(report.message?.includes(missing), `names the path: ${report.message}`);
  assert.match(report.message ?? '', /`make`/);
});

Load('layout - the library loads from its default location', async () => {
  child = startFixture('spec/native/fixtures/load-native.ts', [], { RXMESH_SHMQ_LIB: '' });
  const exit = await child.exited;
  assert.is(exit.code, 0, child.stderr);
  assert.equal(JSON.parse(child.stdout.trim()), { loaded: true });
});

Load('layout - NativeLoadError is a typed error', () => {
  const err = new NativeLoadError('/x/shmq.so');
  assert.instance(err, Error);
  assert.is(err.name, 'NativeLoadError');
  assert.is(err.code, 'NATIVE_LOAD');
  assert.is(err.path, '/x/shmq.so');
});

Load.run();
