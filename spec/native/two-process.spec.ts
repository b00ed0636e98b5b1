/**
 * One ring between two real processes: a child writes a million
 * sequence-numbered records in RecordBatches, this process drains them and
 * sleeps on the doorbell whenever the ring is empty. Every record must arrive
 * once, in order (DESIGN.md §5, §7 "Order", "No silent loss").
 */
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import { Doorbell, Ring, type RingStats } from '../../lib/native/index.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { startFixture, type Fixture } from '../helpers/process.js';

const COUNT = 1_000_000;

interface Tally {
  received: number;
  /** The first record that was not the next sequence number, if any. */
  firstMismatch?: { at: number; seq: number };
  wrongType: number;
  wrongLength: number;
  /** Times the consumer found the ring empty and went to sleep on the doorbell. */
  sleeps: number;
}

/**
 * Drain `consumer` until the child has exited and nothing is left, sleeping on
 * the doorbell (park, then wait for a ring) whenever the ring is empty.
 */
function consume(consumer: Ring, bell: Doorbell, child: Fixture): Promise<Tally> {
  const tally: Tally = { received: 0, wrongType: 0, wrongLength: 0, sleeps: 0 };
  const visit = (type: number, body: Uint8Array): void => {
    if (type !== 7) tally.wrongType++;
    if (body.length !== 8) tally.wrongLength++;
    const view = new DataView(body.buffer, body.byteOffset, 8);
    const seq = view.getUint32(0, true) + view.getUint32(4, true) * 2 ** 32;
    if (seq !== tally.received && !tally.firstMismatch) tally.firstMismatch = { at: tally.received, seq };
    tally.received++;
  };
  const drainAll = (): void => {
    while (consumer.drain(visit) > 0);
  };

  return new Promise<Tally>((resolve, reject) => {
    let finished = false;
    /** Read until empty, then park; if data slipped in meanwhile, read again. */
    const pump = (): void => {
      if (finished) return;
      consumer.unpark();
      for (;;) {
        drainAll();
        if (consumer.park()) break;
      }
      if (tally.received >= COUNT) finish();
      else tally.sleeps++;
    };
    const finish = (): void => {
      finished = true;
      consumer.unpark();
      resolve(tally);
    };
    bell.listen(pump);
    child.exited.then((exit) => {
      if (finished) return;
      if (exit.code !== 0) {
        reject(new Error(`writer exited with ${exit.code ?? exit.signal}: ${child.stderr}`));
        return;
      }
      // every write happened before the exit: what is not here now never will be
      drainAll();
      finished = true;
      consumer.unpark();
      resolve(tally);
    }, reject);
    pump();
  });
}

// ---------------------------------------------------------------------------
const TwoProcess = suite('ring between two processes');
let child: Fixture | undefined;
const open: { close(): void }[] = [];
TwoProcess.after(async () => {
  await child?.kill();
  for (const x of open.splice(0)) x.close();
  cleanupShm();
});

TwoProcess('ring - a million sequenced records cross processes in order, none lost or doubled', async () => {
  const dir = tempShmDir();
  const path = join(dir, 'ring');
  const bellPath = join(dir, 'bell');
  const observer = Ring.create(path, { capacity: 1 << 20, maxRecord: 16 * 1024 });
  const consumer = Ring.open(path, 'consumer');
  const bell = Doorbell.create(bellPath);
  open.push(bell, consumer, observer);

  child = startFixture('spec/native/fixtures/seq-writer.ts', [path, bellPath, String(COUNT)]);
  const tally = await consume(consumer, bell, child);
  const exit = await child.exited;

  assert.is(exit.code, 0, `writer: ${child.stderr}`);
  assert.is(tally.firstMismatch, undefined, 'every record is the next sequence number');
  assert.is(tally.wrongType, 0);
  assert.is(tally.wrongLength, 0);
  assert.is(tally.received, COUNT, 'all received, none extra');
  const written = JSON.parse(child.stdout.trim()) as RingStats;
  assert.is(written.recordsWritten, COUNT, 'the writer wrote them all');
  const s = observer.stats();
  assert.is(s.recordsRead, COUNT);
  assert.is(s.depth, 0);
  assert.is(s.producerPid, child.pid);
});

TwoProcess.run();
