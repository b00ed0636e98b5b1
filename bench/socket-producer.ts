/**
 * Writer child of bench/ring.ts for the Unix-socket baseline: connects to the
 * parent's socket and, on command, writes length-prefixed frames
 * (uint32 LE length + payload), one write() per message as an application
 * sending messages would; Node coalesces queued writes into writev itself.
 * It honours backpressure: it stops when write() returns false and resumes
 * on 'drain'.
 *
 * With a batch size above 1 (bench/compare.ts's "corked" baseline), it wraps
 * each run of that many write()s in socket.cork()/uncork(), so they leave in
 * one writev; backpressure is then checked once per batch.
 *
 *   socket-producer.ts <socket path> <payload bytes> [<batch>]
 */
import { connect } from 'node:net';
import { makePayload, serveCommands } from './workload.js';

const [socketPath, sizeArg, batchArg] = process.argv.slice(2);
if (!socketPath || !sizeArg) {
  console.error('usage: socket-producer.ts <socket path> <payload bytes> [<batch>]');
  process.exit(2);
}
const size = Number(sizeArg);
const batch = Math.max(1, Number(batchArg ?? 1));
const payload = makePayload(size);

const socket = connect(socketPath);
socket.on('error', (err) => {
  console.error(err);
  process.exit(1);
});

function frame(seq: number): Buffer {
  const f = Buffer.allocUnsafe(4 + size);
  f.writeUInt32LE(size, 0);
  f.set(payload, 4);
  f.writeUInt32LE(seq, 4);
  return f;
}

function writeFrames(count: number): Promise<void> {
  return new Promise((resolve) => {
    let seq = 0;
    const pump = (): void => {
      while (seq < count) {
        let writable = true;
        if (batch > 1) socket.cork();
        for (const end = Math.min(count, seq + batch); seq < end; ) writable = socket.write(frame(seq++));
        if (batch > 1) socket.uncork();
        if (!writable) {
          socket.once('drain', pump);
          return;
        }
      }
      resolve();
    };
    pump();
  });
}

socket.once('connect', () => serveCommands(writeFrames));
