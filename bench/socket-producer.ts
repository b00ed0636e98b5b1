/**
 * Writer child of bench/ring.ts for the Unix-socket baseline: connects to the
 * parent's socket and, on command, writes length-prefixed frames
 * (uint32 LE length + payload), one write() per message as an application
 * sending messages would; Node coalesces queued writes into writev itself.
 * It honours backpressure: it stops when write() returns false and resumes
 * on 'drain'.
 *
 *   socket-producer.ts <socket path> <payload bytes>
 */
import { connect } from 'node:net';
import { makePayload, serveCommands } from './workload.js';

const [socketPath, sizeArg] = process.argv.slice(2);
if (!socketPath || !sizeArg) {
  console.error('usage: socket-producer.ts <socket path> <payload bytes>');
  process.exit(2);
}
const size = Number(sizeArg);
const payload = makePayload(size);

const socket = connect(socketPath);
socket.on('error', (err) => {
  console.error(err);
  process.exit(1);
});

function writeFrames(count: number): Promise<void> {
  return new Promise((resolve) => {
    let seq = 0;
    const pump = (): void => {
      while (seq < count) {
        const frame = Buffer.allocUnsafe(4 + size);
        frame.writeUInt32LE(size, 0);
        frame.set(payload, 4);
        frame.writeUInt32LE(seq++, 4);
        if (!socket.write(frame)) {
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
