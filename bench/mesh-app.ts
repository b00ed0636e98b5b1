/**
 * App child of bench/mesh-local.ts: one process, one rxmesh instance of
 * `demo.bench.1.0` on the agent at <socket>, driven over IPC (mesh-ipc.ts).
 * The same script plays every part; the parent picks it with commands:
 *
 *   send  {to, count, size}    sendTo(to, 64 B Uint8Array) `count` times as fast as it can;
 *                              QueueFullError is retryable: back off, retry the same message
 *   arm   {count, size}        expect `count` messages numbered 0..count-1 of `size` bytes
 *   wait                       resolves once they all arrived in order (else rejects)
 *   pong                       from now on answer every message with msg.reply(msg.data)
 *   ping  {to, count, warmup, size}  one message in flight, `warmup + count` round trips;
 *                              returns p50/p99 of the last `count` in µs
 *   request {to, count, warmup, size}  the same with `await inst.request(to, payload)`, which
 *                              a `pong` app answers (msg.reply of a request carries its correlation id)
 *   idle                       nothing (the instance just stays online)
 *   lookup {userData}          the ref of that instance of the service as this app's agent numbers it
 *                              (for a receiver on another agent: bench/mesh-remote.ts)
 *
 *   mesh-app.ts <agent socket> <userData> [--zero-copy] [--reply-spin-us N]   (connect's replySpinUs)
 *
 * Every message starts with a little-endian uint32 sequence number (workload.ts);
 * the receiving side checks it, so a lost, duplicated or reordered message
 * fails the benchmark instead of inflating it.
 */
import { filter, firstValueFrom } from 'rxjs';
import { connect, QueueFullError, type Message } from '../lib/index.js';
import {
  BENCH_GAME, BENCH_KEY, BENCH_SERVICE, exitWithParentIpc, serve, summarize, timeRoundTrips,
  type AppReady, type ArmArg, type PingArg, type RttResult, type SendArg, type SendResult,
} from './mesh-ipc.js';
import { makePayload, readSeq, writeSeq } from './workload.js';

const [socketPath, userData, ...flags] = process.argv.slice(2);
if (!socketPath || !userData) {
  console.error('usage: mesh-app.ts <agent socket> <userData> [--zero-copy] [--reply-spin-us N]');
  process.exit(2);
}
exitWithParentIpc();

const spinAt = flags.indexOf('--reply-spin-us');
const mesh = await connect({ gameId: BENCH_GAME, password: BENCH_KEY, agent: socketPath, ...(spinAt >= 0 ? { replySpinUs: Number(flags[spinAt + 1]) } : {}) });
const inst = mesh.instance(BENCH_SERVICE, { userData, watch: [BENCH_SERVICE], zeroCopy: flags.includes('--zero-copy') });
const self = await firstValueFrom(inst.startup$);

/** What the current part does with each message. */
let onMessage: (msg: Message) => void = () => {};
inst.messages$.subscribe((msg) => onMessage(msg));

const immediate = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
/** An `Int32Array` to `Atomics.wait` on: a short sleep that does not spin the CPU. */
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The sender's back-off on QueueFullError: yield to the event loop (the
 * Outbox's retry timer and IPC need it), and once a few yields did not help,
 * also sleep ~50 µs, which leaves the cores to the agent and the receiver on a
 * 2-core machine instead of spinning on a full ring.
 */
async function backOff(tries: number): Promise<boolean> {
  const sleep = tries > 4;
  if (sleep) Atomics.wait(sleeper, 0, 0, 0.05);
  await immediate();
  return sleep;
}

async function send({ to, count, size }: SendArg): Promise<SendResult> {
  const payload = makePayload(size);
  let queueFull = 0;
  let sleeps = 0;
  let tries = 0;
  const t0 = performance.now();
  for (let seq = 0; seq < count; ) {
    writeSeq(payload, 0, seq); // the Outbox copies the bytes at once, so one buffer serves every message
    try {
      inst.sendTo(to, payload);
      seq++;
      tries = 0;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      queueFull++;
      if (await backOff(++tries)) sleeps++;
    }
  }
  return { seconds: (performance.now() - t0) / 1000, queueFull, sleeps };
}

let received: Promise<number> = Promise.resolve(0);

function arm({ count, size }: ArmArg): void {
  let expected = 0;
  let first = 0;
  received = new Promise<number>((resolve, reject) => {
    onMessage = (msg) => {
      const seq = readSeq(msg.data, 0);
      if (seq !== expected || msg.data.length !== size) {
        onMessage = () => {};
        reject(new Error(`message ${expected}: got seq ${seq}, ${msg.data.length} bytes (want ${size})`));
        return;
      }
      if (expected === 0) first = performance.now();
      if (++expected === count) {
        onMessage = () => {};
        resolve((performance.now() - first) / 1000);
      }
    };
  });
}

function ping({ to, count, warmup, size }: PingArg): Promise<RttResult> {
  const payload = makePayload(size);
  const total = warmup + count;
  const rtts = new Float64Array(count);
  let i = 0;
  let sentAt = 0;
  return new Promise<RttResult>((resolve, reject) => {
    onMessage = (msg) => {
      const now = performance.now();
      const seq = readSeq(msg.data, 0);
      if (seq !== i || msg.data.length !== size) {
        onMessage = () => {};
        reject(new Error(`round trip ${i}: got seq ${seq}, ${msg.data.length} bytes (want ${size})`));
        return;
      }
      if (i >= warmup) rtts[i - warmup] = (now - sentAt) * 1000;
      if (++i === total) {
        onMessage = () => {};
        resolve(summarize(rtts));
        return;
      }
      writeSeq(payload, 0, i);
      sentAt = performance.now();
      inst.sendTo(to, payload);
    };
    writeSeq(payload, 0, 0);
    sentAt = performance.now();
    inst.sendTo(to, payload);
  });
}

serve({ ref: self, pid: process.pid } satisfies AppReady, {
  send: (arg: SendArg) => send(arg),
  arm: (arg: ArmArg) => arm(arg),
  wait: () => received,
  pong: () => {
    onMessage = (msg) => msg.reply(msg.data);
  },
  ping: (arg: PingArg) => ping(arg),
  request: (arg: PingArg) => timeRoundTrips(arg, async (payload) => (await inst.request(arg.to, payload)).data),
  idle: () => {
    onMessage = () => {};
  },
  lookup: async ({ userData: ud }: { userData: string }) =>
    (await firstValueFrom(inst.members$(BENCH_SERVICE).pipe(filter((l) => l.some((r) => r.userData === ud))))).find((r) => r.userData === ud),
  close: async () => {
    await mesh.close();
  },
});
