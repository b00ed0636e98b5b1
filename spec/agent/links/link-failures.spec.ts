/** Peer links under failure: a cut link, a killed receiving agent, a wrong mesh secret, garbage on the link port. */
import { createConnection } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { QueueFullError, type Instance, type InstanceRef, type Mesh, type Undeliverable } from '../../../lib/index.js';
import { FakePeer } from '../../fuzz/fake-peer.js';
import { startAgent, startNs, type MeshProcess } from '../../helpers/mesh.js';
import { cleanupShm } from '../../helpers/shm.js';
import { next, sleep, until } from '../../helpers/wait.js';

let ns: MeshProcess;
const procs: MeshProcess[] = [];
const meshes: Mesh[] = [];

async function host(id: string, opts: { secret?: string; testHooks?: boolean } = {}): Promise<{ agent: MeshProcess; mesh: Mesh }> {
  const agent = await startAgent(ns.nsUrl, { id, links: true, ...opts });
  procs.push(agent);
  const mesh = await agent.connect();
  meshes.push(mesh);
  return { agent, mesh };
}

async function pair(sender: Mesh, receiver: Mesh, svc: string): Promise<{ a: Instance; b: Instance; bRef: InstanceRef }> {
  const b = receiver.instance(svc, { userData: 'b' });
  await next(b.startup$);
  const a = sender.instance(`${svc}-src`, { userData: 'a', watch: [svc] });
  await next(a.startup$);
  const bRef = (await next(a.members$(svc), (l) => l.length > 0))[0]!;
  return { a, b, bRef };
}

const seqOf = (d: Uint8Array): number => new DataView(d.buffer, d.byteOffset).getUint32(0, true);
const payload = (i: number): Uint8Array => {
  const p = new Uint8Array(16);
  new DataView(p.buffer).setUint32(0, i, true);
  return p;
};

const Failures = suite('links failures');
Failures.before(async () => {
  ns = await startNs();
});
Failures.after(async () => {
  for (const m of meshes) await m.close().catch(() => {});
  for (const p of procs) await p.kill();
  await ns?.stop();
  cleanupShm();
});

