/**
 * NATS child of bench/mesh-remote.ts: one nats.js connection, driven over IPC
 * (mesh-ipc.ts) with the same commands as mesh-app.ts, on subjects instead of
 * instances: `send` publishes to `bench.tp`, `arm`/`wait` count a
 * subscription to it (checking sequence numbers), `pong` answers requests on
 * `bench.rtt`, `ping` makes one request at a time.
 *
 *   nats-app.ts <nats url>
 */
import { connect } from 'nats';
import { serve, timeRoundTrips, type ArmArg, type PingArg, type SendArg, type SendResult } from './mesh-ipc.js';
import { makePayload, readSeq, writeSeq } from './workload.js';

const url = process.argv[2];
if (!url) {
  console.error('usage: nats-app.ts <nats url>');
  process.exit(2);
}
const nc = await connect({ servers: url });
const TP = 'bench.tp';
const RTT = 'bench.rtt';

let received: Promise<number> = Promise.resolve(0);

function arm({ count, size }: ArmArg): Promise<void> {
  let expected = 0;
  let first = 0;
  const sub = nc.subscribe(TP);
  received = (async () => {
    for await (const m of sub) {
      const seq = readSeq(m.data, 0);
      if (seq !== expected || m.data.length !== size) throw new Error(`message ${expected}: got seq ${seq}, ${m.data.length} bytes`);
      if (expected === 0) first = performance.now();
      if (++expected === count) break;
    }
    sub.unsubscribe();
    return (performance.now() - first) / 1000;
  })();
  return nc.flush(); // the subscription is on the server before the publisher starts
}

/** The publisher flushes (a round trip to the server) every this many messages, or bytes, whichever comes first. */
const FLUSH_MESSAGES = 10_000;
const FLUSH_BYTES = 8 << 20;

async function send({ count, size }: Omit<SendArg, 'to'>): Promise<SendResult> {
  const template = makePayload(size);
  const flushEvery = Math.max(1, Math.min(FLUSH_MESSAGES, Math.floor(FLUSH_BYTES / size)));
  const t0 = performance.now();
  for (let seq = 0; seq < count; seq++) {
    const payload = template.slice(); // nats.js keeps a reference until it writes
    writeSeq(payload, 0, seq);
    nc.publish(TP, payload);
    if (seq % flushEvery === flushEvery - 1) await nc.flush(); // bound what nats.js buffers, as a real publisher would
  }
  await nc.flush();
  return { seconds: (performance.now() - t0) / 1000, queueFull: 0, sleeps: 0 };
}

serve({ pid: process.pid }, {
  arm: (arg: ArmArg) => arm(arg),
  wait: () => received,
  send: (arg: Omit<SendArg, 'to'>) => send(arg),
  pong: () => {
    nc.subscribe(RTT, { callback: (_err, m) => m.respond(m.data) });
    return nc.flush();
  },
  ping: (arg: PingArg) => timeRoundTrips(arg, async (payload) => (await nc.request(RTT, payload, { timeout: 5000 })).data),
  close: () => nc.close(),
});
