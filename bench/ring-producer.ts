/**
 * Producer child of bench/ring.ts: writes messages into a ring on command.
 *
 *   ring-producer.ts <ring path> <doorbell path> <payload bytes> <batch bytes>
 *
 * Messages that fit a record are packed into a RecordBatch and written with
 * one writeBatch call per batch (one FFI call per batch, not per message);
 * larger ones go through writeFragments, which splits them in C and resumes
 * where it stopped when the ring is full.
 */
import { Doorbell, RecordBatch, Ring, recordType } from '../lib/native/index.js';
import { MESSAGE_KIND, backOff, makePayload, serveCommands, writeSeq } from './workload.js';

const [ringPath, bellPath, sizeArg, batchArg] = process.argv.slice(2);
if (!ringPath || !bellPath || !sizeArg || !batchArg) {
  console.error('usage: ring-producer.ts <ring path> <doorbell path> <payload bytes> <batch bytes>');
  process.exit(2);
}
const size = Number(sizeArg);
const payload = makePayload(size);
const type = recordType(MESSAGE_KIND);

const ring = Ring.open(ringPath, 'producer');
const bell = Doorbell.open(bellPath);
ring.setBell(bell); // rung by the C library only when the consumer is parked

const batch = new RecordBatch(Number(batchArg));
const buffer = batch.buffer;

/** Write the whole batch, backing off while the ring is full. */
async function flush(): Promise<void> {
  for (let tries = 0; batch.length > 0; ) {
    if (ring.writeBatch(batch) > 0) {
      tries = 0;
      continue;
    }
    const wait = backOff(++tries);
    if (wait) await wait;
  }
}

async function writeRecords(count: number): Promise<void> {
  let seq = 0;
  while (seq < count) {
    while (seq < count && batch.fits(size)) {
      const at = batch.reserve(type, size);
      buffer.set(payload, at);
      writeSeq(buffer, at, seq++);
    }
    await flush();
  }
}

async function writeFragmented(count: number): Promise<void> {
  for (let seq = 0; seq < count; seq++) {
    writeSeq(payload, 0, seq);
    let offset = 0;
    for (let tries = 0; offset < payload.length; ) {
      const next = ring.writeFragments(MESSAGE_KIND, payload, offset);
      if (next > offset) {
        offset = next;
        tries = 0;
        continue;
      }
      const wait = backOff(++tries);
      if (wait) await wait;
    }
  }
}

serveCommands(size <= ring.maxRecord ? writeRecords : writeFragmented);
