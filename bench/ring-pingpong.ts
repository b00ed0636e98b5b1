/**
 * Ring ping-pong: what a same-host round trip could cost with the agent off
 * the data path (issue 12, "per-pair rings"), measured on the bare native
 * ring between two processes, beside a Node Unix-socket ping-pong in the same
 * run. No agent, no client library: this is the floor a direct pair ring
 * would start from, not something an app can use.
 *
 *   npx tsx bench/ring-pingpong.ts [--quick] [--count N] [--spin-us N] [--pin none|same|cross]
 *
 * Two children (ping, pong) share two rings (one per direction) and two
 * doorbells. One 64 B message in flight; ping measures each round trip.
 * Waiting strategies, each a separate run:
 *   park        both sides park on their doorbell at once when the ring is
 *               empty (today's client and agent): two wake-ups per round trip
 *   spin-ping   the requester spins in C up to --spin-us for the answer
 *               before parking; pong parks: one wake-up per round trip
 *   spin-both   pong also spins up to --spin-us after each answer before
 *               parking: no wake-up while the exchange keeps going
 * Each strategy and the socket alternate, 3 runs, medians of p50 and p99.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Doorbell, Ring } from '../lib/native/index.js';
import { summarize, type RttResult } from './mesh-ipc.js';
import { makePayload, readSeq, writeSeq } from './workload.js';

const SELF = fileURLToPath(import.meta.url);
const STRATEGIES = ['park', 'spin-ping', 'spin-both'] as const;
type Strategy = (typeof STRATEGIES)[number];

interface Paths { dir: string; ab: string; ba: string; bellA: string; bellB: string }
const pathsIn = (dir: string): Paths => ({ dir, ab: join(dir, 'ab.ring'), ba: join(dir, 'ba.ring'), bellA: join(dir, 'a.bell'), bellB: join(dir, 'b.bell') });

// ---------------------------------------------------------------- children

/** Read records as they come; park when the ring is empty (after spinning `spinNs` in C, if asked). */
function consume(ring: Ring, bell: Doorbell, spinNs: number, onRecord: (body: Uint8Array) => void): void {
  const pump = (): void => {
    for (;;) {
      if (ring.drain((_t, body) => (onRecord(body), true)) > 0) continue;
      if (spinNs > 0 && ring.spin(spinNs)) continue;
      if (ring.park()) return; // the producer rings the bell once it writes
    }
  };
  bell.listen(pump);
  pump();
}

function child(role: 'ping' | 'pong', p: Paths, strategy: Strategy, spinUs: number, count: number, warmup: number): void {
  const [rxPath, txPath, myBell, theirBell] = role === 'ping' ? [p.ba, p.ab, p.bellA, p.bellB] : [p.ab, p.ba, p.bellB, p.bellA];
  const rx = Ring.open(rxPath, 'consumer');
  const tx = Ring.open(txPath, 'producer');
  const bell = Doorbell.open(myBell);
  tx.setBell(Doorbell.open(theirBell));
  const spins = role === 'ping' ? strategy !== 'park' : strategy === 'spin-both';
  const spinNs = spins ? spinUs * 1000 : 0;
  if (role === 'pong') {
    consume(rx, bell, spinNs, (body) => void tx.write(1, body));
    process.send!('ready');
    return;
  }
  const payload = makePayload(64);
  const rtts = new Float64Array(count);
  let i = 0;
  let sentAt = 0;
  const send = (): void => {
    writeSeq(payload, 0, i);
    sentAt = performance.now();
    if (!tx.write(1, payload)) throw new Error('ring full with one message in flight');
  };
  consume(rx, bell, spinNs, (body) => {
    const now = performance.now();
    if (readSeq(body, 0) !== i) throw new Error(`round trip ${i}: got seq ${readSeq(body, 0)}`);
    if (i >= warmup) rtts[i - warmup] = (now - sentAt) * 1000;
    if (++i === warmup + count) {
      process.send!(summarize(rtts), () => process.exit(0));
      return;
    }
    send();
  });
  send();
}

// ---------------------------------------------------------------- parent

function spawnChild(args: string[], cpu: string | null): ChildProcess {
  const argv = [process.execPath, '--import', 'tsx', SELF, ...args];
  const [cmd, ...rest] = cpu === null ? argv : ['taskset', '-c', cpu, ...argv];
  return spawn(cmd!, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
}

function result<T>(c: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    c.once('message', (m) => resolve(m as T));
    c.once('exit', (code) => reject(new Error(`child exited with ${code} before answering`)));
  });
}

