/**
 * Ring benchmark: one-way throughput between two Node processes through the
 * shared-memory ring, against a Node Unix-domain socket with the same
 * payloads, in the same run. A producer child writes; this process consumes.
 *
 *   npx tsx bench/ring.ts [--quick] [--verbose] [--size LABEL] [--spin-us N] [--capacity BYTES] [--batch BYTES]
 *
 * For each size, both producers start, warm up (two runs, which also size the
 * timed runs to ~1.5 s), then run 3 times, alternating ring and socket so that noise
 * on this machine hits both alike; each line reports the medians.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Doorbell, Ring } from '../lib/native/index.js';
import { MessageCounter, RingReceiver, SocketReceiver } from './receivers.js';
import type { RunCommand } from './workload.js';

const USAGE = `usage: npx tsx bench/ring.ts [options]
  --quick           a tiny run, for smoke tests (numbers are meaningless)
  --verbose         print every run to stderr
  --size LABEL      only this size (64B, 1KiB or 64KiB; repeatable)
  --spin-us N       consumer spins N µs in C before parking on its doorbell (default 200; 0 = park at once)
  --capacity BYTES  ring data area, a power of two (default 4194304)
  --batch BYTES     producer RecordBatch size (default 65536)`;

const { values: opts } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    size: { type: 'string', multiple: true },
    'spin-us': { type: 'string', default: '200' },
    capacity: { type: 'string', default: String(4 << 20) },
    batch: { type: 'string', default: String(64 << 10) },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const SIZES = [
  { label: '64B', bytes: 64 },
  { label: '1KiB', bytes: 1024 },
  { label: '64KiB', bytes: 64 * 1024 },
].filter((s) => !opts.size || opts.size.includes(s.label));
const REPS = 3;
const SECONDS = opts.quick ? 0.02 : 1.5;
/** Spin before parking: see RingReceiver for why (and the numbers). */
const SPIN_NS = Number(opts['spin-us']) * 1000;
/** 4 MiB holds 64 messages of 64 KiB, so a producer sleeping in its back-off
 * (~50 µs) never lets the consumer run dry; 256 KiB was 2× slower at 64 KiB,
 * and 1-16 MiB measured alike within the noise. The max record stays at its
 * 16 KiB default, so 64 KiB messages take the fragmented path. */
const CAPACITY = Number(opts.capacity);
/** ~900 records of 64 B per writeBatch call; 16-256 KiB measured alike. */
const BATCH = Number(opts.batch);
const MAX_FRAME = 1 << 20;
const TIMEOUT_MS = 120_000;

/* Everything this run leaves on the machine, removed on every way out. */
const TAG = `rxmesh-bench-${process.pid}-${randomBytes(4).toString('hex')}`;
const files = new Set<string>();
const children = new Set<ChildProcess>();

function cleanup(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  for (const file of files) rmSync(file, { force: true });
}
process.on('exit', cleanup);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    cleanup();
    process.exit(130);
  });
}

function shmPath(name: string): string {
  const path = `/dev/shm/${TAG}-${name}`;
  files.add(path);
  return path;
}

