/**
 * Receiving child for the Unix-socket throughput baseline of bench/compare.ts,
 * where the receiver must be its own process (to be pinned to a CPU like the
 * other systems' receivers): listens on <socket path>, takes one connection
 * (a socket-producer.ts child) and counts its length-prefixed frames with
 * receivers.ts's SocketReceiver, checking every sequence number.
 *
 *   socket-receiver.ts <socket path>
 *
 * Commands (mesh-ipc.ts), as mesh-app.ts's: `arm {count, size}`, then `wait`
 * resolves once they all arrived (seconds from arm to the last one).
 */
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { exitWithParentIpc, serve, type ArmArg } from './mesh-ipc.js';
import { MessageCounter, SocketReceiver } from './receivers.js';

const MAX_FRAME = 1 << 20;
const socketPath = process.argv[2];
if (!socketPath) {
  console.error('usage: socket-receiver.ts <socket path>');
  process.exit(2);
}
exitWithParentIpc();

const server = createServer();
server.listen(socketPath);
await once(server, 'listening');
const receiver = once(server, 'connection').then(([socket]) => {
  server.close(); // one connection is all it takes; closing also removes the socket file
  return new SocketReceiver(socket as Socket, new MessageCounter(), MAX_FRAME);
});

let received: Promise<number> = Promise.resolve(0);
serve({ pid: process.pid }, {
  arm: async ({ count, size }: ArmArg) => {
    const t0 = performance.now();
    const done = (await receiver).run(count, size);
    received = done.then(() => (performance.now() - t0) / 1000);
    received.catch(() => {}); // reported by `wait`
  },
  wait: () => received,
});