function cpus(pin: string): [string | null, string | null] {
  if (pin === 'same') return ['0', '0'];
  if (pin === 'cross') return ['0', '1'];
  return [null, null];
}

async function ringRun(strategy: Strategy, opts: RunOptions): Promise<RttResult> {
  const p = pathsIn(mkdtempSync('/dev/shm/rxmesh-ringpp-'));
  const rings = [Ring.create(p.ab, { capacity: 1 << 16 }), Ring.create(p.ba, { capacity: 1 << 16 })];
  const bells = [Doorbell.create(p.bellA), Doorbell.create(p.bellB)];
  const [cpuPing, cpuPong] = cpus(opts.pin);
  const common = [strategy, String(opts.spinUs), String(opts.count), String(opts.warmup), p.dir];
  const pong = spawnChild(['pong', ...common], cpuPong);
  try {
    await result<string>(pong);
    const ping = spawnChild(['ping', ...common], cpuPing);
    return await result<RttResult>(ping);
  } finally {
    pong.kill('SIGKILL');
    for (const r of rings) r.close();
    for (const b of bells) b.close();
    rmSync(p.dir, { recursive: true, force: true });
  }
}

async function socketRun(opts: RunOptions): Promise<RttResult> {
  const dir = mkdtempSync('/dev/shm/rxmesh-sockpp-');
  const path = join(dir, 'pp.sock');
  const [cpuPing, cpuPong] = cpus(opts.pin);
  const script = fileURLToPath(new URL('./socket-pingpong.ts', import.meta.url));
  const run = (args: string[], cpu: string | null): ChildProcess => {
    const argv = [process.execPath, '--import', 'tsx', script, ...args];
    const [cmd, ...rest] = cpu === null ? argv : ['taskset', '-c', cpu, ...argv];
    return spawn(cmd!, rest, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  };
  const pong = run(['pong', path], cpuPong);
  let ping: ChildProcess | undefined;
  try {
    await result(pong); // listening
    ping = run(['ping', path], cpuPing);
    await result(ping);
    ping.send({ id: 1, op: 'ping', arg: { count: opts.count, warmup: opts.warmup, size: 64 } });
    const reply = await result<{ result?: RttResult; error?: string }>(ping);
    if (!reply.result) throw new Error(reply.error);
    return reply.result;
  } finally {
    ping?.kill('SIGKILL');
    pong.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
}

interface RunOptions { count: number; warmup: number; spinUs: number; pin: string }

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      count: { type: 'string', default: '20000' },
      'spin-us': { type: 'string', default: '100' },
      pin: { type: 'string', default: 'none' },
    },
  });
  const opts: RunOptions = {
    count: values.quick ? 500 : Number(values.count),
    warmup: values.quick ? 100 : 2000,
    spinUs: Number(values['spin-us']),
    pin: values.pin!,
  };
  const reps = values.quick ? 1 : 3;
  const got = new Map<string, RttResult[]>();
  const add = (k: string, r: RttResult): void => void got.set(k, [...(got.get(k) ?? []), r]);
  for (let rep = 0; rep < reps; rep++) {
    add('unix-socket', await socketRun(opts));
    for (const s of STRATEGIES) add(`ring ${s}`, await ringRun(s, opts));
  }
  const sock = median(got.get('unix-socket')!.map((r) => r.p50));
  console.log(`ring ping-pong, 64 B, pin ${opts.pin}, spin ${opts.spinUs} µs, ${opts.count} round trips, medians of ${reps}`);
  for (const [k, rs] of got) {
    const p50 = median(rs.map((r) => r.p50));
    console.log(`  ${k.padEnd(16)} p50 ${p50.toFixed(1).padStart(7)} us  p99 ${median(rs.map((r) => r.p99)).toFixed(1).padStart(7)} us  (${(p50 / sock).toFixed(2)}× socket)`);
  }
}

const [role, strategy, spinUs, count, warmup, dir] = process.argv.slice(2);
if (role === 'ping' || role === 'pong') child(role, pathsIn(dir!), strategy as Strategy, Number(spinUs), Number(count), Number(warmup));
else await main();
