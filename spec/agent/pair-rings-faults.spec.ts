/**
 * Pair rings under failure: every message a sender's `sendTo` accepted is
 * delivered once or reported once (`in_doubt` only where an agent died
 * holding it), and each pair's deliveries keep their order, when the reader
 * is SIGKILLed mid-stream, the writer is SIGKILLed mid-stream (the reader
 * still gets everything the writer had put in a ring), the reader is replaced
 * by another registration, and the agent is SIGKILLed and restarted. Apps
 * that must die are child processes (fixtures/pair-app.ts); deliveries a
 * reader made just before dying are on disk (its log) or in the agent's
 * taken-ledger (test hooks).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { AgentLostError, ClosedError, connect, QueueFullError, type Instance, type Mesh } from '../../lib/index.js';
import type { PairStatus } from '../../lib/agent/pair-table.js';
import { GAMES, startUp, type MeshProcess } from '../helpers/mesh.js';
import { startFixture, type Fixture } from '../helpers/process.js';
import { sendAll, seqOf, seqPayload } from '../helpers/sequence.js';
import { cleanupShm, tempShmDir } from '../helpers/shm.js';
import { next, sleep, until } from '../helpers/wait.js';

let up: MeshProcess;
const fixtures: Fixture[] = [];
const meshes: Mesh[] = [];
let n = 0;

const Faults = suite('pair rings under failure');
Faults.before(async () => {
  up = await startUp({ testHooks: true });
});
Faults.after(async () => {
  await Promise.allSettled(fixtures.map((f) => f.kill()));
  await Promise.allSettled(meshes.map((m) => m.close()));
  await up?.stop();
  cleanupShm();
});

async function app(p: MeshProcess = up): Promise<Mesh> {
  const m = await connect({ gameId: 'g', password: GAMES['g']!, agent: p.socket });
  meshes.push(m);
  return m;
}

function fixture(opts: object): Fixture {
  const f = startFixture('spec/helpers/fixtures/pair-app.ts', [JSON.stringify({ socket: up.socket, ...opts })]);
  fixtures.push(f);
  return f;
}

const lines = (file: string): string[] => (existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter(Boolean) : []);

/** Numbers of the messages the agent's ledger says an app took and had not released when it went away. */
function ledgered(p: MeshProcess): number[] {
  return lines(join(p.shmDir, 'taken.ledger')).map((hex) => seqOf(Buffer.from(hex, 'hex')));
}

