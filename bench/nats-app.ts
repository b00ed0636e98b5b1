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
import { serve, summarize, type ArmArg, type PingArg, type RttResult, type SendArg, type SendResult } from './mesh-ipc.js';
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

async function send({ count, size }: Omit<SendArg, 'to'>): Promise<SendResult> {
  const t0 = performance.now();
  for (let seq = 0; seq < count; seq++) {
    const payload = makePayload(size); // nats.js keeps a reference until it writes
    writeSeq(payload, 0, seq);
    nc.publish(TP, payload);
    if (seq % 10_000 === 9_999) await nc.flush(); // bound what nats.js buffers, as a real publisher would
  }
  await nc.flush();
  return { seconds: (performance.now() - t0) / 1000, queueFull: 0, sleeps: 0 };
}

async function ping({ count, warmup, size }: PingArg): Promise<RttResult> {
  const payload = makePayload(size);
  const rtts = new Float64Array(count);
  for (let i = 0; i < warmup + count; i++) {
    writeSeq(payload, 0, i);
    const t = performance.now();
    const m = await nc.request(RTT, payload, { timeout: 5000 });
    if (readSeq(m.data, 0) !== i) throw new Error(`round trip ${i}: wrong answer`);
    if (i >= warmup) rtts[i - warmup] = (performance.now() - t) * 1000;
  }
  return summarize(rtts);
}

serve({ pid: process.pid }, {
  arm: (arg: ArmArg) => arm(arg),
  wait: () => received,
  send: (arg: Omit<SendArg, 'to'>) => send(arg),
  pong: () => {
    nc.subscribe(RTT, { callback: (_err, m) => m.respond(m.data) });
    return nc.flush();
  },
  ping: (arg: PingArg) => ping(arg),
  close: () => nc.close(),
});
