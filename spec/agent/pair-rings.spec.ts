/**
 * Pair rings (issue 12): two instances on one host talk through a ring the
 * agent made for them, without the agent in between. Against a real
 * `rxmesh up`, with every message counted: FIFO across the switch from the
 * agent path to the pair ring, request/reply both ways, a reader that closes
 * with messages held in both its rings (each bounced once), a full pair ring
 * (backpressure, nothing lost), a message larger than the ring, a receiver
 * that does not speak pair rings, and what `rxmesh status` shows.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { connect, QueueFullError, type Instance, type Mesh } from '../../lib/index.js';
import type { PairStatus } from '../../lib/agent/pair-table.js';
import { startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture } from '../helpers/process.js';
import { sendAll, seqOf, seqPayload, streamInOrder } from '../helpers/sequence.js';
import { cleanupShm } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
let n = 0;

const Pairs = suite('pair rings');
Pairs.before(async () => {
  up = await startUp();
});
Pairs.after(async () => {
  await up?.stop();
  cleanupShm();
});

/** Two apps (two connections), an instance on each; `mb` may be made otherwise (an app without pair rings). */
async function pair(mb?: Mesh): Promise<{ ma: Mesh; mb: Mesh; a: Instance; b: Instance }> {
  n++;
  const ma = await up.connect();
  mb ??= await up.connect();
  const a = ma.instance('g.pa.1.0', { userData: `a${n}` });
  const b = mb.instance('g.pb.1.0', { userData: `b${n}` });
  await next(a.startup$);
  await next(b.startup$);
  return { ma, mb, a, b };
}

async function pairsNow(): Promise<PairStatus[]> {
  return (await up.status()).pairs;
}

