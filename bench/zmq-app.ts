/**
 * ZeroMQ child of bench/compare.ts: zeromq.js 6 (its async API, libzmq 4.3)
 * over ipc:// endpoints in <dir>, driven over IPC (mesh-ipc.ts) with the same
 * commands as mesh-app.ts and nats-app.ts:
 *
 *   pong                              bind a REP socket on <dir>/zmq-rtt, echo every request
 *   ping {count, warmup, size}        connect a REQ socket, one request in flight,
 *                                     `warmup + count` round trips; p50/p99 of the last `count` in µs
 *   arm {count, size}                 bind a PULL socket on <dir>/zmq-tp (once) and count the next
 *                                     `count` messages, checking every sequence number
 *   wait                              resolves once they all arrived (seconds first → last)
 *   send {count, size}                connect a PUSH socket (once) and send `count` messages,
 *                                     each `await push.send()` (it waits only at the high-water mark)
 *
 *   zmq-app.ts <dir>
 *
 * zeromq.js sends a Buffer above 128 bytes without copying it and holds on to
 * it until libzmq is done, so every message gets a buffer of its own.
 */
import { join } from 'node:path';
import { Pull, Push, Reply, Request } from 'zeromq';
import { exitWithParentIpc, serve, timeRoundTrips, type ArmArg, type SendArg, type SendResult, type SocketPingArg } from './mesh-ipc.js';
import { MessageCounter } from './receivers.js';
import { makePayload, writeSeq } from './workload.js';

const dir = process.argv[2];
if (!dir) {
  console.error('usage: zmq-app.ts <dir>');
  process.exit(2);
}
exitWithParentIpc();
const RTT = `ipc://${join(dir, 'zmq-rtt')}`;
const TP = `ipc://${join(dir, 'zmq-tp')}`;
/** Sockets close at once when the process exits (the parent disconnecting ends it). */
const options = { linger: 0 };

async function pong(): Promise<void> {
  const rep = new Reply(options);
  await rep.bind(RTT);
  void (async () => {
    for (;;) {
      const [request] = await rep.receive();
      await rep.send(request!);
    }
  })();
}

let req: Request | undefined;
function ping(arg: SocketPingArg): Promise<unknown> {
  if (!req) {
    req = new Request(options);
    req.connect(RTT);
  }
  const socket = req;
  return timeRoundTrips(arg, async (payload) => {
    await socket.send(Buffer.from(payload));
    const [answer] = await socket.receive();
    return answer!;
  });
}

let pull: Pull | undefined;
let received: Promise<number> = Promise.resolve(0);
async function arm({ count, size }: ArmArg): Promise<void> {
  if (!pull) {
    pull = new Pull(options);
    await pull.bind(TP);
  }
  const socket = pull;
  const counter = new MessageCounter();
  const done = counter.start(count, size);
  received = (async () => {
    const [first] = await socket.receive();
    const t0 = performance.now();
    counter.message(first!);
    while (!counter.done) counter.message((await socket.receive())[0]!);
    await done; // rejects if a message was out of order
    return (performance.now() - t0) / 1000;
  })();
  received.catch(() => {}); // reported by `wait`
}

let push: Push | undefined;
async function send({ count, size }: Omit<SendArg, 'to'>): Promise<SendResult> {
  if (!push) {
    push = new Push(options);
    push.connect(TP);
  }
  const template = makePayload(size);
  const t0 = performance.now();
  for (let seq = 0; seq < count; seq++) {
    const message = Buffer.from(template);
    writeSeq(message, 0, seq);
    await push.send(message);
  }
  return { seconds: (performance.now() - t0) / 1000, queueFull: 0, sleeps: 0 };
}

serve({ pid: process.pid }, {
  pong: () => pong(),
  ping: (arg: SocketPingArg) => ping(arg),
  arm: (arg: ArmArg) => arm(arg),
  wait: () => received,
  send: (arg: Omit<SendArg, 'to'>) => send(arg),
});