Failures('links - a link cut for 1 s mid-stream: everything arrives, in order, no duplicates', async () => {
  const h1 = await host('cut-1', { testHooks: true });
  const h2 = await host('cut-2');
  const { a, b, bRef } = await pair(h1.mesh, h2.mesh, 'g.cut.1.0');
  const COUNT = 50_000;
  let expected = 0;
  let bad = 0;
  b.messages$.subscribe((m) => {
    if (seqOf(m.data) !== expected) bad++;
    expected = seqOf(m.data) + 1;
  });
  const bounced: Undeliverable[] = [];
  a.undeliverable$.subscribe((u) => bounced.push(u));
  let cut = false;
  for (let i = 0; i < COUNT; ) {
    if (!cut && expected >= 10_000) {
      cut = true;
      h1.agent.fixture.child.kill('SIGUSR2');
    }
    if (i % 500 === 0) await sleep(1); // a paced stream, so the fault lands mid-stream
    try {
      a.sendTo(bRef, payload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
  await until(() => expected === COUNT || bad > 0, 30_000, `${COUNT} messages`);
  assert.is(bad, 0, 'no gap, duplicate or reordering');
  assert.is(bounced.length, 0, 'nothing bounced');
  const s = await h1.agent.status();
  const link = s.links!.out.find((l) => l.peer === 'cut-2')!;
  assert.ok(link.connects >= 2, `the link reconnected (${link.connects} connects)`);
  assert.match(h1.agent.fixture.stderr, /cut for 1000 ms/);
});

Failures('links - receiving agent SIGKILLed mid-stream: each message delivered once or reported once (in doubt may also be delivered)', async () => {
  const h1 = await host('kill-1');
  const h2 = await host('kill-2');
  const { a, b, bRef } = await pair(h1.mesh, h2.mesh, 'g.kill.1.0');
  const COUNT = 50_000;
  // bit 0 delivered, bit 1 reported as not delivered, bit 2 reported in doubt
  const seen = new Uint8Array(COUNT);
  let dupes = 0;
  b.messages$.subscribe((m) => {
    const i = seqOf(m.data);
    if (seen[i]! & 3) dupes++; // delivered twice, or delivered after a definite bounce
    seen[i]! |= 1;
  });
  a.undeliverable$.subscribe((u) => {
    const i = seqOf(u.data);
    if (seen[i]! & 6) dupes++; // reported twice
    if (u.reason === 'in_doubt') seen[i]! |= 4;
    else {
      if (seen[i]! & 1) dupes++; // delivered, then reported not delivered
      seen[i]! |= 2;
    }
  });
  let received = 0;
  b.messages$.subscribe(() => received++);
  let killed = false;
  for (let i = 0; i < COUNT; ) {
    if (!killed && received >= 10_000) {
      killed = true;
      await h2.agent.kill();
    }
    if (i % 500 === 0) await sleep(1); // a paced stream, so the fault lands mid-stream
    try {
      a.sendTo(bRef, payload(i));
      i++;
    } catch (err) {
      if (!(err instanceof QueueFullError)) throw err;
      await sleep(1);
    }
  }
  await until(() => seen.every((v) => v !== 0), 30_000, 'every message delivered or reported');
  await sleep(200); // a late duplicate would show here
  const delivered = seen.filter((v) => (v & 1) !== 0).length;
  const doubt = seen.filter((v) => (v & 4) !== 0).length;
  assert.is(dupes, 0, 'nothing delivered or reported twice, nothing delivered and bounced');
  assert.ok(delivered >= 1, `${delivered} delivered, ${doubt} in doubt, ${COUNT - delivered} not delivered`);
  assert.ok(doubt <= 4 * 1024 * 1024 / 40, 'in doubt: at most a link window of messages');
});

Failures('links - a stopped peer is detected dead within 3 s, and the link comes back when it resumes', async () => {
  const h1 = await host('stop-1');
  const h2 = await host('stop-2');
  const { a, b, bRef } = await pair(h1.mesh, h2.mesh, 'g.stop.1.0');
  const got: unknown[] = [];
  b.messages$.subscribe((m) => got.push(m.value()));
  a.sendTo(bRef, 'before');
  await until(() => got.length === 1);
  const linkState = async (): Promise<string> => (await h1.agent.status()).links!.out.find((l) => l.peer === 'stop-2')!.state;
  assert.is(await linkState(), 'up');
  process.kill(h2.agent.fixture.pid, 'SIGSTOP');
  const stoppedAt = performance.now();
  try {
    while ((await linkState()) === 'up') {
      assert.ok(performance.now() - stoppedAt < 3000, 'dead peer detected within 3 s');
      await sleep(20);
    }
  } finally {
    process.kill(h2.agent.fixture.pid, 'SIGCONT');
  }
  a.sendTo(bRef, 'after');
  await until(() => got.length === 2, 10_000, 'delivery after the peer resumed');
  assert.equal(got, ['before', 'after']);
});

Failures('links - a wrong mesh secret: the agent cannot join the name server (it exits saying why), and a peer dialling with it is refused and logged', async () => {
  let refused: unknown;
  try {
    procs.push(await startAgent(ns.nsUrl, { id: 'secret-bad', links: true, secret: 'not-the-secret' }));
  } catch (err) {
    refused = err;
  }
  assert.match(String(refused), /agent authentication failed: wrong mesh secret/);
  const good = await host('secret-good');
  const port = Number(good.agent.linkAddress.split(':').pop());
  let dial: unknown;
  try {
    (await FakePeer.connect(port, 'not-the-secret', 'secret-bad')).close();
  } catch (err) {
    dial = err;
  }
  assert.ok(dial, 'no WELCOME for a peer without the secret');
  await until(() => /wrong mesh secret/.test(good.agent.fixture.stderr), 5000, 'the refusal logged');
});

Failures('links - garbage, truncated and oversize frames close only that connection', async () => {
  const h1 = await host('fuzz-1');
  const h2 = await host('fuzz-2');
  const { a, b, bRef } = await pair(h1.mesh, h2.mesh, 'g.fuzz.1.0');
  const [hostName, port] = [h2.agent.linkAddress.slice(0, h2.agent.linkAddress.lastIndexOf(':')), Number(h2.agent.linkAddress.split(':').pop())];
  const probe = (bytes: Uint8Array, end: boolean): Promise<void> => new Promise((resolve) => {
    const s = createConnection({ host: hostName, port });
    s.on('error', () => {});
    s.resume(); // read the CHALLENGE, so the close is seen
    s.on('close', () => resolve());
    s.on('connect', () => {
      s.write(bytes);
      if (end) s.end();
    });
    setTimeout(() => s.destroy(), 8000).unref();
  });
  const frame = (len: number, type: number, rest: number[] = []): Uint8Array => {
    const b = Buffer.alloc(10 + rest.length);
    b.writeUInt32BE(len, 0);
    b.writeUInt16BE(type, 4);
    Buffer.from(rest).copy(b, 10);
    return b;
  };
  await probe(frame(0xfffffff0, 2), false); // oversize: refused before allocation
  await probe(frame(3, 2), false); // shorter than its header
  await probe(frame(6, 10), false); // DATA before the handshake
  await probe(frame(20, 2, [1, 2, 3]), true); // truncated, then EOF
  await probe(frame(6 + 3, 2, [0xff, 0xfe, 0xfd]), false); // HELLO that is not CBOR
  for (let i = 0; i < 20; i++) {
    const junk = new Uint8Array(64 + Math.floor(Math.random() * 512));
    for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(Math.random() * 256);
    await probe(junk, true);
  }
  const got = next(b.messages$);
  a.sendTo(bRef, 'still serving');
  assert.is((await got).value(), 'still serving');
  assert.match(h2.agent.fixture.stderr, /link from .*closed/);
});

Failures.run();
