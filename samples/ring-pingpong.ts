/**
 * Ping-pong between two processes over two shared-memory rings (one per
 * direction), each with a doorbell. The ping side sends a sequence number,
 * the pong side adds one and sends it back, 10,000 times; ping prints the
 * round-trip p50 and p99.
 *
 *   npx tsx samples/ring-pingpong.ts [--count N] [--spin-us N]
 *
 * A waiting side spins briefly in C, then parks on its doorbell; the other
 * side's write rings the bell only when it is parked (DESIGN.md §5).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Doorbell, Ring } from '../lib/native/index.js';

const USAGE = `usage: npx tsx samples/ring-pingpong.ts [--count N] [--spin-us N]
  --count N    round trips to time (default 10000, after 1000 warm-up ones)
  --spin-us N  spin up to N µs for a reply before parking on the doorbell (default 50; 0 = park at once)`;

const { values: opts } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    'spin-us': { type: 'string', default: '50' },
    pong: { type: 'string' }, // internal: the child's "ring in,bell in,ring out,bell out"
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (opts.help) {
  console.log(USAGE);
  process.exit(0);
}

const SEQ = 1; // record types
const BYE = 2;
const WARMUP = 1000; // round trips not timed, while the JIT settles
const SPIN_NS = Number(opts['spin-us']) * 1000;
const COUNT = Number(opts.count);
if (!(COUNT > 0) || !(SPIN_NS >= 0)) {
  console.error(USAGE);
  process.exit(2);
}

/** Hand each record arriving on `ring` to `onRecord` until `done()`: drain, spin, then park. */
function receive(ring: Ring, bell: Doorbell, onRecord: (type: number, body: Uint8Array) => void, done: () => boolean): void {
  const pump = (): void => {
    ring.unpark();
    while (!done()) {
      if (ring.drain(onRecord) > 0) continue;
      if (SPIN_NS > 0 && ring.spin(SPIN_NS)) continue;
      if (ring.park()) return; // asleep: the doorbell calls pump again
    }
  };
  bell.listen(pump);
  pump();
}

const message = new Uint8Array(4);
const messageView = new DataView(message.buffer);
const readU32 = (body: Uint8Array): number => new DataView(body.buffer, body.byteOffset, 4).getUint32(0, true);

function send(ring: Ring, type: number, n: number): void {
  messageView.setUint32(0, n, true);
  if (!ring.write(type, message)) throw new Error('ring full'); // one message in flight: cannot happen
}

if (opts.pong) pong(opts.pong.split(','));
else ping();

/** The child: open the other ends, answer n with n + 1 until BYE. */
function pong([ringIn = '', bellIn = '', ringOut = '', bellOut = '']: string[]): void {
  const inbox = Ring.open(ringIn, 'consumer');
  const outbox = Ring.open(ringOut, 'producer');
  const bell = Doorbell.open(bellIn);
  const replyBell = Doorbell.open(bellOut);
  outbox.setBell(replyBell);
  process.on('disconnect', () => process.exit(1)); // ping went away
  let bye = false;
  receive(inbox, bell, (type, body) => {
    if (type === BYE) {
      bye = true;
      setImmediate(() => {
        for (const h of [bell, replyBell, inbox, outbox]) h.close();
        process.exit(0);
      });
    } else {
      send(outbox, SEQ, readU32(body) + 1);
    }
  }, () => bye);
  process.send?.('ready');
}

/** The parent: create the rings and doorbells, start pong, time the round trips. */
function ping(): void {
  const base = `/dev/shm/rxmesh-pingpong-${process.pid}-${randomBytes(4).toString('hex')}`;
  const files = ['to-pong.ring', 'to-pong.bell', 'to-ping.ring', 'to-ping.bell'].map((name) => `${base}-${name}`);
  const [toPongPath = '', toPongBellPath = '', toPingPath = '', toPingBellPath = ''] = files;
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), '--pong', files.join(',')], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  let finished = false;
  const cleanUp = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const file of files) rmSync(file, { force: true });
  };
  process.on('exit', cleanUp);
  child.on('exit', (code) => {
    if (finished) return;
    console.error(`pong exited early (${code})`);
    process.exit(1);
  });

  Ring.create(toPongPath).close();
  Ring.create(toPingPath).close();
  const toPong = Ring.open(toPongPath, 'producer');
  const toPing = Ring.open(toPingPath, 'consumer');
  const pongBell = Doorbell.create(toPongBellPath);
  const pingBell = Doorbell.create(toPingBellPath);
  toPong.setBell(pongBell);

  const total = WARMUP + COUNT;
  const rtts = new Float64Array(COUNT);
  let sent = 0;
  let sentAt = 0;
  const sendNext = (): void => {
    sentAt = performance.now();
    send(toPong, SEQ, sent);
  };

  child.once('message', () => {
    receive(toPing, pingBell, (_type, body) => {
      const reply = readU32(body);
      if (reply !== sent + 1) throw new Error(`sent ${sent}, got ${reply} back`);
      if (sent >= WARMUP) rtts[sent - WARMUP] = (performance.now() - sentAt) * 1000;
      sent = reply;
      if (sent < total) sendNext();
      else setImmediate(report);
    }, () => sent >= total);
    sendNext();
  });

  function report(): void {
    finished = true;
    rtts.sort();
    const pct = (p: number): string => rtts[Math.ceil(p * rtts.length) - 1]!.toFixed(1);
    console.log(`${rtts.length} round trips over two shm rings (spin ${SPIN_NS / 1000} µs, then park on the doorbell)`);
    console.log(`round trip p50 ${pct(0.5)} µs, p99 ${pct(0.99)} µs`);
    send(toPong, BYE, 0);
    child.once('exit', () => {
      for (const h of [pingBell, pongBell, toPong, toPing]) h.close();
      process.exit(0);
    });
  }
}