async function untilAsync(cond: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = performance.now() + ms;
  while (!(await cond())) {
    if (performance.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** Wait until the pair ring `from` -> `to` exists and its writer has written `atLeast` records into it. */
async function written(p: MeshProcess, from: number, to: number, atLeast = 1): Promise<PairStatus> {
  let found: PairStatus | undefined;
  await untilAsync(async () => {
    found = (await p.status()).pairs.find((x) => x.from === from && x.to === to);
    return found !== undefined && found.ring.recordsWritten >= atLeast;
  }, 20_000, `${atLeast} records in the pair ring ${from} -> ${to}`);
  return found!;
}

/** What became of each message: deliveries and reports, by number. */
class Tally {
  readonly delivered = new Map<number, number>();
  readonly reports = new Map<number, string[]>();
  accepted = 0;

  deliver(seq: number): void {
    this.delivered.set(seq, (this.delivered.get(seq) ?? 0) + 1);
  }

  watch(inst: Instance): void {
    inst.undeliverable$.subscribe((u) => this.reports.set(seqOf(u.data), [...(this.reports.get(seqOf(u.data)) ?? []), u.reason]));
  }

  get settled(): number {
    let k = 0;
    for (let s = 0; s < this.accepted; s++) if (this.delivered.has(s) || this.reports.has(s)) k++;
    return k;
  }

  /** Each accepted message delivered once or reported once (in_doubt may also have been delivered); nothing else. */
  check(what: string): void {
    const bad: string[] = [];
    for (let s = 0; s < this.accepted; s++) {
      const d = this.delivered.get(s) ?? 0;
      const r = this.reports.get(s) ?? [];
      if (d > 1 || r.length > 1) bad.push(`${s}: delivered ${d}, reported ${r.join()}`);
      else if (d === 1 && r.length === 1 && r[0] !== 'in_doubt') bad.push(`${s}: delivered and reported ${r[0]}`);
      else if (d === 0 && r.length === 0) bad.push(`${s}: neither delivered nor reported`);
    }
    for (const s of [...this.delivered.keys(), ...this.reports.keys()]) if (s >= this.accepted) bad.push(`${s}: never accepted`);
    assert.equal(bad.slice(0, 10), [], `${what}: ${bad.length} messages wrong`);
  }
}

/** Deliveries strictly in sending order. */
function assertOrdered(seqs: number[], what: string): void {
  const out = seqs.findIndex((s, i) => i > 0 && s <= seqs[i - 1]!);
  assert.is(out, -1, `${what}: ${out >= 0 ? `${seqs[out]} after ${seqs[out - 1]}` : ''}`);
}

/** Send numbered messages from `a` to whatever `to()` names until `stop()`; QueueFullError and AgentLostError: not accepted, try again. */
async function stream(a: Instance, to: () => Instance['ref'], t: Tally, stop: () => boolean): Promise<void> {
  while (!stop()) {
    try {
      a.sendTo(to()!, seqPayload(t.accepted));
      t.accepted++;
      if (t.accepted % 64 === 0) await sleep(0);
    } catch (err) {
      if (err instanceof ClosedError) return; // (the spec failed and closed its apps)
      if (!(err instanceof QueueFullError) && !(err instanceof AgentLostError)) throw err;
      await sleep(1);
    }
  }
}

Faults('pair rings - the reader SIGKILLed mid-stream: every message delivered once or bounced once', async () => {
  n++;
  const log = join(tempShmDir(), 'recv.log');
  const b = fixture({ service: 'g.pf.1.0', userData: `b${n}`, mode: 'recv', log });
  await b.waitFor('started ');
  const bLocal = Number(/started (\d+)/.exec(b.stdout)![1]);
  const a = (await app()).instance('g.pw.1.0', { userData: `a${n}`, watch: ['g.pf.1.0'] });
  await next(a.startup$);
  const [bRef] = await next(a.members$('g.pf.1.0'), (l) => l.some((r) => r.localId === bLocal));
  const t = new Tally();
  t.watch(a);
  const COUNT = 40_000;
  let killed = false;
  const sending = stream(a, () => bRef!, t, () => t.accepted >= COUNT);
  await written(up, a.ref!.localId, bLocal, 2000);
  await until(() => lines(log).length >= 10_000, 20_000, 'the reader half-way');
  await b.kill();
  killed = true;
  await sending;
  const got = lines(log).map(Number);
  for (const s of [...got, ...ledgered(up)]) if (!t.delivered.has(s)) t.deliver(s);
  await until(() => t.settled === t.accepted, 20_000, `every message settled (${t.settled} of ${t.accepted})`);
  await sleep(200); // (a late second report would show)
  assert.ok(killed && got.length < COUNT, `the reader died mid-stream (it got ${got.length})`);
  assertOrdered(got, 'the reader\'s deliveries (so none twice)');
  t.check('reader killed');
  assert.ok([...t.reports.values()].every((r) => r[0] === 'offline'), 'the rest bounced offline');
  await untilAsync(async () => (await up.status()).pairs.every((p) => p.to !== bLocal), 5000, 'its pair ring ended');
});

Faults('pair rings - the writer SIGKILLed mid-stream: the reader gets everything it had put in a ring, in order', async () => {
  n++;
  const log = join(tempShmDir(), 'send.log');
  const m = await app();
  const b = m.instance('g.pf.1.0', { userData: `b${n}` });
  await next(b.startup$);
  const got: number[] = [];
  b.messages$.subscribe((msg) => got.push(seqOf(msg.data)));
  const a = fixture({ service: 'g.pw.1.0', userData: `a${n}`, mode: 'send', log, to: 'g.pf.1.0', count: 10_000_000 });
  await a.waitFor('started');
  await untilAsync(async () => (await up.status()).pairs.some((p) => p.to === b.ref!.localId && p.ring.recordsWritten >= 20_000), 30_000,
    'the writer well into the pair ring');
  await a.kill();
  const flushed = Math.max(...lines(log).map((l) => Number(/flushed (\d+)/.exec(l)?.[1] ?? 0)));
  await untilAsync(async () => (await up.status()).pairs.every((p) => p.to !== b.ref!.localId), 10_000, 'the reader read the ring to its end and it ended');
  const settle = got.length;
  await sleep(200);
  assert.is(got.length, settle, 'nothing after the end');
  assert.equal(got.slice(0, 5), [0, 1, 2, 3, 4]);
  assertOrdered(got, 'deliveries');
  assert.is(got[got.length - 1], got.length - 1, 'no gap');
  assert.ok(got.length >= flushed, `everything the writer had put in a ring arrived (${got.length} of at least ${flushed})`);
});

Faults('pair rings - the writer gone before its reader read the marker (its doorbell removed): the reader still reads the ring, nothing crashes', async () => {
  n++;
  const writerApp = await app();
  const a = writerApp.instance('g.pw.1.0', { userData: `a${n}` });
  const b = (await app()).instance('g.pf.1.0', { userData: `b${n}` });
  await next(a.startup$);
  const to = await next(b.startup$); // b reads nothing yet: the marker will wait in its rx ring
  const t = new Tally();
  t.watch(a);
  await stream(a, () => to, t, () => t.accepted >= 2000);
  await written(up, a.ref!.localId, to.localId, 100); // the pair ring is in use: its marker is in b's rx ring, unread
  await a.whenWritable(10_000);
  await writerApp.close(); // its connection goes, and the agent removes its doorbell
  const got: number[] = [];
  b.messages$.subscribe((m) => got.push(seqOf(m.data)));
  await until(() => got.length === t.accepted, 10_000, `all ${t.accepted} delivered`);
  assertOrdered(got, 'deliveries');
  assert.equal(t.reports.size, 0, 'nothing reported');
});

Faults('pair rings - the reader replaced by another registration mid-stream: delivered once or bounced once; the new one gets its own ring', async () => {
  n++;
  const a = (await app()).instance('g.pw.1.0', { userData: `a${n}` });
  const b1 = (await app()).instance('g.pf.1.0', { userData: `b${n}` });
  await next(a.startup$);
  const ref1 = await next(b1.startup$);
  const got1: number[] = [];
  b1.messages$.subscribe((m) => got1.push(seqOf(m.data)));
  const t = new Tally();
  t.watch(a);
  const COUNT = 30_000;
  const sending = stream(a, () => ref1, t, () => t.accepted >= COUNT);
  await written(up, a.ref!.localId, ref1.localId, 2000);
  const b2 = (await app()).instance('g.pf.1.0', { userData: `b${n}`, conflict: 'replace' });
  const ref2 = await next(b2.startup$);
  await sending;
  for (const s of got1) t.deliver(s);
  await until(() => (got1.forEach((s) => t.delivered.has(s) || t.deliver(s)), t.settled === t.accepted), 20_000, 'every message settled');
  assertOrdered(got1, 'the replaced reader\'s deliveries');
  t.check('reader replaced');
  assert.ok(got1.length < COUNT && t.reports.size > 0, `it was replaced mid-stream (${got1.length} delivered)`);

  const got2: number[] = [];
  b2.messages$.subscribe((m) => got2.push(seqOf(m.data)));
  a.sendTo(ref2, seqPayload(0));
  await written(up, a.ref!.localId, ref2.localId, 0); // its pair ring is made
  await sendAll(a, ref2, 2999, (i) => seqPayload(i + 1));
  await until(() => got2.length === 3000, 10_000, 'the new reader\'s 3000');
  assert.equal(got2, Array.from({ length: 3000 }, (_, i) => i));
  await written(up, a.ref!.localId, ref2.localId);
});

Faults('pair rings - the agent SIGKILLed and restarted mid-stream: delivered once or reported once, in order; pairs again after', async () => {
  n++;
  const shmDir = tempShmDir();
  let agent = await startUp({ shmDir });
  const ma = await app(agent);
  const mb = await app(agent);
  const a = ma.instance('g.pw.1.0', { userData: `a${n}` });
  const b = mb.instance('g.pf.1.0', { userData: `b${n}` });
  await next(a.startup$);
  await next(b.startup$);
  const got: number[] = [];
  const t = new Tally();
  t.watch(a);
  b.messages$.subscribe((m) => {
    got.push(seqOf(m.data));
    t.deliver(seqOf(m.data));
  });
  let stop = false;
  const sending = stream(a, () => b.ref, t, () => stop);
  await written(agent, a.ref!.localId, b.ref!.localId, 5000);
  const lost = next(ma.lost$);
  await agent.fixture.kill();
  await lost;
  const back = Promise.all([next(ma.reconnected$, undefined, 30_000), next(mb.reconnected$, undefined, 30_000)]);
  agent = await startUp({ shmDir });
  await back;
  const after = t.accepted;
  await until(() => t.accepted > after + 5000, 20_000, 'the stream going on after the restart');
  await written(agent, a.ref!.localId, b.ref!.localId, 100);
  stop = true;
  await sending;
  await until(() => t.settled === t.accepted, 20_000, `every message settled (${t.settled} of ${t.accepted})`);
  await sleep(200);
  assertOrdered(got, 'deliveries');
  t.check('agent restarted');
  const reasons = new Set([...t.reports.values()].map((r) => r[0]));
  for (const r of reasons) assert.ok(['agent_lost', 'in_doubt', 'offline'].includes(r!), `reason ${r}`);
  await ma.close();
  await mb.close();
  await agent.stop();
});

Faults.run();
