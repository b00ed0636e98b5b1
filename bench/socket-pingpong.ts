/**
 * Unix-socket ping-pong child of bench/mesh-local.ts, the RTT baseline: two
 * processes talking directly over one Node Unix-domain socket with
 * length-prefixed frames (uint32 LE length + payload).
 *
 *   socket-pingpong.ts pong <socket path>   listen, echo every frame back
 *   socket-pingpong.ts ping <socket path>   connect; command `ping {count, warmup, size}`
 *                                           keeps one frame in flight and returns p50/p99 in µs
 *
 * Driven over IPC (mesh-ipc.ts); each side exits when the parent disconnects.
 */
import { rmSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { exitWithParentIpc, serve, summarize, type RttResult, type SocketPingArg } from './mesh-ipc.js';
import { makePayload, readSeq, writeSeq } from './workload.js';

const MAX_FRAME = 1 << 20;
const [role, socketPath] = process.argv.slice(2);
if ((role !== 'ping' && role !== 'pong') || !socketPath) {
  console.error('usage: socket-pingpong.ts ping|pong <socket path>');
  process.exit(2);
}
exitWithParentIpc();

/** Splits a byte stream into length-prefixed frames; the size is checked before allocating. */
class FrameReader {
  private pending: Buffer | null = null;

  constructor(private readonly socket: Socket, private readonly onFrame: (payload: Buffer) => void) {
    socket.on('data', (chunk: Buffer) => this.parse(chunk));
  }

  private parse(chunk: Buffer): void {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    let off = 0;
    while (buf.length - off >= 4) {
      const len = buf.readUInt32LE(off);
      if (len > MAX_FRAME) {
        this.socket.destroy(new Error(`frame of ${len} bytes exceeds the ${MAX_FRAME}-byte limit`));
        return;
      }
      if (buf.length - off - 4 < len) break;
      this.onFrame(buf.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    if (off < buf.length) this.pending = Buffer.from(buf.subarray(off));
  }
}

function frameOf(payload: Uint8Array): Buffer {
  const frame = Buffer.allocUnsafe(4 + payload.length);
  frame.writeUInt32LE(payload.length, 0);
  frame.set(payload, 4);
  return frame;
}

const fail = (err: Error): never => {
  console.error(err);
  process.exit(1);
};

if (role === 'pong') {
  const server = createServer((socket) => {
    socket.on('error', fail);
    new FrameReader(socket, (payload) => socket.write(frameOf(payload)));
  });
  rmSync(socketPath, { force: true });
  server.listen(socketPath, () => serve({ pid: process.pid }, {}));
  server.on('error', fail);
} else {
  const socket = connect(socketPath);
  socket.on('error', fail);
  let onFrame: (payload: Buffer) => void = () => {};
  new FrameReader(socket, (payload) => onFrame(payload));

  const ping = ({ count, warmup, size }: SocketPingArg): Promise<RttResult> => {
    const payload = makePayload(size);
    const total = warmup + count;
    const rtts = new Float64Array(count);
    let i = 0;
    let sentAt = 0;
    return new Promise<RttResult>((resolve, reject) => {
      onFrame = (frame) => {
        const now = performance.now();
        const seq = readSeq(frame, 0);
        if (seq !== i || frame.length !== size) {
          onFrame = () => {};
          reject(new Error(`round trip ${i}: got seq ${seq}, ${frame.length} bytes (want ${size})`));
          return;
        }
        if (i >= warmup) rtts[i - warmup] = (now - sentAt) * 1000;
        if (++i === total) {
          onFrame = () => {};
          resolve(summarize(rtts));
          return;
        }
        writeSeq(payload, 0, i);
        sentAt = performance.now();
        socket.write(frameOf(payload));
      };
      writeSeq(payload, 0, 0);
      sentAt = performance.now();
      socket.write(frameOf(payload));
    });
  };
  socket.once('connect', () => serve({ pid: process.pid }, { ping: (arg: SocketPingArg) => ping(arg) }));
}