/** Poll an asynchronous condition (until() takes a synchronous one). */
async function untilAsync(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** The pair ring from `a` to `b` once the agent made it (and, with `written`, once its writer wrote into it). */
async function ringOf(a: Instance, b: Instance, written = false): Promise<PairStatus> {
  let found: PairStatus | undefined;
  await untilAsync(async () => {
    found = (await pairsNow()).find((p) => p.from === a.ref!.localId && p.to === b.ref!.localId);
    return found !== undefined && (!written || found.ring.recordsWritten > 0);
  }, 10_000, `a pair ring from ${a.ref!.localId} to ${b.ref!.localId}${written ? ' written into' : ''}`);
  return found!;
}

Pairs('pair rings - a stream switches to a pair ring mid-way: in order, none lost or duplicated', async () => {
  const { ma, mb, a, b } = await pair();
  const COUNT = 60_000;
  const seq = await streamInOrder(a, b, COUNT);
  assert.is(seq.bad, 0, 'no gap, duplicate or reordering');
  assert.is(seq.expected, COUNT);
  const p = await ringOf(a, b);
  const viaAgent = (await up.status()).instances.find((i) => i.localId === b.ref!.localId)!.received.delivered;
  assert.ok(p.ring.recordsWritten > 0 && viaAgent > 0, `both paths carried some: ${viaAgent} through the agent, ${p.ring.recordsWritten} through the pair ring`);
  assert.is(p.ring.recordsWritten + viaAgent, COUNT + 1, 'every message once, through one of them (plus the marker)');
  await ma.close();
  await mb.close();
  await until(() => !existsSync(join(up.shmDir, `p${a.ref!.localId}-${b.ref!.localId}.${up.ready.agent!.epoch}.ring`)), 5000, 'the ring file removed');
});

Pairs('pair rings - request/reply both ways, each over its own pair ring', async () => {
  const { ma, mb, a, b } = await pair();
  a.messages$.subscribe((m) => m.isRequest && m.reply({ from: 'a', n: m.value() }));
  b.messages$.subscribe((m) => m.isRequest && m.reply({ from: 'b', n: m.value() }));
  for (let i = 0; i < 500; i++) {
    const [ra, rb] = await Promise.all([a.request(b.ref!, i), b.request(a.ref!, i)]);
    assert.equal(ra.value(), { from: 'b', n: i });
    assert.equal(rb.value(), { from: 'a', n: i });
    assert.is(ra.from.localId, b.ref!.localId, 'the reply is from b (stamped by the reader of the pair ring)');
  }
  const ab = await ringOf(a, b);
  const ba = await ringOf(b, a);
  assert.ok(ab.ring.recordsWritten > 400 && ba.ring.recordsWritten > 400, `most requests and replies went through the pair rings (${ab.ring.recordsWritten}, ${ba.ring.recordsWritten})`);
  await ma.close();
  await mb.close();
});

Pairs('pair rings - a reader closing with messages held in its rx ring and its pair ring: each bounced once to the sender', async () => {
  const { ma, mb, a, b } = await pair();
  b.undeliverable$.subscribe(); // b reads its rings (and so opens the pair ring), but nothing takes messages: they are held
  const reports = new Map<number, string[]>();
  a.undeliverable$.subscribe((u) => reports.set(seqOf(u.data), [...(reports.get(seqOf(u.data)) ?? []), u.reason]));
  a.sendTo(b.ref!, seqPayload(0));
  await ringOf(a, b);
  const COUNT = 3000;
  await sendAll(a, b.ref!, COUNT - 1, (i) => seqPayload(i + 1));
  await ringOf(a, b, true); // some went into the pair ring
  await b.close();
  await until(() => reports.size === COUNT, 10_000, `${COUNT} reports (got ${reports.size})`);
  for (const [s, r] of reports) assert.equal(r, ['offline'], `message ${s} reported once, offline`);
  await sleep(100);
  assert.is(reports.size, COUNT, 'nothing else reported');
  assert.ok([...reports.values()].every((r) => r.length === 1), 'no message reported twice');
  await untilAsync(async () => (await pairsNow()).every((x) => x.to !== b.ref!.localId), 5000, 'the ring ended');
  await ma.close();
  await mb.close();
});

Pairs('pair rings - a full pair ring: QueueFullError, whenWritable, and every message in order once the reader reads', async () => {
  const { ma, mb, a, b } = await pair();
  const payload = (i: number): Uint8Array => {
    const p = new Uint8Array(1024);
    new DataView(p.buffer).setUint32(0, i, true);
    return p;
  };
  a.sendTo(b.ref!, payload(0)); // opens the pair; b reads nothing yet
  await ringOf(a, b);
  let accepted = 1;
  for (;;) {
    try {
      a.sendTo(b.ref!, payload(accepted));
      accepted++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(20);
      try {
        a.sendTo(b.ref!, payload(accepted));
        accepted++;
      } catch (again) {
        if (!(again instanceof QueueFullError)) throw again;
        break; // full, and stays full while nobody reads
      }
    }
  }
  const p = await ringOf(a, b);
  assert.ok(p.ring.recordsWritten > 500, `the pair ring took about its size before refusing (${p.ring.recordsWritten} KiB messages)`);
  const got: number[] = [];
  b.messages$.subscribe((m) => got.push(seqOf(m.data)));
  const COUNT = accepted + 5000;
  for (let i = accepted; i < COUNT;) {
    try {
      a.sendTo(b.ref!, payload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await a.whenWritable(10_000);
    }
  }
  await until(() => got.length >= COUNT, 20_000, `${COUNT} messages (got ${got.length})`);
  assert.equal(got, Array.from({ length: COUNT }, (_, i) => i), 'all, in order, once');
  await ma.close();
  await mb.close();
});

Pairs('pair rings - a 1 MiB message through a pair ring, between small ones', async () => {
  const { ma, mb, a, b } = await pair();
  const got: Uint8Array[] = [];
  b.messages$.subscribe((m) => got.push(m.data));
  a.sendTo(b.ref!, new Uint8Array([0]));
  await ringOf(a, b);
  await until(() => got.length === 1);
  const big = new Uint8Array(1024 * 1024);
  for (let i = 0; i < big.length; i += 7) big[i] = (i * 13) & 0xff;
  a.sendTo(b.ref!, new Uint8Array([1]));
  a.sendTo(b.ref!, big);
  a.sendTo(b.ref!, new Uint8Array([2]));
  await until(() => got.length === 4, 20_000, 'four messages');
  assert.equal([...got[1]!], [1]);
  assert.ok(Buffer.compare(Buffer.from(got[2]!), Buffer.from(big)) === 0, '1 MiB intact');
  assert.equal([...got[3]!], [2]);
  const p = await ringOf(a, b);
  assert.ok(p.ring.recordsWritten > 64, `it went through the pair ring in fragments (${p.ring.recordsWritten} records)`);
  await ma.close();
  await mb.close();
});

Pairs('pair rings - a zero-copy reader gets views into the pair ring, small and fragmented messages alike', async () => {
  n++;
  const ma = await up.connect();
  const mb = await up.connect();
  const a = ma.instance('g.pa.1.0', { userData: `a${n}` });
  const b = mb.instance('g.pb.1.0', { userData: `b${n}`, zeroCopy: true });
  await next(a.startup$);
  await next(b.startup$);
  const got: number[] = [];
  let bad = 0;
  b.messages$.subscribe((m) => {
    const i = seqOf(m.data);
    got.push(i);
    if (m.data.length !== (i % 100 === 99 ? 200_000 : 16) || m.data[m.data.length - 1] !== (i & 0xff)) bad++;
  });
  const payload = (i: number): Uint8Array => {
    const p = new Uint8Array(i % 100 === 99 ? 200_000 : 16); // every hundredth one fragmented, delivered whole
    new DataView(p.buffer).setUint32(0, i, true);
    p[p.length - 1] = i & 0xff;
    return p;
  };
  a.sendTo(b.ref!, payload(0));
  await ringOf(a, b);
  await sendAll(a, b.ref!, 1999, (i) => payload(i + 1));
  await until(() => got.length === 2000, 20_000, `2000 messages (got ${got.length})`);
  assert.equal(got, Array.from({ length: 2000 }, (_, i) => i));
  assert.is(bad, 0, 'each view held its message, whole');
  assert.ok((await ringOf(a, b)).ring.recordsWritten > 1000, 'through the pair ring');
  await ma.close();
  await mb.close();
});

Pairs('pair rings - a receiver that does not speak pair rings gets everything through the agent', async () => {
  const { ma, mb, a, b } = await pair(await connect({ gameId: 'g', password: 'g-key', agent: up.socket, pairs: false }));
  const seq = await streamInOrder(a, b, 5000);
  assert.equal(seq, { expected: 5000, bad: 0 });
  assert.equal((await pairsNow()).filter((p) => p.to === b.ref!.localId), [], 'no pair ring to it');
  await ma.close();
  await mb.close();
});

Pairs('pair rings - rxmesh status counts and lists them', async () => {
  const { ma, mb, a, b } = await pair();
  const got: number[] = [];
  b.messages$.subscribe((m) => got.push(seqOf(m.data)));
  await sendAll(a, b.ref!, 100);
  await ringOf(a, b);
  await sendAll(a, b.ref!, 100, (i) => seqPayload(100 + i));
  await until(() => got.length === 200);
  const f = startFixture('lib/cli/main.ts', ['status', '--shm-dir', up.shmDir]);
  await f.exited;
  assert.match(f.stdout, /pair rings: 1\b/, f.stdout);
  assert.match(f.stdout, new RegExp(`${a.ref!.localId} -> ${b.ref!.localId}\\s+open`), f.stdout);
  await ma.close();
  await mb.close();
  await untilAsync(async () => (await pairsNow()).length === 0, 5000, 'no pair ring left');
});

Pairs.run();
