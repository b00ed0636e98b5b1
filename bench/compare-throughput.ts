/**
 * Part 2 of bench/compare.ts: one-way throughput, per payload size, for each
 * system a sender child and a receiver child (compare-procs.ts places them)
 * that checks every sequence number:
 *
 *   rxmesh                  mesh-app.ts `send` (sendTo, backing off on QueueFullError) → `arm`/`wait`
 *   Unix socket             socket-producer.ts, one write() per message → socket-receiver.ts
 *   Unix socket, corked 64  the same, socket.cork()/uncork() around every 64 writes
 *   NATS                    nats-app.ts publish → subscription, through nats-server
 *   ZeroMQ                  zmq-app.ts PUSH → PULL over ipc://
 *
 * Fresh children for each size. A run is timed in this process from the
 * receiver's `arm` to its `wait` answering (IPC costs well under 1 ms of the
 * ~1 s). Two warm-up runs per system size the timed ones to about `seconds`;
 * then the systems take turns, `reps` runs each; the result is the median rate.
 */
import { mkdirSync } from 'node:fs';
import type { Procs } from './compare-procs.js';
import { median, type AppReady, type ArmArg, type Channel, type SendResult } from './mesh-ipc.js';

export const SIZES = [64, 1024, 65536] as const;
export const TP_SYSTEMS = ['rxmesh', 'Unix socket', 'Unix socket, corked 64', 'NATS pub/sub', 'ZeroMQ PUSH/PULL'] as const;
export type TpSystem = (typeof TP_SYSTEMS)[number];
const CORK_BATCH = 64;

export interface TpOptions {
  /** Seconds each timed run should take. */
  seconds: number;
  reps: number;
  log(line: string): void;
}

export interface TpRow {
  size: number;
  /** msg/s, median of the runs, per system. */
  rates: Record<TpSystem, number>;
}

/** One system's sender and receiver at one size. */
interface Stream {
  system: TpSystem;
  /** Messages per second over a run of `count`. */
  run(count: number): Promise<number>;
}

/** The first warm-up's message count: 100,000, or fewer of larger messages (at most ~128 MiB). */
const firstCount = (size: number): number => Math.max(1_000, Math.min(100_000, Math.floor((128 << 20) / size)));

async function streamsOf(procs: Procs, size: number, agentSocket: string, natsUrl: string, started: Channel[], o: TpOptions): Promise<Stream[]> {
  const spawn = <R>(name: string, script: string, args: string[], role: 'requester' | 'replier'): Channel<R> => {
    const c = procs.child<R>(`${name} ${size}B`, script, args, role);
    started.push(c);
    return c;
  };
  /** `start` begins a run of `count` at the sender; the receiver's `wait` ends it (or the sender failing, or dying). */
  const stream = (system: TpSystem, receiver: Channel, sender: Channel, start: (count: number) => unknown): Stream => ({
    system,
    async run(count) {
      await receiver.call('arm', { count, size } satisfies ArmArg);
      const t0 = performance.now();
      const sent = Promise.resolve(start(count));
      const senderFailed = sent.then(() => new Promise<never>(() => {})); // rejects only if the sender's command does
      await Promise.race([sender.within(receiver.call('wait'), `run of ${count}`), senderFailed]);
      const rate = count / ((performance.now() - t0) / 1000);
      const s = (await sent) as SendResult | undefined;
      if (s?.queueFull) o.log(`    ${size} B ${system} sender: loop ${s.seconds.toFixed(3)} s, QueueFull ${s.queueFull}x, back-off sleeps ${s.sleeps}`);
      return rate;
    },
  });

  const meshRecv = spawn<AppReady>('rxmesh receiver', 'mesh-app.ts', [agentSocket, `recv-${size}`], 'replier');
  const meshSend = spawn<AppReady>('rxmesh sender', 'mesh-app.ts', [agentSocket, `send-${size}`], 'requester');
  const to = (await meshRecv.ready).ref;
  const socketPair = async (batch: number): Promise<[Channel, Channel]> => {
    const path = procs.path(`tp-${size}-${batch}.sock`);
    const receiver = spawn('socket receiver', 'socket-receiver.ts', [path], 'replier');
    await receiver.ready; // listening
    return [receiver, spawn('socket producer', 'socket-producer.ts', [path, String(size), String(batch)], 'requester')];
  };
  const [sockRecv, sockSend] = await socketPair(1);
  const [corkRecv, corkSend] = await socketPair(CORK_BATCH);
  const natsSub = spawn('nats subscriber', 'nats-app.ts', [natsUrl], 'replier');
  const natsPub = spawn('nats publisher', 'nats-app.ts', [natsUrl], 'requester');
  const zmqDir = procs.path(`zmq-${size}`);
  mkdirSync(zmqDir);
  const zmqPull = spawn('zmq pull', 'zmq-app.ts', [zmqDir], 'replier');
  const zmqPush = spawn('zmq push', 'zmq-app.ts', [zmqDir], 'requester');
  await Promise.all(started.map((c) => c.ready));
  return [
    stream('rxmesh', meshRecv, meshSend, (count) => meshSend.call('send', { to, count, size })),
    stream('Unix socket', sockRecv, sockSend, (count) => sockSend.post({ run: count })),
    stream('Unix socket, corked 64', corkRecv, corkSend, (count) => corkSend.post({ run: count })),
    stream('NATS pub/sub', natsSub, natsPub, (count) => natsPub.call('send', { count, size })),
    stream('ZeroMQ PUSH/PULL', zmqPull, zmqPush, (count) => zmqPush.call('send', { count, size })),
  ];
}

/** Warm up, and pick the message count for runs of about `seconds`. */
async function calibrate(s: Stream, size: number, o: TpOptions): Promise<number> {
  let count = firstCount(size);
  for (const seconds of [o.seconds / 5, o.seconds]) {
    const rate = await s.run(count);
    o.log(`  ${size} B ${s.system} warm-up: ${Math.round(rate)} msg/s (${count} msgs)`);
    count = Math.max(100, Math.round(rate * seconds));
  }
  return count;
}

export async function measureThroughput(procs: Procs, agentSocket: string, natsUrl: string, o: TpOptions): Promise<TpRow[]> {
  const rows: TpRow[] = [];
  for (const size of SIZES) {
    const started: Channel[] = [];
    try {
      const streams = await streamsOf(procs, size, agentSocket, natsUrl, started, o);
      const counts: number[] = [];
      for (const s of streams) counts.push(await calibrate(s, size, o));
      const rates = streams.map((): number[] => []);
      for (let rep = 1; rep <= o.reps; rep++) {
        for (const [i, s] of streams.entries()) {
          rates[i]!.push(await s.run(counts[i]!));
          o.log(`  ${size} B ${s.system} run ${rep}: ${Math.round(rates[i]!.at(-1)!)} msg/s (${counts[i]} msgs)`);
        }
      }
      rows.push({ size, rates: Object.fromEntries(streams.map((s, i) => [s.system, median(rates[i]!)])) as Record<TpSystem, number> });
    } finally {
      await Promise.allSettled(started.map((c) => c.stop()));
    }
  }
  return rows;
}