function withTimeout<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result after ${TIMEOUT_MS / 1000} s`)), TIMEOUT_MS);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/** A producer child (`node --import tsx bench/<script>`), driven over IPC. */
class Producer {
  private readonly proc: ChildProcess;
  private readonly exited: Promise<never>;
  readonly ready: Promise<void>;

  constructor(readonly script: string, args: string[]) {
    const file = fileURLToPath(new URL(script, import.meta.url));
    this.proc = spawn(process.execPath, ['--import', 'tsx', file, ...args], {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    children.add(this.proc);
    this.exited = new Promise<never>((_, reject) => {
      this.proc.once('exit', (code, signal) => reject(new Error(`${script} exited (${signal ?? code})`)));
    });
    this.exited.catch(() => {}); // reported through guard() when it matters
    this.ready = this.guard(new Promise<void>((resolve) => this.proc.once('message', () => resolve())), 'start');
  }

  /** `promise`, unless the child dies or time runs out first. */
  guard<T>(promise: Promise<T>, what: string): Promise<T> {
    return withTimeout(Promise.race([promise, this.exited]), `${this.script} ${what}`);
  }

  run(count: number): void {
    const command: RunCommand = { run: count };
    this.proc.send(command);
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exit = once(this.proc, 'exit');
    this.proc.kill('SIGKILL');
    await exit;
    children.delete(this.proc);
  }
}

/** One side of the comparison: runs `count` messages and returns messages per second. */
interface Transport {
  readonly name: string;
  measure(count: number): Promise<number>;
  close(): Promise<void>;
}

async function timed(producer: Producer, count: number, receive: () => Promise<void>): Promise<number> {
  const t0 = performance.now();
  producer.run(count);
  await producer.guard(receive(), `run of ${count}`);
  return count / ((performance.now() - t0) / 1000);
}

async function ringTransport(size: number, label: string): Promise<Transport> {
  const ringPath = shmPath(`${label}.ring`);
  const bellPath = shmPath(`${label}.bell`);
  Ring.create(ringPath, { capacity: CAPACITY }).close(); // default maxRecord (16 KiB): 64 KiB is fragmented
  const receiver = new RingReceiver(Ring.open(ringPath, 'consumer'), Doorbell.create(bellPath), new MessageCounter(), SPIN_NS);
  const producer = new Producer('./ring-producer.ts', [ringPath, bellPath, String(size), String(BATCH)]);
  try {
    await producer.ready;
  } catch (err) {
    receiver.close();
    throw err;
  }
  return {
    name: 'ring',
    measure: (count) => timed(producer, count, () => receiver.run(count, size)),
    async close() {
      await producer.stop();
      receiver.close();
      rmSync(ringPath, { force: true });
    },
  };
}

async function socketTransport(size: number, label: string): Promise<Transport> {
  const path = shmPath(`${label}.sock`);
  const server = createServer();
  server.listen(path);
  await once(server, 'listening');
  const producer = new Producer('./socket-producer.ts', [path, String(size)]);
  let receiver: SocketReceiver;
  try {
    const [socket] = (await producer.guard(once(server, 'connection'), 'connect')) as [Socket];
    receiver = new SocketReceiver(socket, new MessageCounter(), MAX_FRAME);
    await producer.ready;
  } finally {
    server.close(); // one connection is all we take; closing also removes the socket file
  }
  return {
    name: 'unix-socket',
    measure: (count) => timed(producer, count, () => receiver.run(count, size)),
    async close() {
      await producer.stop();
      receiver.close();
    },
  };
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** Warm a transport up (the JIT, the ring's pages) and pick the message count for ~SECONDS per run. */
async function calibrate(t: Transport, size: number): Promise<number> {
  let count = Math.max(opts.quick ? 20 : 200, Math.round((opts.quick ? 2e5 : 2e7) / (size + 64)));
  for (const seconds of [SECONDS / 5, SECONDS]) {
    const rate = await t.measure(count);
    if (opts.verbose) console.error(`  ${t.name} warm-up: ${Math.round(rate)} msg/s (${count} msgs)`);
    count = Math.max(count, Math.round(rate * seconds));
  }
  return count;
}

async function compare(size: number, label: string): Promise<{ ring: number; socket: number }> {
  const transports: Transport[] = [];
  try {
    transports.push(await ringTransport(size, label));
    transports.push(await socketTransport(size, label));
    const counts: number[] = [];
    for (const t of transports) counts.push(await calibrate(t, size));
    const rates: number[][] = transports.map(() => []);
    for (let rep = 1; rep <= REPS; rep++) {
      for (const [i, t] of transports.entries()) {
        const count = counts[i]!;
        const rate = await t.measure(count);
        rates[i]!.push(rate);
        if (opts.verbose) console.error(`  ${t.name} ${label} run ${rep}: ${Math.round(rate)} msg/s (${count} msgs)`);
      }
    }
    return { ring: median(rates[0]!), socket: median(rates[1]!) };
  } finally {
    for (const t of transports) await t.close();
  }
}

async function main(): Promise<void> {
  let large: { ring: number; socket: number; bytes: number; label: string } | undefined;
  for (const { label, bytes } of SIZES) {
    const r = await compare(bytes, label);
    const ratio = (r.ring / r.socket).toFixed(2);
    console.log(
      `ring ${label}: ${Math.round(r.ring)} msg/s, unix-socket ${label}: ${Math.round(r.socket)} msg/s, ratio ${ratio}`,
    );
    if (bytes === 64 * 1024) large = { ...r, bytes, label };
  }
  if (large) {
    const mbps = (rate: number): string => ((rate * large.bytes) / 1e6).toFixed(1);
    const ratio = (large.ring / large.socket).toFixed(2);
    console.log(`${large.label} MB/s: ring ${mbps(large.ring)} MB/s, unix-socket ${mbps(large.socket)} MB/s, ratio ${ratio}`);
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
